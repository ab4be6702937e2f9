"""Movies for slides: the network lighting up stage by stage beside the funnel chart.

``python run.py animate SCENARIO --out diffusion.gif`` runs the scenario and draws one frame every
``every`` steps (GIF through pillow; MP4 when ffmpeg is installed). The drawing is in
:mod:`sim.plots`; this module decides what each frame shows.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from sim import plots
from sim.i18n import Translator, translator
from sim.model import MarketModel
from sim.scenario import Scenario

MOVIE_TYPES = (".gif", ".mp4")


def stage_history(model: MarketModel) -> tuple[np.ndarray, np.ndarray]:
    """Days recorded so far and consumers per stage on each: shapes (days,) and (stages, days)."""
    record = model.datacollector.model_vars
    counts = np.array([record[f"n_{s}"] for s in model.funnel.stages])
    return np.array(record["day"], dtype=float), counts


def animate(
    scenario: Scenario,
    out: Path,
    frames: int,
    every: int = 1,
    fps: int = 10,
    tr: Translator | None = None,
) -> None:
    """Write a movie of ``frames`` frames, the state after 0, ``every``, 2·``every``... steps.

    The file appears only when complete (written under a temporary name, then renamed). Labels
    are in the translator's language (English by default).
    """
    tr = tr or translator()
    model = MarketModel(scenario)
    fig, network, funnel = plots.diffusion_figure(
        model.network, model.funnel.stages, horizon=(frames - 1) * every * model.dt, tr=tr
    )
    with plots.typeset(tr):
        title = fig.suptitle("")

    def draw(frame: int) -> None:
        while model.steps < frame * every:
            model.step()
        network.paint(model.population.stage)
        funnel.draw(*stage_history(model))
        day = f"{model.steps * model.dt:g}"
        title.set_text(tr("{scenario}: day {day}").format(scenario=scenario.name, day=day))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.tmp{out.suffix}")  # usual permissions
    try:
        plots.write_movie(fig, draw, frames, tmp, fps)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
