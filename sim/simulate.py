"""``simulate``: one run as a pure function, for calibration, sensitivity analysis and optimisation.

Tools such as SALib, optuna and EMA Workbench call a model as a function of its inputs. This is
that function: a scenario, the values that change (dotted scenario keys, as ``--set`` takes them)
and a seed in; the run's outcomes out. It is picklable (a module-level function of plain data),
keeps no state between calls and never writes a file, so it runs the same in a process pool, on
a Dask worker or in a notebook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.scenario import Scenario, apply_overrides, as_overrides, scenario_from_dict


def with_params(scenario: Scenario, params: Mapping[str, Any]) -> Scenario:
    """``scenario`` with each dotted key of ``params`` set, validated like a scenario file.

    Raises:
        ScenarioError: a key or value the scenario does not accept (one line per problem).
    """
    if not params:
        return scenario
    return scenario_from_dict(apply_overrides(scenario.to_dict(), as_overrides(dict(params))))


def simulate(
    scenario: Scenario,
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    *,
    series: bool = False,
) -> dict[str, Any]:
    """Run ``scenario`` with ``params`` changed and return its outcomes.

    Args:
        scenario: the market and strategy (for example from :func:`sim.scenario.load_scenario`).
        params: dotted scenario keys to values, e.g. ``{"sharing.p_share": 0.4,
            "levers.0.reach": 0.05}``; nested values (tables, arrays) are allowed.
        seed: root seed of the run; default the scenario's. The same arguments give the same
            result, in any process.
        series: also return the per-step series under ``"series"`` (a pandas DataFrame).

    Returns:
        The outcomes of :func:`sim.metrics.outcomes` (``final_customers``, ``market_share``,
        ``cac``, ``roi``, ``viral_k``, ...), and ``"series"`` if asked for.

    Examples:
        >>> base = load_scenario("scenarios/baseline.toml")
        >>> simulate(base, {"sharing.p_share": 0.4}, seed=7)["market_share"]
        >>> simulate(base, seed=7, series=True)["series"]["cum_customers"]
    """
    from sim.model import MarketModel  # the engine compiles its kernels on first import

    model = MarketModel(with_params(scenario, params or {}), seed=seed).run()
    result = model.outcomes()
    if series:
        result["series"] = model.timeseries()
    return result
