"""Drift: a run's metrics against the job's rules and history. Pure.

``sigma`` rules flag a value outside mean ± k·sd of the metric in the last ``window``
earlier runs (sample standard deviation; nothing is flagged before ``min_history``
earlier values exist). ``bounds`` rules flag a value below ``min`` or above ``max``.
A rule whose metric the run did not record is flagged as ``missing``: a pipeline that
silently stopped producing its number has drifted too.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from .model import DriftRule


def _flag(rule: DriftRule, value: float | None, low: float | None, high: float | None,
          message: str) -> dict[str, Any]:
    return {"metric": rule.metric, "rule": rule.kind, "value": value, "low": low,
            "high": high, "message": message}


def _range(low: float | None, high: float | None) -> str:
    if low is None:
        return f"at most {high:g}"
    if high is None:
        return f"at least {low:g}"
    return f"within [{low:g}, {high:g}]"


def _sigma(rule: DriftRule, value: float, history: Sequence[float]) -> dict[str, Any] | None:
    recent = list(history)[-rule.window:]
    if len(recent) < rule.min_history:
        return None
    mean, sd = statistics.fmean(recent), statistics.stdev(recent)
    low, high = mean - rule.k * sd, mean + rule.k * sd
    if low <= value <= high:
        return None
    return _flag(rule, value, low, high,
                 f"{rule.metric} = {value:g} is outside mean ± {rule.k:g}·sd of the last "
                 f"{len(recent)} runs ({_range(low, high)}; mean {mean:g}, sd {sd:g})")


def _bounds(rule: DriftRule, value: float) -> dict[str, Any] | None:
    if (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max):
        return None
    return _flag(rule, value, rule.min, rule.max,
                 f"{rule.metric} = {value:g} is not {_range(rule.min, rule.max)}")


def evaluate(rules: Sequence[DriftRule], values: Mapping[str, float],
             history: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    """Flags for one run: ``values`` are its metrics, ``history`` each metric's values
    in earlier runs, oldest first. An empty list: no drift."""
    flags = []
    for rule in rules:
        value = values.get(rule.metric)
        if value is None:
            flags.append(_flag(rule, None, None, None,
                               f"{rule.metric} was not recorded by this run"))
            continue
        flag = (_sigma(rule, value, history.get(rule.metric, ())) if rule.kind == "sigma"
                else _bounds(rule, value))
        if flag:
            flags.append(flag)
    return flags
