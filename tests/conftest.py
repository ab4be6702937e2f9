import os
import tempfile
from pathlib import Path

import pytest

os.environ["LANGUAGE"] = "en"  # output is English unless a test asks for another language

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which the browser tests drive through Playwright (never `playwright install`)."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # required as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(
    os.environ.get("WOM_SIM_ARTIFACTS", Path(tempfile.gettempdir()) / "wom-sim-artifacts")
)
"""Where browser tests leave their screenshots (outside the repository unless told otherwise)."""


@pytest.fixture
def scenario_dir() -> Path:
    return SCENARIOS

