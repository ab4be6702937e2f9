"""Batch experiments: same results on every engine, common random numbers, crash safety, statistics."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.experiment
from sim import outputs, summary
from sim.cli import main
from sim.experiment import expand, load_experiment, replicate_seeds, run_experiment

ROOT = Path(__file__).resolve().parents[1]

# A market where word of mouth does the work within 40 days (the classroom's rates, 600 consumers).
MARKET = """
name = "town"
steps = 40
[population]
n = 600
[network]
kind = "watts_strogatz"
k = 6
p = 0.1
[funnel.transitions."unaware->attention"]
wom = 0.3
[funnel.transitions."attention->interest"]
base = 0.05
wom = 0.4
[funnel.transitions."interest->search"]
base = 0.2
[funnel.transitions."search->action"]
base = 0.1
wom = 0.2
[sharing]
p_share = 0.5
reach = 0.7
search_half = 20
[[levers]]
kind = "ads"
reach = 0.2
end = 14
"""


def write(tmp_path: Path, experiment: str, market: str = MARKET) -> Path:
    (tmp_path / "town.toml").write_text(market)
    path = tmp_path / "exp.toml"
    path.write_text(experiment)
    return path


SMALL = """
name = "small"
markets = ["town.toml"]
replicates = 3
seed = 5
[strategies.baseline]
[strategies.same]
description = "the baseline's levers, written out"
levers = [{kind = "ads", reach = 0.2, end = 14}]
[strategies.more_ads]
levers = [{kind = "ads", reach = 0.3, end = 14}]
[strategies.mgm]
levers = [{kind = "ads", reach = 0.2, end = 14}, {kind = "mgm"}]
sweep = { "levers.1.reward_referrer" = [5.0, 20.0] }
[sweep]
"network.p" = [0.0, 0.3]
"""
N_SMALL = 1 * (1 + 1 + 1 + 2) * 2 * 3  # markets x strategy variants x sweep points x replicates
BASE = SMALL.split("[strategies.same]")[0]  # the baseline alone, 3 replicates, no sweep
MORE_ADS = '[strategies.a_bit_more_ads]\nlevers = [{kind = "ads", reach = 0.22, end = 14}]\n'


def comparable(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.parquet without the wall time (the only column that may differ) and steps.parquet."""
    runs = pd.read_parquet(out / "runs.parquet").drop(columns="wall_time")
    return runs, pd.read_parquet(out / "steps.parquet")


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> Path:
    """The small experiment run serially, in this process."""
    tmp = tmp_path_factory.mktemp("serial")
    run_experiment(load_experiment(write(tmp, SMALL)), tmp / "out", workers=1, progress=False)
    return tmp / "out"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process group we started: politely, then for sure."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            break
        os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """A real Dask scheduler and one worker process on 127.0.0.1 (HTTP servers included)."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    local = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]  # else :8787 on 0.0.0.0
    port = address.rsplit(":", 1)[1]
    worker = ["--nworkers", "1", "--nthreads", "1", "--local-directory", str(tmp)]
    commands = [
        ["scheduler", "--host", "127.0.0.1", "--port", port, *local],
        ["worker", address, "--host", "127.0.0.1", *worker, *local],
    ]
    processes = []
    try:
        for i, command in enumerate(commands):
            log = (tmp / f"{command[0]}.log").open("w")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dask", *command],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            if i == 0:
                time.sleep(1.0)
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            stop(process)


# ------------------------------------------------------------------------------------ expansion
def test_replicate_seed_depends_on_root_and_replicate_only():
    """Seeds are shared by every strategy and sweep point, and more replicates keep earlier seeds."""
    assert replicate_seeds(9, 5)[:3] == replicate_seeds(9, 3)
    assert replicate_seeds(9, 3) != replicate_seeds(10, 3)
    assert len(set(replicate_seeds(9, 50))) == 50


def test_expand_crosses_everything_with_common_seeds(tmp_path):
    """markets x strategy variants x sweep points x replicates, baseline first, seed by replicate."""
    specs = expand(load_experiment(write(tmp_path, SMALL)))
    assert len(specs) == N_SMALL
    assert [s.run_id for s in specs] == list(range(N_SMALL))
    assert specs[0].strategy == "baseline"
    seeds = replicate_seeds(5, 3)
    assert all(s.seed == seeds[s.replicate] for s in specs)
    mgm = [s for s in specs if s.strategy == "mgm" and dict(s.sweep)["network.p"] == 0.3]
    assert {s.scenario.levers[1].reward_referrer for s in mgm} == {5.0, 20.0}
    assert {s.scenario.network.p for s in mgm} == {0.3}


def test_zipped_sweep_keys_vary_together(tmp_path):
    """A sweep key "a,b" takes its values in pairs (a two-sided reward), crossed with the rest."""
    zipped = '"levers.1.reward_referrer,levers.1.reward_referee" = [[1.0, 2.0], [3.0, 4.0]]'
    text = SMALL.replace('"levers.1.reward_referrer" = [5.0, 20.0]', zipped)
    specs = [s for s in expand(load_experiment(write(tmp_path, text))) if s.strategy == "mgm"]
    pairs = {
        (s.scenario.levers[1].reward_referrer, s.scenario.levers[1].reward_referee) for s in specs
    }
    assert pairs == {(1.0, 2.0), (3.0, 4.0)} and len(specs) == 2 * 2 * 3


# -------------------------------------------------------------------------------------- engines
@pytest.mark.slow
def test_serial_two_workers_and_dask_give_identical_runs(serial, tmp_path, dask_scheduler):
    """Every engine gives the same per-run rows and per-step frames."""
    exp = load_experiment(write(tmp_path, SMALL))
    run_experiment(exp, tmp_path / "pool", workers=2, progress=False, figures=False)
    run_experiment(exp, tmp_path / "dask", scheduler=dask_scheduler, progress=False, figures=False)
    runs, steps = comparable(serial)
    assert len(runs) == N_SMALL and (runs["status"] == "ok").all()
    for engine in ("pool", "dask"):
        other_runs, other_steps = comparable(tmp_path / engine)
        pd.testing.assert_frame_equal(runs, other_runs, obj=f"runs.parquet ({engine})")
        pd.testing.assert_frame_equal(steps, other_steps, obj=f"steps.parquet ({engine})")


# ------------------------------------------------------------------------------------ statistics
def test_common_random_numbers_shrink_the_variance_of_differences(tmp_path):
    """Paired differences vary far less than differences between independent runs would."""
    text = BASE.replace("replicates = 3", "replicates = 16") + MORE_ADS
    exp = load_experiment(write(tmp_path, text))
    runs = run_experiment(exp, tmp_path / "out", workers=1, progress=False, figures=False).runs
    a = runs[runs["strategy"] == "baseline"].set_index("replicate")["cum_customers"]
    b = runs[runs["strategy"] == "a_bit_more_ads"].set_index("replicate")["cum_customers"]
    paired = (b - a).var()
    unpaired = a.var() + b.var()  # variance of a difference of independent runs
    # Measured ratio 0.09 with these seeds. With 16 pairs a ratio of variances has an F(15, 15)
    # spread (99 % quantile 3.5), so 0.25 separates "much smaller" from chance with room.
    assert paired < 0.25 * unpaired, f"paired var {paired:.1f} vs unpaired {unpaired:.1f}"


def test_interval_and_paired_difference_on_a_known_case():
    """Mean 3 of 1..5 has the t interval 3 ± 2.776·√2.5/√5; a paired shift of +1 is exactly 1."""
    n, mean, sd, lo, hi = summary.describe(np.array([1.0, 2, 3, 4, 5, np.nan]))
    half = 2.7764451051977987 * np.sqrt(2.5) / np.sqrt(5)  # t(0.975, 4) from tables
    assert (n, mean, sd) == (5, 3.0, np.sqrt(2.5))
    assert lo == pytest.approx(3 - half, rel=1e-12) and hi == pytest.approx(3 + half, rel=1e-12)
    runs = pd.DataFrame(
        {
            "status": "ok",
            "scenario": "m",
            "strategy": ["baseline"] * 4 + ["better"] * 4,
            "replicate": [0, 1, 2, 3] * 2,
            "cum_customers": [10, 20, 30, 40, 11, 21, 31, 41],
            "t50": [5, 6, 7, 8, 5, 7, 6, 9],
        }
    )
    table = summary.summarise(
        runs, baseline="baseline", variant=[], point=[], outcomes=["cum_customers", "t50"]
    )
    row = table[(table["strategy"] == "better") & (table["outcome"] == "cum_customers")].iloc[0]
    assert (row["diff_mean"], row["diff_ci_low"], row["diff_ci_high"]) == (1.0, 1.0, 1.0)
    assert row["share_better"] == 1.0
    t50 = table[(table["strategy"] == "better") & (table["outcome"] == "t50")].iloc[0]
    assert t50["share_better"] == 0.25, "lower t50 is better; only replicate 2 is earlier"
    best = summary.winners(runs, table, variant=[], point=[], outcomes=["cum_customers", "t50"])
    assert list(best["winner"]) == ["better", "baseline"]
    assert list(best["lead_mean"]) == [1.0, 0.25], "leads are gains: positive for the winner"


def test_strategy_identical_to_baseline_differs_by_exactly_zero(serial):
    """summary.csv: a copy of the baseline has paired difference 0 with interval [0, 0]."""
    table = pd.read_csv(serial / "summary.csv")
    same = table[(table["strategy"] == "same") & (table["n_pairs"] >= 2)]
    assert len(same) > 20
    for column in ("diff_mean", "diff_ci_low", "diff_ci_high"):
        assert (same[column] == 0).all(), f"{column} should be exactly 0"
    assert (same["share_better"].dropna() == 0).all()
    more = table[(table["strategy"] == "more_ads") & (table["outcome"] == "cum_customers")]
    assert (more["diff_ci_low"] > 0).all(), "more ads should bring more customers, beyond noise"


# --------------------------------------------------------------------------------------- outputs
def test_outputs_are_complete_and_the_report_is_self_contained(serial):
    """runs/steps/summary/meta/figures/report are written; the report embeds its figures."""
    runs, steps = comparable(serial)
    assert {"scenario", "strategy", "network.p", "levers.1.reward_referrer", "seed"} <= set(runs)
    assert {"cum_customers", "conversion_attention_to_interest", "cost_by_lever_ads"} <= set(runs)
    assert len(steps) == N_SMALL * 41 and steps["step"].max() == 40
    meta = json.loads((serial / "meta.json").read_text())
    assert meta["seeds"] == replicate_seeds(5, 3) and meta["runs"] == N_SMALL
    assert meta["failed"] == 0 and {"numpy", "mesa", "wom-sim"} <= set(meta["versions"])
    assert meta["started"] <= meta["finished"]
    figures = sorted(p.name for p in (serial / "figures").iterdir())
    assert figures == [
        "adoption.png",
        "differences.png",
        "outcomes.png",
        "sweep_levers_1_reward_referrer.png",
        "sweep_network_p.png",
    ]
    page = (serial / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert "http" not in page.replace("http-equiv", ""), "the page must not load anything"
    assert "Winners" in page and "more_ads" in page
    assert not (serial / "parts").exists(), "parts are removed once every run succeeded"


# --------------------------------------------------------------------------------- crash safety
def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )


@pytest.mark.slow
def test_killed_batch_resumes_to_the_uninterrupted_result(tmp_path):
    """Kill the CLI after some runs are on disk; --resume ends exactly as a batch never killed."""
    text = BASE.replace("replicates = 3", "replicates = 4") + MORE_ADS
    path = write(tmp_path, text, MARKET.replace("n = 600", "n = 5000"))  # about 0.3 s a run
    parts = tmp_path / "killed" / "parts"
    process = cli("experiment", str(path), "--workers", "1", "--out", str(tmp_path / "killed"))
    deadline = time.monotonic() + 120
    while len(list(parts.glob("*[0-9].json"))) < 3 and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    on_disk = len(list(parts.glob("*[0-9].json")))
    assert 3 <= on_disk < 8 and not (tmp_path / "killed" / "runs.parquet").exists()

    resumed = cli("experiment", str(path), "--resume", "--out", str(tmp_path / "killed"))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert err == "", "no progress bar when stderr is not a terminal"
    assert f"{on_disk} resumed from disk" in out

    run_experiment(load_experiment(path), tmp_path / "whole", workers=1, figures=False)
    for a, b in zip(comparable(tmp_path / "killed"), comparable(tmp_path / "whole"), strict=True):
        pd.testing.assert_frame_equal(a, b)
    summaries = [(tmp_path / d / "summary.csv").read_text() for d in ("killed", "whole")]
    assert summaries[0] == summaries[1]
    assert json.loads((tmp_path / "killed" / "meta.json").read_text())["resumed"] == on_disk


def test_resume_refuses_a_folder_holding_another_experiment(tmp_path, capsys):
    """--resume with other runs, scenarios or seeds than the parts on disk exits 2, keeping them."""
    sim.experiment.Store(tmp_path / "out").open("fingerprint of another batch", False, False)
    path = write(tmp_path, BASE)
    args = ["experiment", str(path), "--resume", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    assert "holds another experiment" in capsys.readouterr().err
    assert (tmp_path / "out" / "parts" / "plan.json").is_file()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "--workers must be >= 1"),
        (["--workers", "2", "--scheduler", "x"], "exclude"),
    ],
)
def test_bad_engine_flags_exit_2(tmp_path, capsys, flags, message):
    """Impossible engine choices are bad input, reported before anything runs."""
    assert main(["experiment", str(write(tmp_path, BASE)), *flags]) == 2
    assert message in capsys.readouterr().err


class Faulty(sim.experiment.MarketModel):
    """The model, failing whenever a scenario shares with probability 0.123 (the 'broken' strategy)."""

    def run(self, steps=None):
        if self.spec.sharing.p_share == 0.123:
            raise RuntimeError("boom")
        return super().run(steps)


def test_failed_runs_are_recorded_the_rest_complete_and_resume_retries_them(
    tmp_path, monkeypatch, capsys
):
    """A run that raises is a row with its error; exit 1 with a count; --resume redoes only it."""
    text = BASE + '[strategies.broken]\nset = {"sharing.p_share" = 0.123}\n'
    path = write(tmp_path, text, MARKET.replace("n = 600", "n = 300"))
    out = tmp_path / "out"
    monkeypatch.setattr(sim.experiment, "MarketModel", Faulty)
    assert main(["experiment", str(path), "--workers", "1", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "small: 6 runs (3 failed" in captured.out
    assert "RuntimeError: boom" in captured.err
    runs = pd.read_parquet(out / "runs.parquet")
    broken = runs[runs["strategy"] == "broken"]
    assert (broken["status"] == "error").all() and (broken["error"] == "RuntimeError: boom").all()
    assert (runs.loc[runs["strategy"] == "baseline", "status"] == "ok").all()
    assert broken["cum_customers"].isna().all()

    monkeypatch.setattr(sim.experiment, "MarketModel", sim.model.MarketModel)
    assert main(["experiment", str(path), "--resume", "--workers", "1", "--out", str(out)]) == 0
    assert f"{(runs['status'] == 'ok').sum()} resumed from disk" in capsys.readouterr().out
    assert (pd.read_parquet(out / "runs.parquet")["status"] == "ok").all()


# ---------------------------------------------------------------------------------- output folders
TINY = ["--workers", "1", "--set", "replicates=1", "--set", "steps=5"]


def test_each_batch_gets_a_new_folder_and_the_bundled_one_is_untouched(
    tmp_path, monkeypatch, capsys
):
    """Without --out or --overwrite, each batch (two in the same second here) has its own folder."""
    path = write(tmp_path, BASE)
    monkeypatch.chdir(tmp_path)
    bundled = tmp_path / "results" / "small"
    bundled.mkdir(parents=True)
    (bundled / "summary.csv").write_text("committed")
    monkeypatch.setattr(outputs, "timestamp", lambda: "20260101-120000")
    said = []
    for _ in range(2):
        assert main(["experiment", str(path), *TINY]) == 0
        said.append(capsys.readouterr().out)
    folders = sorted((tmp_path / "results" / "experiments").iterdir())
    assert len(folders) == 2, folders
    for folder in folders:
        assert re.fullmatch(r"small-20260101-120000-[0-9a-f]{6}", folder.name), folder.name
        assert (folder / "meta.json").is_file() and (folder / "summary.csv").is_file()
    assert sorted(out.rsplit("wrote ", 1)[1].strip() for out in said) == [
        f"{folder.relative_to(tmp_path)}/" for folder in folders
    ]
    assert [p.name for p in bundled.iterdir()] == ["summary.csv"]
    assert (bundled / "summary.csv").read_text() == "committed"


def test_overwrite_writes_the_bundled_folder_and_replaces_stale_files(
    tmp_path, monkeypatch, capsys
):
    """--overwrite alone writes results/<name>/: the experiment's files are replaced, others kept."""
    path = write(tmp_path, BASE)
    monkeypatch.chdir(tmp_path)
    bundled = tmp_path / "results" / "small"
    bundled.mkdir(parents=True)
    (bundled / "summary.csv").write_text("old")
    (bundled / "agents.parquet").write_text("from a batch that kept every consumer")
    (bundled / "notes.txt").write_text("mine")
    assert main(["experiment", str(path), *TINY, "--overwrite"]) == 0
    assert f"wrote {Path('results', 'small')}/" in capsys.readouterr().out
    assert pd.read_csv(bundled / "summary.csv")["n"].max() == 1  # this batch's: 1 replicate
    assert not (bundled / "agents.parquet").exists(), "this batch keeps no agents: stale file"
    assert (bundled / "notes.txt").read_text() == "mine"
    assert (bundled / "report.html").is_file() and not (bundled / "parts").exists()
    assert not (tmp_path / "results" / "experiments").exists()


