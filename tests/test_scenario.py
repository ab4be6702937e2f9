"""Scenario validation: one line per problem naming the field, the value and what is allowed."""

import contextlib
import copy
import io
import string
import tempfile
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.levers import LEVERS
from sim.scenario import (
    NETWORK_KINDS,
    Scenario,
    ScenarioError,
    apply_overrides,
    load_scenario,
    parse_override,
    read_scenario_doc,
    scenario_from_dict,
)

from .conftest import SCENARIOS

SMALL = {
    "name": "small",
    "steps": 5,
    "population": {"n": 200},
    "network": {"kind": "watts_strogatz", "k": 4, "p": 0.1},
    "levers": [{"kind": "ads", "reach": 0.1}],
}


def problems(changes: list[str], doc: dict = SMALL) -> list[str]:
    """The error lines for ``doc`` with ``--set``-style changes (none if it is valid)."""
    try:
        scenario_from_dict(apply_overrides(doc, changes))
    except ScenarioError as err:
        return err.lines
    return []


def toml_round_trip(doc: dict) -> dict:
    """``doc`` written as TOML and read back, as ``scenario.toml`` and ``validate`` do."""
    return tomllib.loads(tomli_w.dumps(doc))


def test_small_document_is_valid():
    """The base document of these tests is itself valid (so each case below has one problem)."""
    assert problems([]) == []


# (changes, fragments the single line must contain: the field, the value, what is allowed)
ONE_PROBLEM = {
    "unknown top-level field": (
        ["colour=1"],
        ["unknown field 'colour'", "allowed here:", "population", "network", "levers"],
    ),
    "unknown nested field": (["network.rewie=0.2"], ["'network.rewie'", "kind, k, p"]),
    "unknown field in a lever": (["levers.0.reachh=0.2"], ["'levers.0.reachh'", "reach, budget"]),
    "unknown field in a segment trait": (
        ['population.segments=[{name="a", share=1, peer_trust={mean=1, sdd=2}}]'],
        ["'population.segments.0.peer_trust.sdd'", "mean, sd"],
    ),
    "wrong type: text for an integer": (["steps=ten"], ["steps:", "valid integer", "'ten'"]),
    "wrong type: boolean for an integer": (["steps=true"], ["steps:", "valid integer", "True"]),
    "wrong type: quoted number": (['network.p="0.3"'], ["network.p:", "valid number", "'0.3'"]),
    "wrong type: array for a number": (["dt=[1, 2]"], ["dt:", "valid number", "[1, 2]"]),
    "wrong type: value for a table": (["sharing=0.5"], ["sharing: must be a table", "(got 0.5)"]),
    "wrong type: table for a number": (
        ["steps={a=1}"],
        ["steps:", "valid integer", "(got a table)"],
    ),
    "wrong type: text for a list": (["levers=ads"], ["levers: must be an array", "(got 'ads')"]),
    "out of range above": (["network.p=1.5"], ["network.p:", "less than or equal to 1", "1.5"]),
    "out of range below": (
        ["population.n=1"],
        ["population.n:", "greater than or equal to 2", "(got 1)"],
    ),
    "infinite": (["sharing.search_half=inf"], ["sharing.search_half:", "finite", "inf"]),
    "not a number": (["dt=nan"], ["dt:", "finite", "nan"]),
    "odd k": (["network.k=7"], ["network.k:", "even", "(got 7)"]),
    "k not below n": (["network.k=200"], ["network.k", "< population.n (200)", "(got 200)"]),
    "ads with reach and budget": (["levers.0.budget=100.0"], ["levers.0:", "reach", "budget"]),
    "ads with neither": (["levers=[{kind='ads'}]"], ["levers.0:", "reach", "budget"]),
    "lever ends before it starts": (
        ["levers.0.start=10", "levers.0.end=5"],
        ["levers.0:", "end", "start (10.0)", "(got 5.0)"],
    ),
    "unknown segment in a lever": (
        ["levers.0.segments=['young']"],
        ["levers.0.segments:", "'young'", "everyone"],
    ),
    "unknown lever kind": (["levers.0.kind=tv"], ["levers.0.kind:", "'tv'", *LEVERS]),
    "lever without kind": (["levers=[{reach=0.1}]"], ["levers.0", "kind"]),
    "unknown network kind": (
        ["network.kind=grid", "network.k=4"],
        ["network.kind:", "'grid'", *NETWORK_KINDS],
    ),
    "field of another network kind": (
        ["network={kind='complete', k=4}"],
        ["'network.k'", "allowed here: kind, contacts"],
    ),
    "bad transition key": (
        ['funnel.transitions."search->buy".base=0.1'],
        ["funnel.transitions:", "'search->buy'", "src->dst", "unaware, attention"],
    ),
    "transition value out of range": (
        ['funnel.transitions."search->action".base=2'],
        ["funnel.transitions.search->action.base:", "less than or equal to 1", "(got 2)"],
    ),
    "unknown preset": (["funnel.preset=aidma"], ["funnel.preset:", "'aidma'", "'aisas'", "'bass'"]),
    "own funnel too short": (
        ["funnel.stages=['only']", "funnel.customers=['only']", "funnel.sharers=['only']"],
        ["funnel.stages:", "at least 2", "['only']"],
    ),
    "duplicate segment names": (
        ['population.segments=[{name="a", share=0.5}, {name="a", share=0.5}]'],
        ["population.segments:", "distinct", "['a', 'a']"],
    ),
    "missing required field": (
        ["population.segments=[{share=1.0}]"],
        ["population.segments.0.name:", "required"],
    ),
    "bad name": (['name="my run!"'], ["name:", "pattern", "'my run!'"]),
    "edge list file missing": (
        ["network={kind='edgelist', path='/nonexistent/friends.txt'}"],
        ["network.path:", "no such file", "/nonexistent/friends.txt"],
    ),
}


