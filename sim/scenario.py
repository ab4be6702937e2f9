"""Scenario files: TOML read into frozen, validated models; errors name the field and what is allowed.

A scenario is data only: nothing in it is executed. ``--set dotted.key=value`` overrides go through
the same validation as the file. Each parameter carries its unit and its source (or "assumption") in
its description; ``docs/model.md``'s parameter table is checked against them by a test.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim import network as nets
from sim.funnel import DRIVERS, Funnel, preset
from sim.levers import LEVERS, Lever
from sim.population import TRAITS, Segment, TraitDist


class ScenarioError(ValueError):
    """Bad input: one line per problem, each naming the field, the value and what is allowed."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


class Spec(BaseModel):
    """Base of every scenario table: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------- population
class TraitSpec(Spec):
    """A trait's gamma distribution within a segment."""

    mean: float = Field(1.0, gt=0, le=100, description="mean multiplier; 1 = average (assumption)")
    sd: float = Field(0.0, ge=0, le=100, description="standard deviation; 0 = everyone alike")


class SegmentSpec(Spec):
    """A group of consumers: its share of the market and its trait distributions."""

    name: str = Field(min_length=1, max_length=64)
    share: float = Field(gt=0, le=1, description="share of consumers; shares are normalised")
    ad_susceptibility: TraitSpec = TraitSpec()
    peer_trust: TraitSpec = TraitSpec()
    share_propensity: TraitSpec = TraitSpec()
    price_sensitivity: TraitSpec = TraitSpec()

    def segment(self) -> Segment:
        """The run-time segment."""
        traits = tuple((t, TraitDist(getattr(self, t).mean, getattr(self, t).sd)) for t in TRAITS)
        return Segment(self.name, self.share, traits)


class PopulationSpec(Spec):
    """The market's consumers."""

    n: int = Field(10_000, ge=2, le=100_000_000, description="consumers in the market")
    segments: tuple[SegmentSpec, ...] = Field(
        (SegmentSpec(name="everyone", share=1.0),), min_length=1, max_length=100
    )

    @field_validator("segments")
    @classmethod
    def _distinct_names(cls, segments: tuple[SegmentSpec, ...]) -> tuple[SegmentSpec, ...]:
        names = [s.name for s in segments]
        if len(set(names)) != len(names):
            raise ValueError(f"segment names must be distinct (got {names})")
        return segments


# ------------------------------------------------------------------------------------------ network
class WattsStrogatzSpec(Spec):
    """Small world (Watts & Strogatz 1998): ring of k nearest neighbours, edges rewired w.p. p."""

    kind: Literal["watts_strogatz"] = "watts_strogatz"
    k: int = Field(10, ge=2, description="neighbours per consumer; even (Watts & Strogatz 1998)")
    p: float = Field(0.1, ge=0, le=1, description="rewiring probability; small world 0.01-0.3")

    @field_validator("k")
    @classmethod
    def _even(cls, k: int) -> int:
        if k % 2:
            raise ValueError(f"must be an even integer >= 2 (got {k})")
        return k

    def build(self, n: int, rng: np.random.Generator) -> nets.Network:
        """Generate the graph."""
        return nets.watts_strogatz(n, self.k, self.p, rng)

    def check(self, n: int) -> list[str]:
        """Problems that depend on the population size."""
        return [] if self.k < n else [f"network.k must be < population.n ({n}) (got {self.k})"]


class BarabasiAlbertSpec(Spec):
    """Scale-free hubs (Barabási & Albert 1999): each newcomer links to m consumers by degree."""

    kind: Literal["barabasi_albert"]
    m: int = Field(5, ge=1, description="links per new consumer; mean degree is about 2m")

    def build(self, n: int, rng: np.random.Generator) -> nets.Network:
        """Generate the graph."""
        return nets.barabasi_albert(n, self.m, rng)

    def check(self, n: int) -> list[str]:
        """Problems that depend on the population size."""
        return [] if self.m < n else [f"network.m must be < population.n ({n}) (got {self.m})"]


class ErdosRenyiSpec(Spec):
    """Random graph G(n, p) (Erdős & Rényi 1959)."""

    kind: Literal["erdos_renyi"]
    p: float = Field(0.001, ge=0, le=1, description="probability of each pair being linked")

    def build(self, n: int, rng: np.random.Generator) -> nets.Network:
        """Generate the graph."""
        return nets.erdos_renyi(n, self.p, rng)

    def check(self, n: int) -> list[str]:
        """Problems that depend on the population size."""
        edges = self.p * n * (n - 1) / 2
        return [] if edges <= 2e8 else [f"network.p gives {edges:.3g} edges; at most 2e8 fit"]


