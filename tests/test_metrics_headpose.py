"""Head-pose errors on hand-worked cases, and the metric names a protocol's ``metrics:`` list uses."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench.errors import HpbenchError
from hpbench.metrics import (
    compute_metrics,
    geodesic_errors,
    mean_absolute_errors,
    parse_metric,
)


def test_mae_hand_worked_without_wrapping():
    truth = np.array([[170.0, 0, 0], [10, 20, -30]])
    predicted = np.array([[-170.0, 5, 0], [12, 18, -27]])
    scores = mean_absolute_errors(predicted, truth)
    assert scores == {"mae_yaw": 171.0, "mae_pitch": 3.5, "mae_roll": 1.5, "mae": pytest.approx(176 / 3)}  # 340° stays


def test_mae_leaves_out_an_angle_the_truth_lacks_and_scores_in_a_convention():
    truth = np.array([[10.0, 20, np.nan], [0, 0, np.nan]])
    predicted = np.array([[12.0, 20, 5], [0, 4, 7]])
    scores = mean_absolute_errors(predicted, truth)
    assert np.isnan(scores["mae_roll"]) and scores["mae"] == pytest.approx((1 + 2) / 2)
    eth = compute_metrics(["mae", "geodesic"], predicted, truth, convention="eth-xgaze")
    assert set(eth) == {"mae_pitch", "mae_yaw", "mae", "geodesic"} and np.isnan(eth["geodesic"])


def test_geodesic_error_of_a_pure_turn():
    truth = np.array([[0.0, 0, 0], [20, 0, 0], [0, 0, 40]])
    predicted = np.array([[30.0, 0, 0], [20, 0, 0], [0, 0, -10]])
    np.testing.assert_allclose(geodesic_errors(predicted, truth), [30, 0, 50], atol=1e-6)


def test_metric_names_and_their_parameters():
    assert parse_metric("pck@0.2")[1] == {"alpha": 0.2} and parse_metric("mae")[1] == {}
    with pytest.raises(HpbenchError, match="takes no @ parameter"):
        parse_metric("mae@0.2")
    with pytest.raises(HpbenchError, match="needs its alpha"):
        parse_metric("pckh")
    with pytest.raises(HpbenchError, match="Did you mean 'mae' or 'maev'"):
        parse_metric("mave")
    with pytest.raises(HpbenchError, match="needs visible"):
        compute_metrics(["pck@0.2"], np.zeros((1, 14, 2)), np.zeros((1, 14, 2)))
