"""Drift rules: mean ± k·sd of the last N runs, fixed bounds, missing metrics."""

from __future__ import annotations

import statistics

import pytest

from assay.jobs.drift import evaluate
from assay.jobs.model import DriftRule

HISTORY = [0.90, 0.91, 0.89, 0.92, 0.90, 0.91]  # mean 0.905, sd ≈ 0.0105


def sigma(**kwargs) -> DriftRule:
    return DriftRule(metric="auc", kind="sigma", **kwargs)


def test_within_the_band_is_not_drift():
    assert evaluate([sigma(k=3)], {"auc": 0.93}, {"auc": HISTORY}) == []


def test_outside_the_band_is_flagged_with_numbers():
    [flag] = evaluate([sigma(k=3)], {"auc": 0.80}, {"auc": HISTORY})
    mean, sd = statistics.fmean(HISTORY), statistics.stdev(HISTORY)
    assert flag["metric"] == "auc" and flag["rule"] == "sigma" and flag["value"] == 0.80
    assert flag["low"] == pytest.approx(mean - 3 * sd)
    assert flag["high"] == pytest.approx(mean + 3 * sd)
    assert flag["message"].startswith("auc = 0.8 is outside mean ± 3·sd of the last 6 runs "
                                      "(within [0.873")


def test_k_decides():
    value = 0.925  # ≈ 1.9 sd above the mean
    assert evaluate([sigma(k=2)], {"auc": value}, {"auc": HISTORY}) == []
    assert len(evaluate([sigma(k=1.5)], {"auc": value}, {"auc": HISTORY})) == 1


def test_only_the_last_window_runs_count():
    history = [0.1, 0.1, 0.1, 0.1] + HISTORY  # an old regime, outside the window
    assert evaluate([sigma(window=6)], {"auc": 0.90}, {"auc": history}) == []
    assert len(evaluate([sigma(window=6)], {"auc": 0.5}, {"auc": history})) == 1
    assert evaluate([sigma(window=10)], {"auc": 0.5}, {"auc": history}) == []


def test_too_little_history_flags_nothing():
    assert evaluate([sigma(min_history=3)], {"auc": 99.0}, {"auc": [0.9, 0.91]}) == []
    assert evaluate([sigma(min_history=3)], {"auc": 99.0}, {}) == []


def test_constant_history_flags_any_change():
    assert evaluate([sigma()], {"auc": 0.9}, {"auc": [0.9] * 5}) == []
    assert len(evaluate([sigma()], {"auc": 0.9001}, {"auc": [0.9] * 5})) == 1


@pytest.mark.parametrize(("value", "flagged", "message"), [
    (0.85, False, None),
    (0.80, False, None),  # bounds are inclusive
    (0.79, True, "auc = 0.79 is not within [0.8, 0.95]"),
    (0.96, True, "auc = 0.96 is not within [0.8, 0.95]"),
])
def test_bounds(value, flagged, message):
    flags = evaluate([DriftRule(metric="auc", kind="bounds", min=0.8, max=0.95)],
                     {"auc": value}, {})
    assert bool(flags) is flagged
    if flagged:
        assert flags[0]["message"] == message


def test_one_sided_bounds():
    low = DriftRule(metric="loss", kind="bounds", max=1.0)
    assert evaluate([low], {"loss": 1.5}, {})[0]["message"] == "loss = 1.5 is not at most 1"
    high = DriftRule(metric="n", kind="bounds", min=100)
    assert evaluate([high], {"n": 5}, {})[0]["message"] == "n = 5 is not at least 100"


def test_a_metric_not_recorded_is_flagged():
    [flag] = evaluate([sigma()], {"loss": 0.1}, {"auc": HISTORY})
    assert (flag["value"], flag["message"]) == (None, "auc was not recorded by this run")


def test_several_rules():
    rules = [sigma(), DriftRule(metric="auc", kind="bounds", min=0.5),
             DriftRule(metric="rows", kind="bounds", min=1000)]
    flags = evaluate(rules, {"auc": 0.6, "rows": 10}, {"auc": HISTORY})
    assert [(f["metric"], f["rule"]) for f in flags] == [("auc", "sigma"), ("rows", "bounds")]