class CommunitiesSpec(Spec):
    """Stochastic block model: equal communities, dense inside and sparse across."""

    kind: Literal["communities"]
    blocks: int = Field(10, ge=1, le=10_000, description="number of communities")
    p_in: float = Field(0.05, ge=0, le=1, description="link probability inside a community")
    p_out: float = Field(0.0005, ge=0, le=1, description="link probability across communities")

    def build(self, n: int, rng: np.random.Generator) -> nets.Network:
        """Generate the graph."""
        return nets.communities(n, self.blocks, self.p_in, self.p_out, rng)

    def check(self, n: int) -> list[str]:
        """Problems that depend on the population size."""
        size = n / self.blocks
        edges = self.p_in * n * size / 2 + self.p_out * n * (n - size) / 2
        problems = [] if edges <= 2e8 else [f"network gives {edges:.3g} edges; at most 2e8 fit"]
        if self.blocks > n:
            problems.append(f"network.blocks must be <= population.n ({n}) (got {self.blocks})")
        return problems


class CompleteSpec(Spec):
    """Everyone knows everyone (mean field, never materialised); docks with Bass (1969)."""

    kind: Literal["complete"]
    contacts: float = Field(
        1.0,
        gt=0,
        description="consumers one share reaches on average; reach per pair contacts/(n-1)",
    )

    def build(self, n: int, rng: np.random.Generator) -> nets.Network:
        """The implicit graph."""
        return nets.complete(n, self.contacts)

    def check(self, n: int) -> list[str]:
        """Problems that depend on the population size."""
        ok = self.contacts <= n - 1
        return [] if ok else [f"network.contacts must be <= population.n - 1 (got {self.contacts})"]


class EdgelistSpec(Spec):
    """A graph read from a text file of ``u v`` lines (ids 0..n-1), relative to the scenario file."""

    kind: Literal["edgelist"]
    path: Path

    def build(self, n: int, rng: np.random.Generator) -> nets.Network:
        """Read the graph."""
        return nets.read_edgelist(self.path)

    def check(self, n: int) -> list[str]:
        """The file must exist, parse, and have population.n nodes."""
        if not self.path.is_file():
            return [f"network.path: no such file {str(self.path)!r}"]
        try:
            found = nets.read_edgelist(self.path).n
        except ValueError as err:
            return [f"network.path: {err}"]
        if found != n:
            return [f"population.n must equal the edge list's {found} nodes (got {n})"]
        return []


NetworkSpec = Annotated[
    WattsStrogatzSpec
    | BarabasiAlbertSpec
    | ErdosRenyiSpec
    | CommunitiesSpec
    | CompleteSpec
    | EdgelistSpec,
    Field(discriminator="kind"),
]
NETWORK_KINDS = (
    "watts_strogatz",
    "barabasi_albert",
    "erdos_renyi",
    "communities",
    "complete",
    "edgelist",
)


# ------------------------------------------------------------------------------------------- funnel
class TransitionSpec(Spec):
    """Driver probabilities of one transition; unset ones keep the preset's value (else 0)."""

    base: float | None = Field(None, ge=0, le=1, description="organic probability per day")
    ad: float | None = Field(None, ge=0, le=1, description="probability per ad impression")
    wom: float | None = Field(None, ge=0, le=1, description="probability per peer share received")
    search: float | None = Field(None, ge=0, le=1, description="per day at full search success")


