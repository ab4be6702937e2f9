"""The command line: ``python run.py``, ``wom-sim`` and ``python -m sim`` are this same program.

Bad input exits 2 with one line per problem.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import time
import warnings
from pathlib import Path

import tomli_w

from sim.i18n import LANGUAGES, Translator, check_language, locale_language, translator
from sim.scenario import ScenarioError, load_scenario

EXAMPLES = """examples:
  {prog} run scenarios/baseline.toml
  {prog} run scenarios/baseline.toml --seed 7 --steps 90 --set network.p=0.3
  {prog} validate scenarios/classroom.toml --set population.n=500
  {prog} experiment experiments/small_world.toml --set replicates=3 --workers 2
  {prog} app
  {prog} animate scenarios/classroom.toml --out diffusion.gif
"""


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario value, e.g. network.p=0.3 or levers.0.reach=0.1 "
        "(repeatable; values are TOML, bare words are strings)",
    )


def _add_lang_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lang",
        help=f"language of the summary, figures and report: {', '.join(LANGUAGES)} (default: "
        "the locale's, from LANGUAGE, LC_ALL, LC_MESSAGES or LANG; English if none of ours)",
    )


def language(args: argparse.Namespace) -> str:
    """The language ``--lang`` names, else the locale's; a bad ``--lang`` is a usage error."""
    if args.lang is None:
        return locale_language()
    try:
        return check_language(args.lang)
    except ValueError as err:
        raise ScenarioError([str(err)]) from None


def build_parser(prog: str = "wom-sim") -> argparse.ArgumentParser:
    """The argument parser, with one subcommand per job; ``prog`` is how the user started it."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Word-of-mouth marketing simulation (AISAS funnel on a social network).",
        epilog=EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run one scenario and write its results",
        description="Run one scenario; write timeseries.csv, summary.json, the "
        "resolved scenario.toml and figures into a new folder.",
    )
    _add_scenario_args(run)
    run.add_argument("--seed", type=int, help="root seed (default: the scenario's)")
    run.add_argument("--steps", type=int, help="steps to run (default: the scenario's)")
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder, new or empty (default: a new folder "
        "results/runs/<scenario>-<date>-<time>-<random id>/)",
    )
    run.add_argument(
        "--referrals",
        action="store_true",
        help="also write referrals.csv: the referral tree (referrer, referee, step, channel)",
    )
    _add_lang_arg(run)

    validate = sub.add_parser(
        "validate",
        help="check a scenario file and print it resolved",
        description="Check a scenario file (with overrides) and print the "
        "resolved scenario as TOML; exit 2 listing every problem.",
    )
    _add_scenario_args(validate)

    app = sub.add_parser(
        "app",
        help="serve the teaching app in the browser",
        description="Serve the teaching app: the network lighting up, the funnel, market share "
        "against the run before, numbers, sliders for the levers, Reset / Step / Play with a "
        "speed, a presenter mode and a language picker. Listens on loopback unless --host says "
        "otherwise; the page offers the bundled scenarios by name and cannot open files.",
    )
    app.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens the "
        "app to the network, e.g. a classroom's)",
    )
    app.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    app.add_argument("--scenario", type=Path, help="scenario file the page opens with")
    app.add_argument(
        "--lang",
        help="language of the page: en, zh-TW or zh-CN (default: each browser's own language)",
    )

    animate = sub.add_parser(
        "animate",
        help="render a GIF (or MP4) of the network lighting up, for slides",
        description="Run a scenario and render the network lighting up stage by stage beside "
        "the funnel chart. GIF needs nothing extra; MP4 needs ffmpeg. An existing file is "
        "replaced once the new one is complete.",
    )
    _add_scenario_args(animate)
    animate.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        default=Path("diffusion.gif"),
        help="movie file, .gif or .mp4 (default diffusion.gif)",
    )
    animate.add_argument(
        "--frames", type=int, help="frames to draw (default: the whole run, day 0 included)"
    )
    animate.add_argument("--every", type=int, default=1, help="steps between frames (default 1)")
    animate.add_argument("--fps", type=int, default=10, help="frames per second (default 10)")
    _add_lang_arg(animate)

    experiment = sub.add_parser(
        "experiment",
        help="run a batch experiment: markets x strategies x sweep x replicates",
        description="Run every combination of an experiment file's markets, strategies, sweep "
        "points and replicates (replicate r has the same seed under every strategy); write "
        "runs.parquet, steps.parquet, summary.csv, meta.json, figures/ and report.html. Exit 1 "
        "if some runs failed (the others complete), 2 on bad input.",
    )
    experiment.add_argument("experiment", type=Path, help="experiment file (TOML)")
    experiment.add_argument(
        "--workers", type=int, help="local worker processes (default: one per CPU; 1 = serial)"
    )
    experiment.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster instead, e.g. tcp://10.0.0.5:8786 (needs the distributed extra)",
    )
    experiment.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder, new or empty unless --overwrite or --resume (default: a new folder "
        "results/experiments/<name>-<date>-<time>-<random id>/)",
    )
    experiment.add_argument(
        "--overwrite",
        action="store_true",
        help="write even if the folder holds results, replacing the experiment's files there "
        "(others are left alone); without --out, the folder is results/<name>/, where the "
        "bundled experiments keep theirs",
    )
    experiment.add_argument(
        "--resume",
        action="store_true",
        help="finish the stopped batch in --out DIR: keep its finished runs, run only the rest",
    )
    experiment.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an experiment value, e.g. replicates=3, steps=60, "
        "set.population.n=2000 (repeatable; values are TOML)",
    )
    _add_lang_arg(experiment)
    return parser


def main(argv: list[str] | None = None, prog: str = "wom-sim") -> int:
    """Entry point of ``wom-sim`` (and, with their ``prog``, of ``run.py`` and ``python -m sim``).

    Returns the exit code: 0 ok, 1 some experiment runs failed, 2 bad input.
    """
    args = build_parser(prog).parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ScenarioError as err:
        for line in err.lines:
            print(f"error: {line}", file=sys.stderr)
        return 2


def cmd_validate(args: argparse.Namespace) -> int:
    """Print the resolved scenario."""
    scenario = load_scenario(args.scenario, args.overrides)
    print(tomli_w.dumps(scenario.to_dict()), end="")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario and write its folder."""
    from sim import outputs  # imported here so that --help and errors stay fast
    from sim.model import MarketModel

    tr = translator(language(args))
    overrides = list(args.overrides)
    overrides += [f"seed={args.seed}"] if args.seed is not None else []
    overrides += [f"steps={args.steps}"] if args.steps is not None else []
    scenario = load_scenario(args.scenario, overrides)
    out = args.out
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError([f"--out {out}: already exists and is not empty; choose a new folder"])
    started = outputs.timestamp()
    start = time.perf_counter()
    model = MarketModel(scenario).run()
    if out is None:  # named when the run started, claimed only now: a stopped run leaves nothing
        out = outputs.unique_folder(outputs.RESULTS / "runs", scenario.name, started)
    try:
        summary = outputs.write_run(model, out, referrals=args.referrals, tr=tr)
    except BaseException:
        if args.out is None:
            out.rmdir()  # the claimed folder, still empty
        raise
    print(describe(summary, time.perf_counter() - start, tr))
    print(tr("  wrote {path}/").format(path=out))
    return 0