@pytest.mark.parametrize("stopped", [False, True])
def test_out_holding_something_is_refused_without_overwrite_or_resume(tmp_path, capsys, stopped):
    """A non-empty --out exits 2 with one line saying what to add; nothing there changes."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    if stopped:
        sim.experiment.Store(out).open("fingerprint of a stopped batch", False, True)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert main(["experiment", str(write(tmp_path, BASE)), *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    advice = "add --resume to finish it or --overwrite" if stopped else "add --overwrite"
    assert err.startswith(f"error: --out {out}: ") and advice in err and err.count("\n") == 1
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--resume"], "error: --resume needs --out DIR"),
        (["--resume", "--overwrite"], "error: --resume and --overwrite exclude each other"),
        (["--resume", "--out", "{foreign}"], "holds no stopped batch to finish; use --overwrite"),
    ],
)
def test_resume_without_a_batch_to_finish_exits_2(tmp_path, monkeypatch, capsys, flags, message):
    """--resume must name a folder holding a stopped batch (or nothing), and never overwrites."""
    monkeypatch.chdir(tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    flags = [f.format(foreign=foreign) for f in flags]
    assert main(["experiment", str(write(tmp_path, BASE)), *TINY, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "results").exists()
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_python_m_sim_runs_a_batch_on_spawned_workers(tmp_path):
    """``python -m sim experiment`` with 2 processes: the workers do not start the CLI again."""
    path = write(tmp_path, BASE)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "experiment", str(path), "--workers", "2", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(out / "runs.parquet")) == 3


# ------------------------------------------------------------------------------------ bad input
STRATEGY_X = "[strategies.baseline]\n[strategies.x]\n"
BAD = [
    ("replicates = 3", "replicate = 3", "unknown field 'replicate'"),
    ("replicates = 3", "replicates = 0", "replicates: input should be greater than or equal to 1"),
    ("seed = 5", 'seed = 5\nbaseline = "base"', "baseline: 'base' is not a strategy; choose one"),
    ("seed = 5", 'seed = 5\nsweep = {"network.p" = []}', "sweep: network.p: must be a non-empty"),
    ("seed = 5", 'seed = 5\nsweep = {"network.p" = [0.1, 2.0]}', "network.p=2.0: network.p: "),
    ("[strategies.baseline]\n", STRATEGY_X + 'levers = [{kind = "adz"}]\n', "levers.0.kind: "),
    ("[strategies.baseline]\n", STRATEGY_X + 'set = {"levers.3.reach" = 1}\n', "levers.3 is not"),
    ('["town.toml"]', '["nope.toml"]', "markets.0: "),
    ("seed = 5", 'seed = 5\nsweep = {"network.p,network.k" = [[0.1]]}', "a list of 2 values"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_experiment_file_exits_2_with_one_line_naming_the_field(
    tmp_path, capsys, old, new, message
):
    """Exit 2, one 'error:' line per problem naming the field, no traceback, nothing written."""
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new))
    assert main(["experiment", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert all(line.startswith("error: ") for line in err.splitlines()), err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_set_overrides_replicates_and_steps(tmp_path, capsys):
    """--set replicates=2 --set steps=10 change the batch; a bad --set value exits 2."""
    out = tmp_path / "out"
    args = ["experiment", str(write(tmp_path, BASE)), "--workers", "1", "--out", str(out)]
    assert main([*args, "--set", "replicates=abc"]) == 2
    assert "replicates: input should be a valid integer" in capsys.readouterr().err
    assert main([*args, "--set", "replicates=2", "--set", "steps=10"]) == 0
    runs, steps = comparable(out)
    assert len(runs) == 2 and steps["step"].max() == 10