class FunnelSpec(Spec):
    """A preset funnel, optionally with changed transitions and roles, or a funnel of one's own."""

    preset: Literal["aisas", "aida", "referral7", "bass"] = "aisas"
    stages: tuple[str, ...] | None = Field(None, description="own funnel: stage names in order")
    customers: tuple[str, ...] | None = Field(None, description="stages that count as customers")
    sharers: tuple[str, ...] | None = Field(None, description="stages whose consumers share")
    ad_stages: tuple[str, ...] | None = Field(None, description="stages ads can reach")
    transitions: dict[str, TransitionSpec] = Field(
        default_factory=dict, description='changed or added transitions, keyed "src->dst"'
    )

    @model_validator(mode="after")
    def _builds(self) -> FunnelSpec:
        self.funnel()  # raises ValueError with a field-naming message
        return self

    def funnel(self) -> Funnel:
        """The run-time funnel."""
        base = preset(self.preset)
        if self.stages is not None:
            if self.customers is None or self.sharers is None:
                raise ValueError("an own funnel (stages = [...]) also needs customers and sharers")
            base = Funnel(tuple(self.stages), (), (), (), (self.stages[0],))
        for name in self.transitions:
            src, arrow, dst = name.partition("->")
            if not arrow or src not in base.stages or dst not in base.stages:
                raise ValueError(
                    f"transitions key {name!r} must be 'src->dst' with stages from: "
                    f"{', '.join(base.stages)}"
                )
        changes = {
            name: {d: v for d in DRIVERS if (v := getattr(spec, d)) is not None}
            for name, spec in self.transitions.items()
        }
        funnel = base.with_transitions(changes)
        roles = {
            "customer_stages": self.customers,
            "sharer_stages": self.sharers,
            "ad_stages": self.ad_stages,
        }
        return Funnel(
            funnel.stages,
            funnel.transitions,
            **{
                role: tuple(v) if v is not None else getattr(funnel, role)
                for role, v in roles.items()
            },
        )


# ------------------------------------------------------------------------------------------ sharing
class SharingSpec(Spec):
    """How customers in sharer stages talk about the brand."""

    p_share: float = Field(
        0.3, ge=0, le=1, description="probability a sharer shares per day (assumption)"
    )
    reach: float = Field(
        0.5, ge=0, le=1, description="probability a share reaches each neighbour (assumption)"
    )
    dark: float = Field(
        0.5,
        ge=0,
        le=1,
        description="share of shares sent through dark social, invisible to "
        "analytics and search (assumption; industry surveys claim well over half)",
    )
    search_half: float = Field(
        200.0, gt=0, description="public shares at which search success reaches half (assumption)"
    )


def _lever_union() -> Any:
    classes = tuple(LEVERS.values())
    union = classes[0] if len(classes) == 1 else typing.Union[classes]  # noqa: UP007
    return Annotated[union, Field(discriminator="kind")]