def describe(s: dict, seconds: float, tr: Translator | None = None) -> str:
    """A short summary of a run a person can read, in the translator's language (English by default)."""
    tr = tr or translator()
    comma = tr.pgettext("list separator", ", ")
    na = tr("n/a")
    when = comma.join(
        (
            tr("{percent}% by step {step}").format(percent=p, step=s[k])
            if s[k] is not None
            else tr("{percent}% not reached").format(percent=p)
        )
        for p, k in ((10, "t10"), (50, "t50"))
    )
    by_source = s["customers_by_source"]
    total = max(1, sum(by_source.values()))
    sources = comma.join(
        f"{tr.label('source', k)} {100 * v / total:.0f}%" for k, v in by_source.items() if v
    )
    dark = (
        tr("{percent}% dark social").format(percent=f"{100 * s['dark_share']:.0f}")
        if s["dark_share"] is not None
        else tr("none")
    )
    lines = [
        tr("{scenario} (seed {seed}): {n} consumers, {steps} steps of {dt} day, {seconds} s"),
        tr("  customers now {customers} ({share}% of the market); acquired {acquired}; {when}"),
        tr("  acquired by source: {sources}"),
        tr(
            "  marketing cost {cost}; per acquired customer (CAC) {cac}; revenue {revenue}; "
            "margin {margin}; ROI {roi}"
        ),
        tr("  shares {shares} ({dark}); viral coefficient K {k}"),
    ]
    return "\n".join(lines).format(
        scenario=s["scenario"],
        seed=s["seed"],
        n=f"{s['n']:,}",
        steps=s["steps"],
        dt=f"{s['dt']:g}",
        seconds=f"{seconds:.1f}",
        customers=f"{s['final_customers']:,}",
        share=f"{100 * s['market_share']:.1f}",
        acquired=f"{s['cum_customers']:,}",
        when=when,
        sources=sources or tr("none"),
        cost=f"{s['total_cost']:,.2f}",
        cac=f"{s['cac']:,.2f}" if s["cac"] is not None else na,
        revenue=f"{s['revenue']:,.2f}",
        margin=f"{s['margin']:,.2f}",
        roi=f"{s['roi']:.2f}" if s["roi"] is not None else na,
        shares=f"{s['shares']:,}",
        dark=dark,
        k=f"{s['viral_k']:.2f}" if s["viral_k"] is not None else na,
    )


