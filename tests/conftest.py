from pathlib import Path

import mesa
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def scenario_dir() -> Path:
    return SCENARIOS


def step_counter(steps: int) -> str:
    """SolaraViz's counter after ``steps`` steps: mesa 3.3 counts steps, mesa 3.5 shows model.time."""
    return f"Time: {float(steps)}" if hasattr(mesa.Model(), "time") else f"Step: {steps}"