# ----------------------------------------------------------------------------------------- scenario
class Scenario(Spec):
    """One market under one strategy: everything a run needs besides its seed.

    Examples:
        >>> Scenario()  # the defaults: 10,000 consumers, AISAS, small world, no levers
        >>> load_scenario("scenarios/baseline.toml", ["network.p=0.3"])
    """

    name: str = Field("scenario", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    steps: int = Field(180, ge=1, le=1_000_000, description="steps to run")
    dt: float = Field(1.0, gt=0, le=30, description="step length; day")
    seed: int = Field(20261123, ge=0, lt=2**63, description="root seed of the run")
    population: PopulationSpec = PopulationSpec()
    network: NetworkSpec = WattsStrogatzSpec()
    funnel: FunnelSpec = FunnelSpec()
    sharing: SharingSpec = SharingSpec()
    levers: tuple[_lever_union(), ...] = Field((), max_length=50)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems = self.network.check(self.population.n)
        names = {s.name for s in self.population.segments}
        for i, lever in enumerate(self.levers):
            for seg in getattr(lever, "segments", ()):
                if seg not in names:
                    problems.append(
                        f"levers.{i}.segments: unknown segment {seg!r}; choose from: "
                        f"{', '.join(sorted(names))}"
                    )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def lever_objects(self) -> tuple[Lever, ...]:
        """The strategy's levers, in order."""
        return tuple(self.levers)

    def to_dict(self) -> dict[str, Any]:
        """A plain document (TOML-ready: no None values) that loads back to this scenario."""
        return _drop_none(self.model_dump(mode="json"))


def _drop_none(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_drop_none(v) for v in x]
    return x


# ------------------------------------------------------------------------------------------ loading
def parse_override(text: str) -> tuple[list[str], Any]:
    """``"network.p=0.3"`` -> (["network", "p"], 0.3); values are TOML, bare words are strings.

    Keys may quote a part: ``funnel.transitions."search->action".base=0.1`` (quotes optional).
    """
    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise ScenarioError([f"--set {text!r}: expected KEY=VALUE, e.g. network.p=0.3"])
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    parts = [p.strip('"') for p in re.findall(r'"[^"]*"|[^."]+', key.strip())]
    return parts, value


def apply_overrides(doc: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``doc`` with each ``dotted.key=value`` set (list items by index: ``levers.0.reach``)."""
    import copy

    doc = copy.deepcopy(doc)
    for text in overrides:
        path, value = parse_override(text)
        node: Any = doc
        for depth, part in enumerate(path[:-1]):
            here = ".".join(path[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError([f"--set {text}: {here} is not an item (have {len(node)})"])
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ScenarioError([f"--set {text}: {here} is a value, not a table"])
        last = path[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ScenarioError([f"--set {text}: no item {last} (have {len(node)})"])
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError([f"--set {text}: {'.'.join(path[:-1])} is a value, not a table"])
    return doc


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict, or a one-line ScenarioError."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{path}: is a directory, not a scenario file"]) from None
    except UnicodeDecodeError:
        raise ScenarioError([f"{path}: not a UTF-8 text file"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError([f"{path}: not valid TOML: {err}"]) from None


def scenario_from_dict(doc: dict[str, Any], base_dir: Path | None = None) -> Scenario:
    """Validate a scenario document; relative edge-list paths are taken from ``base_dir``."""
    net = doc.get("network")
    if isinstance(net, dict) and isinstance(net.get("path"), str) and base_dir is not None:
        doc = {**doc, "network": {**net, "path": str((base_dir / net["path"]).resolve())}}
    try:
        return Scenario.model_validate(doc)
    except ValidationError as err:
        raise ScenarioError(format_errors(err, Scenario)) from None


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file; raise ScenarioError listing every problem."""
    doc = apply_overrides(read_toml(path), list(overrides))
    doc.setdefault("name", Path(path).stem)
    return scenario_from_dict(doc, Path(path).parent)


# ----------------------------------------------------------------------------------- error messages
def format_errors(err: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem: ``field: what is wrong (got value)``."""
    lines = []
    for e in err.errors(include_url=False):
        loc, model = _readable_loc(e["loc"], root)
        kind, msg, value = e["type"], e["msg"], e.get("input")
        if kind == "extra_forbidden":
            allowed = ", ".join(model.model_fields) if model else "?"
            lines.append(f"unknown field {loc!r}; allowed here: {allowed}")
        elif kind == "union_tag_invalid":
            tags = e.get("ctx", {}).get("expected_tags", "")
            what = "lever" if loc.startswith("levers") else "kind"
            lines.append(
                f"{loc}.kind: unknown {what} {value.get('kind')!r}; choose one of: "
                f"{tags.replace(chr(39), '')}"
            )
        elif kind == "union_tag_not_found":
            lines.append(f"{loc}: missing 'kind'")
        elif kind == "missing":
            lines.append(f"{loc}: required field missing")
        elif kind == "value_error":
            for line in msg.removeprefix("Value error, ").split("\n"):
                lines.append(line if " " in line.split(":")[0] or loc == "" else f"{loc}: {line}")
        else:
            shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
            lines.append(f"{loc}: {msg[0].lower() + msg[1:]}{shown}")
    return lines or [str(err)]


def _readable_loc(
    loc: tuple[Any, ...], root: type[BaseModel]
) -> tuple[str, type[BaseModel] | None]:
    """Dotted field path without union tags, and the model class that owns its last part."""
    parts: list[str] = []
    ann: Any = root
    owner: type[BaseModel] | None = root
    for part in loc:
        members = _members(ann)
        tagged = [m for m in members if _is_model(m) and _kind_of(m) == part]
        if tagged:  # a discriminated union puts the tag in the path: step into that member
            ann = tagged[0]
            continue
        parts.append(str(part))
        owner = next((m for m in members if _is_model(m)), None)
        if owner is not None and part in owner.model_fields:
            ann = owner.model_fields[part].annotation
        elif any(typing.get_origin(m) in (tuple, list, dict) for m in members):
            container = next(m for m in members if typing.get_origin(m) in (tuple, list, dict))
            ann = typing.get_args(container)[-1 if typing.get_origin(container) is dict else 0]
        else:
            ann = None
    return ".".join(parts), owner


def _members(ann: Any) -> list[Any]:
    """The alternatives of an annotation, through Annotated, Optional and unions."""
    if typing.get_origin(ann) is Annotated:
        return _members(typing.get_args(ann)[0])
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(ann) for m in _members(a) if m is not type(None)]
    return [ann]


def _is_model(x: Any) -> bool:
    return isinstance(x, type) and issubclass(x, BaseModel)


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    args = typing.get_args(field.annotation) if field else ()
    return args[0] if len(args) == 1 else None