@pytest.mark.parametrize("changes, fragments", ONE_PROBLEM.values(), ids=ONE_PROBLEM.keys())
def test_each_problem_is_one_line_naming_field_value_and_allowed(changes, fragments):
    """Each class of bad input gives exactly one line with the field, the value and what is allowed."""
    lines = problems(changes)
    assert len(lines) == 1, f"expected one line for {changes}, got {lines}"
    line = lines[0]
    assert "\n" not in line
    for fragment in fragments:
        assert fragment in line, f"expected {fragment!r} in {line!r}"


def test_several_problems_reported_together():
    """All problems come back at once, one line each, each naming its own field."""
    lines = problems(
        ["steps=0", "network.p=-1", "levers.0.cpm=-5", "sharing.reach=ok", "colour=red"]
    )
    fields = ["steps:", "network.p:", "levers.0.cpm:", "sharing.reach:", "'colour'"]
    assert len(lines) == len(fields), lines
    for field in fields:
        assert sum(field in line for line in lines) == 1, (
            f"expected one line about {field}: {lines}"
        )


def test_cross_field_problems_reported_together():
    """Checks that need the whole scenario (k vs n, lever segments) list all their problems."""
    lines = problems(["network.k=200", "levers.0.segments=['x']"])
    assert len(lines) == 2, lines
    assert any(line.startswith("network.k") for line in lines)
    assert any(line.startswith("levers.0.segments") for line in lines)


def test_network_table_without_kind_tunes_the_default():
    """A [network] table without kind is the default small world with the given parameters."""
    doc = {**SMALL, "network": {"k": 6}}
    net = scenario_from_dict(doc).network
    assert (net.kind, net.k, net.p) == ("watts_strogatz", 6, 0.1)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_bundled_scenarios_round_trip(path):
    """Every bundled scenario is valid, and its resolved document loads back to the same scenario."""
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    again = scenario_from_dict(toml_round_trip(scenario.to_dict()))
    assert again == scenario


