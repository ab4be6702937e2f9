"""Writing results so that a crash never leaves a half-written file or folder behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomli_w

from sim import __version__, plots
from sim.i18n import Translator, translator
from sim.metrics import clean, referral_tree
from sim.model import MarketModel


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            final.rmdir()  # only an empty folder may be replaced; the caller checked
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; give the usual folder mode
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file through a temporary name and rename, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_summary(model: MarketModel) -> dict[str, Any]:
    """``summary.json``'s content: who ran what, then the outcomes."""
    s = model.spec
    meta = {
        "scenario": s.name,
        "seed": model.seed,
        "version": __version__,
        "steps": model.steps,
        "dt": s.dt,
        "n": s.population.n,
        "funnel": s.funnel.preset if s.funnel.stages is None else "custom",
        "network": s.network.kind,
    }
    return clean({**meta, **model.outcomes()})


def write_run(
    model: MarketModel, out: Path, referrals: bool = False, tr: Translator | None = None
) -> dict[str, Any]:
    """Write a finished run's files into ``out`` (which must not exist or be empty).

    With ``referrals``, also the referral tree as ``referrals.csv``. The figures' labels are in
    the translator's language (English by default); the data files are the same in every language.
    """
    tr = tr or translator()
    steps = model.timeseries()
    summary = run_summary(model)
    title = tr("{scenario} (seed {seed})").format(scenario=model.spec.name, seed=model.seed)
    with staged_dir(out) as tmp:
        steps.to_csv(tmp / "timeseries.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        doc = {**model.spec.to_dict(), "seed": model.seed, "steps": model.steps}
        (tmp / "scenario.toml").write_text(tomli_w.dumps(doc))
        customer_stages = model.funnel.customer_stages
        plots.save(
            plots.adoption_figure(steps, model.population.n, customer_stages, title, tr),
            tmp / "adoption.png",
        )
        plots.save(plots.stages_figure(steps, model.funnel.stages, title, tr), tmp / "stages.png")
        if referrals:
            referral_tree(model).to_csv(tmp / "referrals.csv", index=False)
    return summary
