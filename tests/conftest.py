import os
from pathlib import Path

import pytest

os.environ["LANGUAGE"] = "en"  # output is English unless a test asks for another language

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def scenario_dir() -> Path:
    return SCENARIOS