# ------------------------------------------------------------------------------------- overrides
@pytest.mark.parametrize(
    "text, path, value",
    [
        ("network.p=0.3", ["network", "p"], 0.3),
        ("steps = 90", ["steps"], 90),
        ("population.n=1_000", ["population", "n"], 1000),
        ("levers.0.end=14.5", ["levers", "0", "end"], 14.5),
        ("name=launch", ["name"], "launch"),  # a bare word is a string
        ('name="two words"', ["name"], "two words"),
        ("description=a b c", ["description"], "a b c"),  # not TOML, so the text as is
        ("sharing.dark=true", ["sharing", "dark"], True),
        ("levers.0.segments=['a', 'b']", ["levers", "0", "segments"], ["a", "b"]),
        ("network={kind='complete'}", ["network"], {"kind": "complete"}),
        (
            'funnel.transitions."search->action".base=0.1',
            ["funnel", "transitions", "search->action", "base"],
            0.1,
        ),
        (
            "funnel.transitions.search->action.wom=0",
            ["funnel", "transitions", "search->action", "wom"],
            0,
        ),
        ('"a.b".c=1', ["a.b", "c"], 1),
        ("x=a=b", ["x"], "a=b"),
    ],
)
def test_parse_override(text, path, value):
    """KEY=VALUE: dotted keys (quoted parts may hold dots), TOML values, bare words as strings."""
    assert parse_override(text) == (path, value)


def test_override_changes_the_scenario():
    """Overrides reach nested tables, list items and quoted transition keys."""
    s = load_scenario(
        SCENARIOS / "classroom.toml",
        [
            "network.p=0.3",
            "levers.0.reach=0.05",
            'funnel.transitions."search->action".base=0.25',
            "sharing.dark=0",
            "name=custom",
        ],
    )
    assert s.network.p == 0.3
    assert s.levers[0].reach == 0.05
    assert s.funnel.funnel().transition("search->action").base == 0.25
    assert s.sharing.dark == 0.0
    assert s.name == "custom"


def test_override_creates_missing_tables():
    """Setting a key in a table the file does not have creates the table."""
    doc = apply_overrides({"name": "x"}, ["sharing.reach=0.9", "funnel.transitions.a->b.base=1"])
    assert doc == {
        "name": "x",
        "sharing": {"reach": 0.9},
        "funnel": {"transitions": {"a->b": {"base": 1}}},
    }


def test_overrides_do_not_touch_the_input():
    """apply_overrides returns a copy."""
    doc = copy.deepcopy(SMALL)
    apply_overrides(doc, ["network.p=0.5", "levers.0.reach=0.2"])
    assert doc == SMALL


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("network.p", "expected KEY=VALUE"),
        ("=0.3", "expected KEY=VALUE"),
        (".=1", "expected KEY=VALUE"),
        ("network..p=1", "expected KEY=VALUE"),
        ("levers.3.reach=0.1", "levers.3 is not an item (have 1)"),
        ("levers.x.reach=0.1", "levers.x is not an item (have 1)"),
        ("levers.5=1", "no item 5 (have 1)"),
        ("levers.²=1", "no item ² (have 1)"),
        ("steps.x=1", "steps is a value, not a table"),
        ("population.n.x.y=1", "population.n is a value, not a table"),
    ],
)
def test_bad_override_is_one_line(text, fragment):
    """A malformed or misplaced --set names itself and the problem."""
    with pytest.raises(ScenarioError) as err:
        apply_overrides(SMALL, [text])
    assert len(err.value.lines) == 1
    assert text in err.value.lines[0] or repr(text) in err.value.lines[0]
    assert fragment in err.value.lines[0]


