"""docs/model.md against the code: the ODD outline, every parameter's default, every preset value.

The doc's tables are parsed by their header row: tables headed ``Parameter`` list scenario
parameters (``Kind`` column optional), tables headed ``Preset | Transition`` list driver values
(blank = 0), and the table headed ``Preset | Stages`` lists stage roles. A failure names the row to
add or fix, with the code's value.
"""

import re

from sim.funnel import DRIVERS, PRESETS, preset
from sim.levers import Ads, Lever
from sim.scenario import (
    ErdosRenyiSpec,
    ParameterRow,
    TraitSpec,
    WattsStrogatzSpec,
    parameter_rows,
)

from .conftest import ROOT

DOC = ROOT / "docs" / "model.md"
ODD_ELEMENTS = [
    "Purpose and patterns",
    "Entities, state variables, and scales",
    "Process overview and scheduling",
    "Design concepts",
    "Initialization",
    "Input data",
    "Submodels",
]
DESIGN_CONCEPTS = [
    "Basic principles",
    "Emergence",
    "Adaptation",
    "Objectives",
    "Learning",
    "Prediction",
    "Sensing",
    "Interaction",
    "Stochasticity",
    "Collectives",
    "Observation",
]


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table as a list of rows keyed by the header's cells (backticks removed)."""
    blocks: list[list[list[str]]] = [[]]
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]
            blocks[-1].append(cells)
        elif blocks[-1]:
            blocks.append([])
    return [
        [dict(zip(block[0], row, strict=True)) for row in block[2:]]
        for block in blocks
        if len(block) >= 2
    ]


def tables_headed(text: str, *first: str) -> list[dict[str, str]]:
    return [row for t in tables(text) if t and list(t[0])[: len(first)] == list(first) for row in t]


def row_template(p: ParameterRow) -> str:
    kind = f" {p.kind} |" if p.kind else ""
    return f"| `{p.name}` |{kind} `{p.default}` | UNIT | {p.description or 'MEANING'} | SOURCE |"


def test_odd_elements_in_order():
    """The seven ODD elements (Grimm et al. 2020) are the doc's numbered headings, in order."""
    found = re.findall(r"^## (\d+)\. (.+?)\s*$", doc_text(), flags=re.M)
    expected = [(str(i), name) for i, name in enumerate(ODD_ELEMENTS, 1)]
    assert found == expected, f"numbered '## ' headings must be exactly {expected}; found {found}"


def test_design_concepts_in_order():
    """Element 4 has the eleven design concepts as its subsections, in order."""
    section = doc_text().split("## 4. Design concepts")[1].split("## 5. ")[0]
    found = re.findall(r"^### 4\.(\d+) (.+?)\s*$", section, flags=re.M)
    expected = [(str(i), name) for i, name in enumerate(DESIGN_CONCEPTS, 1)]
    assert found == expected, f"'### 4.i' headings must be exactly {expected}; found {found}"


def test_parameter_rows_cover_nested_listed_and_per_kind_fields():
    """The code's parameter list reaches into segments, unions, levers and funnel transitions."""
    rows = {(p.name, p.kind): p.default for p in parameter_rows()}
    assert rows[("population.segments.N.peer_trust.sd", "")] == repr(TraitSpec().sd)
    assert rows[("network.kind", "")] == '"watts_strogatz"'
    assert rows[("network.p", "watts_strogatz")] == repr(WattsStrogatzSpec().p)
    assert rows[("network.p", "erdos_renyi")] == repr(ErdosRenyiSpec.model_fields["p"].default)
    assert rows[("network.path", "edgelist")] == "required"
    assert rows[("funnel.transitions.KEY.base", "")] == "none"
    assert rows[("levers.N.start", "")] == repr(Lever.model_fields["start"].default)
    assert rows[("levers.N.cpm", "ads")] == repr(Ads.model_fields["cpm"].default)
    assert not [k for k in rows if k[0] == "levers.N.start" and k[1]], "schedule listed once"


def test_every_parameter_in_the_table_with_its_default():
    """Each scenario parameter has one row with the code's default and a source (or assumption)."""
    doc_rows = tables_headed(doc_text(), "Parameter")
    assert doc_rows, "docs/model.md has no table headed 'Parameter'"
    documented: dict[tuple[str, str], dict[str, str]] = {}
    problems = []
    for row in doc_rows:
        key = (row["Parameter"], row.get("Kind", ""))
        if key in documented:
            problems.append(f"row {key[0]} [{key[1]}] appears twice")
        documented[key] = row
    code = {(p.name, p.kind): p for p in parameter_rows()}
    for key, p in code.items():
        row = documented.get(key)
        where = f"{p.name}" + (f" (kind {p.kind})" if p.kind else "")
        if row is None:
            problems.append(f"missing row for {where}; add: {row_template(p)}")
        elif row["Default"] != p.default:
            problems.append(f"row {where}: default is `{row['Default']}`, code says `{p.default}`")
        elif not row.get("Source"):
            problems.append(f"row {where}: Source is empty; give a source or 'assumption'")
    for key in documented.keys() - code.keys():
        problems.append(f"row {key[0]} [{key[1]}] names no parameter in sim/scenario.py; remove it")
    assert not problems, "docs/model.md parameter table:\n" + "\n".join(problems)


def test_every_preset_driver_value_in_the_table():
    """Each preset transition has one row whose driver values equal the code's (blank = 0)."""
    documented = {
        (row["Preset"], row["Transition"]): row
        for row in tables_headed(doc_text(), "Preset", "Transition")
    }
    problems = []
    code = {(name, t.name): t for name in PRESETS for t in preset(name).transitions}
    for (name, tname), t in code.items():
        row = documented.get((name, tname))
        values = " | ".join(f"{v:g}" if v else "" for v in t.drivers())
        if row is None:
            problems.append(f"missing row {name} {tname}; add: | {name} | {tname} | {values} | ...")
            continue
        for driver, value in zip(DRIVERS, t.drivers(), strict=True):
            cell = row.get(driver, "")
            if float(cell or 0) != value:
                problems.append(f"row {name} {tname}: {driver} is {cell or 0}, code says {value:g}")
        if not row.get("Source"):
            problems.append(f"row {name} {tname}: Source is empty; give a source or 'assumption'")
    for name, tname in documented.keys() - code.keys():
        problems.append(f"row {name} {tname} is not a transition of preset {name}; remove it")
    assert not problems, "docs/model.md preset table:\n" + "\n".join(problems)


def test_preset_stages_and_roles_in_the_table():
    """Each preset's stages and stage roles are listed as the code declares them."""
    documented = {row["Preset"]: row for row in tables_headed(doc_text(), "Preset", "Stages")}
    problems = []
    for name in PRESETS:
        f = preset(name)
        code = {
            "Stages": f.stages,
            "Customers": f.customer_stages,
            "Sharers": f.sharer_stages,
            "Ads reach": f.ad_stages,
        }
        row = documented.get(name)
        if row is None:
            problems.append(f"missing row for preset {name}: {code}")
            continue
        for column, stages in code.items():
            listed = tuple(s.strip(" `") for s in row.get(column, "").split(",") if s.strip(" `"))
            if listed != stages:
                problems.append(f"preset {name}: {column} lists {listed}, code says {stages}")
    assert not problems, "docs/model.md preset stages table:\n" + "\n".join(problems)
