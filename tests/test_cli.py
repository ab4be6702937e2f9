"""The command line: `run` writes a complete, reproducible folder; bad input exits 2 and writes nothing."""

import argparse
import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import pandas as pd
import pytest

from sim import __version__, outputs
from sim.cli import build_parser, main
from sim.scenario import load_scenario, scenario_from_dict

from .conftest import ROOT

SMALL = """
name = "small"
steps = 5

[population]
n = 200

[network]
kind = "watts_strogatz"
k = 4
p = 0.1

[[levers]]
kind = "ads"
reach = 0.1
"""
FILES = ("timeseries.csv", "summary.json", "scenario.toml", "adoption.png", "stages.png")


def python_run(*args: str) -> subprocess.CompletedProcess:
    """``python run.py ARGS`` from the repository root, as a user types it."""
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenarios") / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def first_run(small, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One real ``python run.py run`` (seed 3) whose folder several tests read."""
    out = tmp_path_factory.mktemp("runs") / "first"
    return out, python_run("run", str(small), "--seed", "3", "--out", str(out))


# ------------------------------------------------------------------------------------------ run
def test_run_writes_every_file(first_run):
    """A run exits 0 and leaves the five files, and no temporary ones, in its folder."""
    out, proc = first_run
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert set(FILES) <= names
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "staging left behind"
    for png in ("adoption.png", "stages.png"):
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, f"{png} is no figure"


def test_run_prints_a_readable_summary(first_run):
    """The run says what it ran and where it wrote, on stdout, with nothing on stderr."""
    out, proc = first_run
    assert "small (seed 3): 200 consumers, 5 steps" in proc.stdout
    assert f"wrote {out}" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_timeseries_has_one_row_per_step_from_zero(first_run):
    """step, day, n_<stage>..., new_customers, cum_customers come first; rows are steps 0..5."""
    out, _ = first_run
    ts = pd.read_csv(out / "timeseries.csv")
    stages = ["unaware", "attention", "interest", "search", "action", "share"]
    head = ["step", "day", *(f"n_{s}" for s in stages), "new_customers", "cum_customers"]
    assert list(ts.columns[: len(head)]) == head
    assert ts["step"].tolist() == list(range(6))
    assert (ts[[f"n_{s}" for s in stages]].sum(axis=1) == 200).all()


def test_summary_names_the_run_and_matches_the_timeseries(first_run):
    """summary.json holds seed, scenario, version and the outcomes, consistent with the steps."""
    out, _ = first_run
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["seed"], summary["scenario"], summary["version"]) == (3, "small", __version__)
    assert (summary["steps"], summary["n"]) == (5, 200)
    ts = pd.read_csv(out / "timeseries.csv")
    assert summary["cum_customers"] == ts["cum_customers"].iloc[-1]
    assert summary["total_cost"] == pytest.approx(ts["cost"].sum())


def test_resolved_scenario_loads_back(first_run, small):
    """scenario.toml is the scenario that ran (seed included), and loads back to it."""
    out, _ = first_run
    assert load_scenario(out / "scenario.toml") == load_scenario(small, ["seed=3"])


def test_same_seed_same_bytes_other_seed_differs(first_run, small, tmp_path, capsys):
    """In-process runs reproduce the subprocess run byte for byte; another seed does not."""
    out, _ = first_run
    assert main(["run", str(small), "--seed", "3", "--out", str(tmp_path / "again")]) == 0
    assert main(["run", str(small), "--seed", "4", "--out", str(tmp_path / "other")]) == 0
    first = (out / "timeseries.csv").read_bytes()
    assert (tmp_path / "again" / "timeseries.csv").read_bytes() == first
    assert (tmp_path / "other" / "timeseries.csv").read_bytes() != first