# ------------------------------------------------------------------------------------ files
@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "no such file"),
        (b"steps = \n", "not valid TOML"),
        (b"[population]\nn = 1\n[population]\n", "not valid TOML"),
        (b"name = '\xff\xfe'\n", "not a UTF-8 text file"),
    ],
)
def test_unreadable_file_is_one_line(tmp_path, content, fragment):
    """A missing, non-TOML or non-UTF-8 file is one line naming the file."""
    path = tmp_path / "market.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert len(err.value.lines) == 1 and "\n" not in err.value.lines[0]
    assert str(path) in err.value.lines[0] and fragment in err.value.lines[0]


def test_directory_is_not_a_scenario(tmp_path):
    """A folder given as the scenario is reported, not crashed on."""
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)


def test_name_defaults_to_file_stem(tmp_path):
    """A scenario without a name is named after its file."""
    path = tmp_path / "spring_launch.toml"
    path.write_text("steps = 3\n")
    assert load_scenario(path).name == "spring_launch"


def test_edgelist_path_is_relative_to_the_scenario(tmp_path):
    """network.path is read relative to the scenario file, whatever the working directory."""
    (tmp_path / "friends.txt").write_text("0 1\n1 2\n2 3\n")
    path = tmp_path / "graph.toml"
    path.write_text("[population]\nn = 4\n[network]\nkind = 'edgelist'\npath = 'friends.txt'\n")
    assert load_scenario(path).network.path == (tmp_path / "friends.txt").resolve()
    lines = problems(["population.n=5"], read_scenario_doc(path))
    assert lines == ["population.n must equal the edge list's 4 nodes (got 5)"]


@pytest.mark.parametrize("path", ["a\0b", "", ".", "../../x", "é/ü.txt"])
def test_odd_edgelist_paths_are_reported(path):
    """Paths the file system cannot hold (a NUL byte) or that are no file give a one-line error."""
    doc = {"population": {"n": 4}, "network": {"kind": "edgelist", "path": path}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(doc, Path("/nonexistent"))
    assert len(err.value.lines) == 1 and err.value.lines[0].startswith("network.path: no such file")


# --------------------------------------------------------------------------- malformed documents
BUNDLED = [
    *(read_scenario_doc(p) for p in sorted(SCENARIOS.glob("*.toml"))),
    {"population": {"n": 4}, "network": {"kind": "edgelist", "path": "friends.txt"}},
]
FIELD_NAMES = sorted(
    {"kind", "extends", "path", "segments", "transitions", "search->action", "a->b", "0"}
    | {f for m in (Scenario, *LEVERS.values()) for f in m.model_fields}
    | {"n", "k", "p", "m", "preset", "stages", "customers", "sharers", "reach", "budget", "start"}
)
WORDS = [*NETWORK_KINDS, *LEVERS, "aisas", "bass", "everyone", "mainstream", "search->action", ""]

keys = st.sampled_from(FIELD_NAMES) | st.text(string.printable, max_size=6)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, 1, 2, 3, 7, 10, 199, 200, 201, 10**9, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.1, 1e-300, 1e300])
    | st.sampled_from(WORDS)
    | st.text(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)


def _places(node, path=()):
    """Every (path, node) in a document, the root included."""
    yield path, node
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        yield from _places(child, (*path, key))


@st.composite
def malformed_documents(draw):
    """A valid scenario document (a bundled one, 300 consumers) after one to four random mutations."""
    doc = copy.deepcopy(draw(st.sampled_from(BUNDLED)))
    doc.setdefault("population", {})["n"] = 300  # keep network checks cheap if it stays valid
    for _ in range(draw(st.integers(1, 4))):
        path, node = draw(st.sampled_from(list(_places(doc))))
        action = draw(st.sampled_from(["replace", "delete", "add", "wrap"]))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if action == "add" and isinstance(node, dict):
            node[draw(keys)] = draw(values)
        elif action == "add" and isinstance(node, list):
            node.append(draw(values))
        elif path and action == "delete":
            del parent[path[-1]]
        elif path and action == "wrap":  # a table where a value was, or a value where a table was
            parent[path[-1]] = [node] if not isinstance(node, dict) else draw(scalars)
        elif path:
            parent[path[-1]] = draw(values)
    return doc


