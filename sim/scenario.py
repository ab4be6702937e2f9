"""Scenario files: TOML read into frozen, validated models; errors name the field and what is allowed.

A scenario is data only: nothing in it is executed. ``--set dotted.key=value`` overrides go through
the same validation as the file. Each parameter carries its unit and its source (or "assumption") in
its description; ``docs/model.md``'s parameter table is checked against them by a test.
"""

from __future__ import annotations

import json
import os
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
    """Base of every scenario table: frozen; unknown keys, inf/nan and type coercions are errors.

    Strict mode rejects ``steps = true`` or ``p = "0.3"`` instead of reading them as 1 and 0.3;
    arrays (TOML gives lists) and paths (strings) opt out with ``strict=False`` on their field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


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
        (SegmentSpec(name="everyone", share=1.0),), min_length=1, max_length=64, strict=False
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
    path: Path = Field(strict=False)

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
    stages: tuple[str, ...] | None = Field(
        None,
        strict=False,
        min_length=2,
        max_length=64,
        description="own funnel: stage names in order",
    )
    customers: tuple[str, ...] | None = Field(
        None, strict=False, description="stages that count as customers"
    )
    sharers: tuple[str, ...] | None = Field(
        None, strict=False, description="stages whose consumers share"
    )
    ad_stages: tuple[str, ...] | None = Field(
        None, strict=False, description="stages ads can reach"
    )
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
                    f"transitions: key {name!r} must be 'src->dst' with stages from: "
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


# -------------------------------------------------------------------------------------------- brand
class BrandSpec(Spec):
    """The product and its economics."""

    price: float = Field(50.0, ge=0, description="price per purchase; currency (assumption)")
    margin: float = Field(
        20.0, ge=0, description="contribution margin per purchase; currency (assumption)"
    )
    repeat: float = Field(
        0.01, ge=0, le=1, description="probability a customer buys again per day (assumption)"
    )
    discount: float = Field(
        0.1, ge=0, le=10, description="discount rate for lifetime value; per year (assumption)"
    )

    @model_validator(mode="after")
    def _margin_below_price(self) -> BrandSpec:
        if self.margin > self.price:
            raise ValueError(f"margin must be <= price ({self.price}) (got {self.margin})")
        return self


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
    brand: BrandSpec = BrandSpec()
    levers: tuple[_lever_union(), ...] = Field((), max_length=50, strict=False)  # type: ignore[valid-type]

    @field_validator("network", mode="before")
    @classmethod
    def _default_kind(cls, net: Any) -> Any:
        # A [network] table without ``kind`` tunes the default generator.
        return {"kind": "watts_strogatz", **net} if isinstance(net, dict) else net

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems = self.network.check(self.population.n)
        names = {s.name for s in self.population.segments}
        funnel = self.funnel.funnel()
        for i, lever in enumerate(self.levers):
            problems += [f"levers.{i}.{p}" for p in lever.check(funnel, self.population.n)]
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
    part = r'"[^"]*"|[^."]+'
    if not eq or not re.fullmatch(rf"({part})(\.({part}))*", key.strip()):
        raise ScenarioError([f"--set {text!r}: expected KEY=VALUE, e.g. network.p=0.3"])
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return [p.strip('"') for p in re.findall(part, key.strip())], value


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
                if not part.isdecimal() or int(part) >= len(node):
                    raise ScenarioError([f"--set {text}: {here} is not an item (have {len(node)})"])
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ScenarioError(
                    [f"--set {text}: {'.'.join(path[:depth])} is a value, not a table"]
                )
        last = path[-1]
        if isinstance(node, list):
            if not last.isdecimal() or int(last) >= len(node):
                raise ScenarioError([f"--set {text}: no item {last} (have {len(node)})"])
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError([f"--set {text}: {'.'.join(path[:-1])} is a value, not a table"])
    return doc


def as_overrides(values: dict[str, Any]) -> list[str]:
    """``{"network.p": 0.3}`` -> ``["network.p=0.3"]`` for :func:`apply_overrides`."""
    return [f"{key}={_inline(value)}" for key, value in values.items()]


def _inline(value: Any) -> str:
    """A value as one line of TOML (JSON's scalars and arrays are TOML; tables are written out)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(_inline, value)) + "]"
    if isinstance(value, np.generic):  # numpy scalars from samplers and optimisers
        value = value.item()
    return json.dumps(value)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict, or a one-line ScenarioError."""
    path, name = Path(path), _file_name(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ScenarioError([f"{name}: no such file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{name}: is a directory, not a scenario file"]) from None
    except UnicodeDecodeError:
        raise ScenarioError([f"{name}: not a UTF-8 text file"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError([f"{name}: not valid TOML: {err}"]) from None
    except ValueError:  # a NUL byte in the name (after the two ValueError subclasses above)
        raise ScenarioError([f"{name}: no such file"]) from None
    except OSError as err:
        raise ScenarioError([f"{name}: cannot read: {err.strerror}"]) from None


def _file_name(path: str | Path) -> str:
    """A file name for a one-line message: as is if printable, else quoted with escapes."""
    return str(path) if str(path).isprintable() else repr(str(path))


def scenario_from_dict(doc: dict[str, Any], base_dir: Path | None = None) -> Scenario:
    """Validate a scenario document; relative edge-list paths are taken from ``base_dir``."""
    net = doc.get("network")
    if isinstance(net, dict) and isinstance(net.get("path"), str) and base_dir is not None:
        # abspath, not resolve(): pure text, so a malformed path is reported, not raised on
        doc = {**doc, "network": {**net, "path": os.path.abspath(base_dir / net["path"])}}
    try:
        return Scenario.model_validate(doc)
    except ValidationError as err:
        raise ScenarioError(format_errors(err, Scenario)) from None


def read_scenario_doc(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A scenario file as a dict, with ``extends = "other.toml"`` resolved.

    A scenario may extend another (a path relative to it): its tables are merged key by key over
    the base's, and any other value (lists such as ``levers`` included) replaces the base's. So a
    strategy file states only what differs from its market.
    """
    try:
        path = Path(path).resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a symlink loop
        raise ScenarioError([f"{_file_name(path)}: no such file"]) from None
    if path in _seen:
        raise ScenarioError(
            [f"{path}: extends itself through {' -> '.join(p.name for p in _seen)}"]
        )
    doc = read_toml(path)
    net = doc.get("network")
    if isinstance(net, dict) and isinstance(net.get("path"), str):  # relative to its own file
        doc["network"] = {**net, "path": str(path.parent / net["path"])}
    base = doc.pop("extends", None)
    if base is None:
        return doc
    if not isinstance(base, str):
        raise ScenarioError([f"extends: must be a file name (got {base!r})"])
    merged = read_scenario_doc(path.parent / base, (*_seen, path))
    merged.pop("name", None)
    merged.pop("description", None)
    return _merge(merged, doc)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both_tables = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merge(base[key], value) if both_tables else value
    return out


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file; raise ScenarioError listing every problem."""
    doc = apply_overrides(read_scenario_doc(path), list(overrides))
    doc.setdefault("name", Path(path).stem)
    return scenario_from_dict(doc, Path(path).parent)


# ----------------------------------------------------------------------------------- error messages
def format_errors(err: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem: ``field: what is wrong (got value)``."""
    lines = []
    errors = err.errors(include_url=False)
    for e in errors:
        if e["type"] == "too_short" and any(
            o["loc"][: len(e["loc"])] == e["loc"] and o is not e for o in errors
        ):
            continue  # a list whose bad items were reported counts as too short: say it once
        loc, model = _readable_loc(e["loc"], root)
        kind, msg, value = e["type"], e["msg"], e.get("input")
        if kind == "extra_forbidden":
            allowed = ", ".join(model.model_fields) if model else "?"
            lines.append(f"unknown field {loc!r}; allowed here: {allowed}")
        elif kind == "union_tag_invalid":
            tags = e.get("ctx", {}).get("expected_tags", "")
            what = "lever" if loc.startswith("levers") else "kind"
            lines.append(
                f"{loc}.kind: unknown {what} {_short(value.get('kind'))}; choose one of: "
                f"{tags.replace(chr(39), '')}"
            )
        elif kind == "union_tag_not_found":
            lines.append(f"{loc}: missing 'kind'")
        elif kind == "missing":
            lines.append(f"{loc}: required field missing")
        elif kind == "value_error":
            lines += [_at(loc, line) for line in msg.removeprefix("Value error, ").split("\n")]
        else:
            shown = "a table" if isinstance(value, dict) else _short(value)
            lines.append(f"{loc}: {_PLAIN.get(kind, msg[0].lower() + msg[1:])} (got {shown})")
    return lines or [str(err)]


_PLAIN = {  # pydantic's wording names Python types; say it in TOML's
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "tuple_type": "must be an array",
    "list_type": "must be an array",
}


def _short(value: Any, width: int = 60) -> str:
    """``repr(value)``, cut to ``width`` characters so that one problem stays one short line."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _at(loc: str, line: str) -> str:
    """A validator's message prefixed with the field path it was raised at, unless it names one."""
    top = loc.split(".")[0]
    if not loc or line.startswith((f"{top}.", f"{top} ")):
        return line
    head, sep, rest = line.partition(": ")
    if sep and head.isidentifier():  # "transitions: key ..." raised at funnel
        return f"{loc}.{head}: {rest}"
    return f"{loc}: {line}"


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


# ---------------------------------------------------------------------------------- parameter table
class ParameterRow(typing.NamedTuple):
    """One scenario parameter, as ``docs/model.md``'s parameter table lists it.

    ``kind`` is the network or lever kind the parameter belongs to ("" if any); ``default`` is TOML
    text (``none``: unset, ``required``: no default).
    """

    name: str
    kind: str
    default: str
    description: str


def parameter_rows() -> list[ParameterRow]:
    """Every scenario parameter, in declaration order, for ``docs/model.md``'s parameter table.

    List items appear as ``N`` (``levers.N.reach``) and table keys as ``KEY``
    (``funnel.transitions.KEY.base``); a tagged union gives its ``kind``, the fields all kinds
    share, then each kind's own fields.
    """
    return _model_rows(Scenario, "", "")


def _model_rows(
    model: type[BaseModel], prefix: str, kind: str, skip: tuple[str, ...] = ()
) -> list[ParameterRow]:
    return [
        row
        for name, field in model.model_fields.items()
        if name not in skip
        for row in _value_rows(field.annotation, prefix + name, kind, field)
    ]


def _value_rows(ann: Any, path: str, kind: str, field: Any) -> list[ParameterRow]:
    """Rows of one value: a leaf, a sub-table, a list or table of tables, or a tagged union."""
    default = (
        "required"
        if field is None or field.is_required()
        else _toml_text(field.get_default(call_default_factory=True))
    )
    description = (field.description or "") if field is not None else ""
    members = _members(ann)
    models = [m for m in members if _is_model(m)]
    if models and _kind_of(models[0]) is not None:
        base = next(
            c
            for c in models[0].__mro__
            if _is_model(c) and _kind_of(c) is None and all(issubclass(m, c) for m in models)
        )
        chosen = (
            default if default == "required" else _toml_text(_kind_of(type(field.get_default())))
        )
        kinds = ", ".join(str(_kind_of(m)) for m in models)
        rows = [ParameterRow(f"{path}.kind", kind, chosen, f"one of: {kinds}")]
        rows += _model_rows(base, f"{path}.", kind, skip=("kind",))
        for m in models:
            inherited = base.model_fields
            own = [
                n
                for n, f in m.model_fields.items()
                if n != "kind" and (n not in inherited or f.default != inherited[n].default)
            ]
            skip = tuple(n for n in m.model_fields if n not in own)
            rows += _model_rows(m, f"{path}.", str(_kind_of(m)), skip=skip)
        return rows
    if models:
        return _model_rows(models[0], f"{path}.", kind)
    for container in members:
        origin = typing.get_origin(container)
        if origin in (tuple, list, dict):
            item = typing.get_args(container)[-1 if origin is dict else 0]
            if any(_is_model(m) for m in _members(item)):
                key = "KEY" if origin is dict else "N"
                head = ParameterRow(path, kind, default, description)
                return [head, *_value_rows(item, f"{path}.{key}", kind, None)]
    return [ParameterRow(path, kind, default, description)]


def _toml_text(value: Any) -> str:
    """A default as TOML-like text; ``none`` stands for unset."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | Path):
        return f'"{value}"'
    if isinstance(value, BaseModel):
        return _toml_text(value.model_dump(exclude_defaults=True))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return repr(value)