def test_steps_seed_and_set_take_effect(small, tmp_path, capsys):
    """--steps, --seed and --set reach the run, its summary and its resolved scenario."""
    out = tmp_path / "changed"
    args = ["--steps", "3", "--seed", "11", "--set", "network.p=0.3", "--set", "levers.0.cpm=2"]
    assert main(["run", str(small), *args, "--out", str(out)]) == 0
    resolved = tomllib.loads((out / "scenario.toml").read_text())
    assert (resolved["steps"], resolved["seed"], resolved["network"]["p"]) == (3, 11, 0.3)
    assert resolved["levers"][0]["cpm"] == 2.0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["steps"], summary["seed"]) == (3, 11)
    assert pd.read_csv(out / "timeseries.csv")["step"].tolist() == [0, 1, 2, 3]


def test_referrals_writes_the_referral_tree(tmp_path, capsys):
    """--referrals writes one row per peer-reached consumer, matching the summary's customers."""
    out = tmp_path / "mgm"
    scenario = ROOT / "scenarios" / "mgm.toml"
    assert (
        main(
            [
                "run",
                str(scenario),
                "--set",
                "population.n=1000",
                "--steps",
                "120",
                "--referrals",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    tree = pd.read_csv(out / "referrals.csv")
    assert list(tree.columns) == ["referrer", "referee", "step", "channel", "customer"]
    summary = json.loads((out / "summary.json").read_text())
    by_channel = tree[tree["customer"]].groupby("channel").size()
    assert by_channel.get("tracked", 0) == summary["customers_by_source"]["peer"]
    assert by_channel.get("dark", 0) == summary["customers_by_source"]["peer_dark"]
    assert (tree["referrer"] != tree["referee"]).all() and (tree["step"] >= 1).all()


def test_default_folder_is_named_after_scenario_and_start_time(
    small, tmp_path, monkeypatch, capsys
):
    """Without --out, the run goes to results/runs/<scenario>-<date>-<time>-<6 hex digits>/."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(small)]) == 0
    (folder,) = (tmp_path / "results" / "runs").iterdir()
    assert re.fullmatch(r"small-\d{8}-\d{6}-[0-9a-f]{6}", folder.name), folder.name
    assert set(FILES) <= {p.name for p in folder.iterdir()}
    assert f"wrote {Path('results', 'runs', folder.name)}/" in capsys.readouterr().out


def test_runs_started_in_the_same_second_never_share_a_folder(small, tmp_path, monkeypatch, capsys):
    """Same scenario, same second, even the same random suffix drawn first: two folders, both whole."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(outputs, "timestamp", lambda: "20260101-120000")
    suffixes = iter(["aaaaaa", "aaaaaa", "bbbbbb"])  # the second run draws the first one's again
    monkeypatch.setattr(outputs, "_token", lambda: next(suffixes))
    assert main(["run", str(small), "--seed", "1"]) == 0
    assert main(["run", str(small), "--seed", "2"]) == 0
    runs = tmp_path / "results" / "runs"
    first, second = runs / "small-20260101-120000-aaaaaa", runs / "small-20260101-120000-bbbbbb"
    assert sorted(runs.iterdir()) == [first, second]
    seeds = [json.loads((f / "summary.json").read_text())["seed"] for f in (first, second)]
    assert seeds == [1, 2], "the second run must not have written into the first one's folder"


def test_failed_write_to_the_default_folder_leaves_nothing(small, tmp_path, monkeypatch, capsys):
    """The folder claimed for a run is removed again if writing its files fails."""
    from sim import plots

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plots, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        main(["run", str(small)])
    assert list((tmp_path / "results" / "runs").iterdir()) == []


def test_existing_empty_folder_is_used(small, tmp_path, capsys):
    """An empty --out folder is fine: the run fills it."""
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["run", str(small), "--out", str(out)]) == 0
    assert set(FILES) <= {p.name for p in out.iterdir()}


def test_failure_while_writing_leaves_nothing(small, tmp_path, monkeypatch, capsys):
    """If writing fails half-way, neither the folder nor a staging folder is left behind."""
    from sim import plots

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(plots, "save", broken)
    parent = tmp_path / "runs"
    parent.mkdir()
    with pytest.raises(OSError, match="disk full"):
        main(["run", str(small), "--out", str(parent / "x")])
    assert list(parent.iterdir()) == []


# ------------------------------------------------------------------------------------- validate
def test_validate_prints_the_resolved_scenario(small, tmp_path, capsys, monkeypatch):
    """validate prints TOML that loads to the same scenario, overrides applied, and writes nothing."""
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(small), "--set", "network.p=0.3", "--set", "steps=9"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    printed = scenario_from_dict(tomllib.loads(out))
    assert printed == load_scenario(small, ["network.p=0.3", "steps=9"])
    assert (printed.network.p, printed.steps) == (0.3, 9)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------- help
ENTRY_POINTS = {"run.py": ["run.py"], "module": ["-m", "sim"]}  # as `python ARGS`
PROGS = {"run.py": "python run.py", "module": "python -m sim"}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def help_text(argv: list[str], capsys) -> str:
    """What ``wom-sim ARGV`` prints, in this process."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def installed_script() -> Path | None:
    """The ``wom-sim`` script pip installed from this checkout, if it was (CI's fresh clone)."""
    site = sysconfig.get_path("purelib")  # not the checkout's own wom_sim.egg-info
    for dist in distributions(name="wom-sim", path=[site]):
        script = Path(sysconfig.get_path("scripts")) / "wom-sim"
        url = json.loads(dist.read_text("direct_url.json") or "{}").get("url")
        if url == ROOT.as_uri() and script.is_file():
            return script
    return None


def test_wom_sim_is_this_main():
    """pyproject's console script is sim.cli:main, whose program name is wom-sim."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"wom-sim": "sim.cli:main"}
    assert build_parser().prog == "wom-sim"


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("argv", [["--help"], ["experiment", "--help"]])
def test_every_entry_point_prints_the_same_help_under_its_own_name(entry, argv, capsys):
    """``python run.py`` and ``python -m sim`` print wom-sim's help with their own name in it."""
    proc = subprocess.run(
        [sys.executable, *ENTRY_POINTS[entry], *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(f"usage: {PROGS[entry]} ")
    expected = help_text(argv, capsys).replace("wom-sim", PROGS[entry])
    assert proc.stdout.split() == expected.split()  # the usage lines wrap by the name's length


@pytest.mark.skipif(
    installed_script() is None, reason="wom-sim is not installed from this checkout"
)
def test_installed_wom_sim_names_itself(capsys):
    """The script pip installed says ``usage: wom-sim`` and prints the same help."""
    proc = subprocess.run(
        [str(installed_script()), "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout == help_text(["--help"], capsys)
    assert proc.stdout.startswith("usage: wom-sim ")


def test_top_level_help_lists_every_command():
    """``python run.py --help`` exits 0, names every subcommand, and prints nothing on stderr."""
    proc = python_run("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    for name in subcommands():
        assert name in proc.stdout


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_help_documents_every_option(command, capsys):
    """Each subcommand's --help exits 0 and explains each of its arguments."""
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for action in subcommands()[command]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, f"{action.dest} has no help"
        for flag in action.option_strings or [action.metavar or action.dest]:
            assert flag in text, f"{command} --help does not mention {flag}"


# ------------------------------------------------------------------------------------ bad input
# (extra scenario text, command-line arguments, a fragment every problem line must contain)
BAD = {
    "unknown key": ('colour = "red"\n', [], "unknown field 'colour'"),
    "unknown nested key": ("", ["--set", "network.rewie=0.2"], "'network.rewie'"),
    "unknown key in a lever": ("", ["--set", "levers.0.reachh=0.2"], "'levers.0.reachh'"),
    "wrong type": ("description = 5\n", [], "description:"),
    "wrong type on the command line": ("", ["--set", "population.n=many"], "population.n:"),
    "out of range": ("", ["--set", "network.p=1.5"], "network.p:"),
    "odd k": ("", ["--set", "network.k=5"], "network.k"),
    "k not below n": ("", ["--set", "network.k=200"], "network.k"),
    "ads with reach and budget": ("", ["--set", "levers.0.budget=100"], "levers.0"),
    "lever ends before it starts": ("", ["--set", "levers.0.end=0"], "levers.0"),
    "unknown segment": ("", ["--set", "levers.0.segments=['young']"], "levers.0.segments"),
    "unknown lever kind": ("", ["--set", "levers.0.kind=tv"], "levers.0.kind"),
    "unknown network kind": ("", ["--set", "network.kind=grid"], "network.kind"),
    "bad transition key": (
        "",
        ["--set", 'funnel.transitions."search->buy".base=0.1'],
        "funnel.transitions",
    ),
    "unknown preset": ("", ["--set", "funnel.preset=aidma"], "funnel.preset"),
    "bad --set syntax": ("", ["--set", "network.p"], "--set 'network.p'"),
    "--set to a missing list item": ("", ["--set", "levers.4.reach=0.1"], "levers.4"),
    "invalid TOML": ("steps = \n", [], "not valid TOML"),
}


def run_bad(command, text, args, tmp_path, capsys) -> tuple[int, str, str, Path]:
    scenario = tmp_path / "market.toml"
    scenario.write_text(text + SMALL)  # top-level keys go before the first table
    parent = tmp_path / "runs"
    parent.mkdir()
    out = ["--out", str(parent / "x")] if command == "run" else []
    code = main([command, str(scenario), *args, *out])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr, parent


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("text, args, fragment", BAD.values(), ids=BAD.keys())
def test_bad_input_exits_2_names_field_writes_nothing(
    command, text, args, fragment, tmp_path, capsys
):
    """Exit 2, one 'error:' line per problem naming the field, nothing on stdout, no folder."""
    code, stdout, stderr, parent = run_bad(command, text, args, tmp_path, capsys)
    assert code == 2
    assert stdout == "" and "Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), stderr
    assert all(fragment in line for line in lines), f"expected {fragment!r} in every line: {lines}"
    assert list(parent.iterdir()) == [], "bad input must not create anything"


@pytest.mark.parametrize(
    "args, fragment", [(["--seed", "-1"], "seed:"), (["--steps", "0"], "steps:")]
)
def test_bad_run_options_exit_2(args, fragment, tmp_path, capsys):
    """--seed and --steps go through the scenario's validation."""
    code, stdout, stderr, parent = run_bad("run", "", args, tmp_path, capsys)
    assert code == 2 and stdout == ""
    assert stderr.startswith(f"error: {fragment}") and stderr.count("\n") == 1
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize("command", ["run", "validate"])
def test_missing_scenario_file(command, tmp_path, capsys):
    """A scenario file that does not exist is one line naming it."""
    missing = tmp_path / "nowhere.toml"
    out = ["--out", str(tmp_path / "x")] if command == "run" else []
    assert main([command, str(missing), *out]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such file\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [["--seed", "abc"], ["--steps", "1.5"], ["--frobnicate"]])
def test_malformed_arguments_exit_2(bad, small, tmp_path, capsys):
    """argparse's own errors (not an integer, unknown option) also exit 2 with a usage line."""
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(small), *bad, "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert bad[0] in err and "usage:" in err
    assert list(tmp_path.iterdir()) == []


def test_out_folder_not_empty_is_left_alone(small, tmp_path, capsys):
    """--out naming a folder with content exits 2 and does not touch what is there."""
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(small), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: already exists") and err.count("\n") == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_out_is_a_file(small, tmp_path, capsys):
    """--out naming an existing file exits 2 and keeps the file."""
    out = tmp_path / "results.txt"
    out.write_text("mine")
    assert main(["run", str(small), "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err and out.read_text() == "mine"


def test_bad_input_as_a_process(small, tmp_path):
    """The real process exits 2, prints one 'error:' line per problem, no traceback, writes nothing."""
    args = ["--set", "network.k=5", "--set", "sharing.reach=2", "--out", str(tmp_path / "x")]
    proc = python_run("run", str(small), *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, lines
    for line, field in zip(lines, ["network.k", "sharing.reach"], strict=True):
        assert line.startswith(f"error: {field}"), line
    assert list(tmp_path.iterdir()) == []