def assert_clean_outcome(doc, base_dir=None):
    """A Scenario that survives its own round trip, or a ScenarioError of short one-line messages."""
    try:
        scenario = scenario_from_dict(doc, base_dir)
    except ScenarioError as err:
        assert err.lines, "a ScenarioError must say what is wrong"
        for line in err.lines:
            assert isinstance(line, str) and line.strip(), f"empty message in {err.lines}"
            assert "\n" not in line and "Traceback" not in line
            assert len(line) < 400, f"message too long to read: {line!r}"
        return
    assert isinstance(scenario, Scenario)
    assert scenario_from_dict(toml_round_trip(scenario.to_dict())) == scenario


BOUNDED = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine: CI stays deterministic
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@BOUNDED
@given(malformed_documents())
def test_malformed_documents_never_crash(doc):
    """Any mutation of a valid document gives a Scenario or a ScenarioError, never another error."""
    assert_clean_outcome(doc, Path("/tmp"))


@BOUNDED
@given(st.dictionaries(keys, values, max_size=5))
def test_random_documents_never_crash(doc):
    """Documents of random keys and values give a ScenarioError (or, rarely, a Scenario)."""
    assert_clean_outcome(doc)


@BOUNDED
@given(
    st.text(st.sampled_from("a/.~ \0\n\té") | st.characters(), max_size=12),
    st.sampled_from(["network", "extends"]),
)
def test_any_path_text_never_crashes(text, where):
    """Any text as an edge-list path or an ``extends`` file is loaded or reported, never raised."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "market.toml"
        doc = (
            {"network": {"kind": "edgelist", "path": text}}
            if where == "network"
            else {"extends": text}
        )
        path.write_text(tomli_w.dumps(doc))
        try:
            load_scenario(path)
        except ScenarioError as err:
            assert err.lines and all(line and "\n" not in line for line in err.lines)


override_texts = st.text(string.printable, max_size=30) | st.builds(
    lambda parts, eq, value: ".".join(parts) + eq + value,
    st.lists(st.sampled_from([*FIELD_NAMES, "", " ", '"a.b"', '"', "9", "²", "-1"]), max_size=4),
    st.sampled_from(["=", " = ", "", "=="]),
    st.sampled_from(["0.3", "x", "[1, 2]", "{a = 1}", "", "'", "true", "inf", "nan"])
    | st.text(string.printable, max_size=8),
)


@BOUNDED
@given(st.lists(override_texts, max_size=3))
def test_random_overrides_never_crash(overrides):
    """Any --set text is applied or rejected with a ScenarioError."""
    try:
        doc = apply_overrides(SMALL, overrides)
    except ScenarioError as err:
        assert err.lines and all(line and "\n" not in line for line in err.lines)
        return
    assert_clean_outcome(doc)


@settings(BOUNDED, max_examples=25)
@given(malformed_documents())
def test_validate_command_on_malformed_files(doc):
    """``run.py validate`` on a malformed file exits 0 or 2 and prints only 'error:' lines."""
    doc = _toml_ready(doc)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "market.toml"
        path.write_text(tomli_w.dumps(doc))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", str(path)])
    assert code in (0, 2)
    if code == 2:
        assert err.getvalue() and out.getvalue() == ""
        assert all(line.startswith("error: ") for line in err.getvalue().splitlines())
    else:
        assert err.getvalue() == ""


def _toml_ready(x):
    """Drop what TOML cannot hold (None, NUL characters)."""
    if isinstance(x, dict):
        return {str(k).replace("\0", ""): _toml_ready(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_toml_ready(v) for v in x if v is not None]
    if isinstance(x, str):
        return x.replace("\0", "")
    return x