def cmd_experiment(args: argparse.Namespace) -> int:
    """Run a batch experiment; exit 1 if some runs failed."""
    from sim.experiment import Interrupted, load_experiment, run_experiment
    from sim.outputs import RESULTS

    if args.workers is not None and args.workers < 1:
        raise ScenarioError([f"--workers must be >= 1 (got {args.workers})"])
    if args.workers is not None and args.scheduler:
        raise ScenarioError(["--workers and --scheduler exclude each other (Dask has its own)"])
    lang = language(args)
    exp = load_experiment(args.experiment, args.overrides)
    out = args.out
    if out is None and args.overwrite:
        out = RESULTS / exp.name  # where the bundled experiments keep their results
    try:
        result = run_experiment(
            exp,
            out,
            workers=args.workers,
            scheduler=args.scheduler,
            resume=args.resume,
            overwrite=args.overwrite,
            lang=lang,
        )
    except Interrupted as err:
        print(err, file=sys.stderr)
        return 130
    tr = translator(lang)
    if result is None:
        print(tr("{name}: every run is already finished; nothing to resume").format(name=exp.name))
        return 0
    for line in result.failures():
        print(f"error: {line}", file=sys.stderr)
    if result.failed:
        print(f"error: retry the failed runs with --resume --out {result.out}", file=sys.stderr)
    print(result.describe(tr))
    return 1 if result.failed else 0


def cmd_app(args: argparse.Namespace) -> int:
    """Serve the teaching app until Ctrl+C."""
    # before solara reads its settings: no telemetry, no "runs on Solara" banner over the page
    os.environ.update(SOLARA_TELEMETRY_MIXPANEL_ENABLE="False", SOLARA_THEME_SHOW_BANNER="False")
    from sim.app import LANG_ENV, START_ENV, Run, catalogue, opening, picture, settings_of

    lang = language(args) if args.lang is not None else None  # the browser's otherwise
    if args.scenario is not None:
        load_scenario(args.scenario)  # bad files fail here, with the usual messages
    if not 1 <= args.port <= 65535:
        raise ScenarioError([f"--port {args.port}: must be between 1 and 65535"])
    try:
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as err:
        raise ScenarioError(
            [f"--host {args.host} --port {args.port}: cannot listen: {err}"]
        ) from None
    if args.scenario is not None:
        os.environ[START_ENV] = str(args.scenario.resolve())
    if lang is not None:
        os.environ[LANG_ENV] = lang
    start = opening()  # compile the step and layout kernels now, not on the class's first click
    warm = Run(start, settings_of(catalogue()[start]))
    warm.step()
    picture(warm.model)
    if not ipaddress.ip_address(socket.gethostbyname(args.host)).is_loopback:
        print(f"note: listening on {args.host}: other machines can open the app", file=sys.stderr)
    print(f"Teaching app: http://{args.host}:{args.port}/  (Ctrl+C stops it)", flush=True)
    from solara.__main__ import run as solara_run

    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")

    options = ["--host", args.host, "--port", str(args.port), "--production", "--no-open"]
    solara_run.main(["sim.app", *options, "--no-check-version"], standalone_mode=False)
    return 0


def cmd_animate(args: argparse.Namespace) -> int:
    """Render the movie."""
    from sim import plots
    from sim.animate import MOVIE_TYPES, animate

    tr = translator(language(args))
    scenario = load_scenario(args.scenario, args.overrides)
    frames = args.frames if args.frames is not None else scenario.steps // max(args.every, 1) + 1
    problems = [
        f"--{name} {value}: must be between 1 and {hi}"
        for name, value, hi in (("frames", frames, 1000), ("every", args.every, 10_000))
        if not 1 <= value <= hi
    ]
    if not 1 <= args.fps <= 60:
        problems.append(f"--fps {args.fps}: must be between 1 and 60")
    if args.out.suffix not in MOVIE_TYPES:
        problems.append(f"--out {args.out}: must end in {' or '.join(MOVIE_TYPES)}")
    elif not plots.can_write(args.out.suffix):
        problems.append(
            f"--out {args.out}: writing {args.out.suffix} needs ffmpeg; install it or use .gif"
        )
    if problems:
        raise ScenarioError(problems)
    start = time.perf_counter()
    animate(scenario, args.out, frames, args.every, args.fps, tr=tr)
    seconds = f"{time.perf_counter() - start:.1f}"
    print(
        tr("wrote {path}: {frames} frames, {seconds} s").format(
            path=args.out, frames=frames, seconds=seconds
        )
    )
    return 0


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "experiment": cmd_experiment,
    "app": cmd_app,
    "animate": cmd_animate,
}
