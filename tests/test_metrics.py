"""Metrics from summable statistics: hand-computed cases, sklearn / MulT semantics, additivity."""
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from emotion_core import metrics as M
from emotion_tasks.labels import EMOTIONS


def test_weighted_f1_hand_computed():
    # targets 1 1 1 0 0, preds 1 1 0 0 1: tp 2, fn 1, tn 1, fp 1
    # F1(1) = 4/6, F1(0) = 2/4, weighted by support 3 and 2: (4/6*3 + 1/2*2) / 5 = 0.6
    assert M.binary_confusion([1, 1, 0, 0, 1], [1, 1, 1, 0, 0]) == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    assert M.weighted_f1(2, 1, 1, 1) == pytest.approx(0.6)
    assert M.binary_accuracy(2, 1, 1, 1) == pytest.approx(0.6)


@pytest.mark.parametrize("seed", range(5))
def test_binary_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    preds, targets = rng.integers(0, 2, (30, 4)), rng.integers(0, 2, (30, 4))
    targets[:, 3] = 0  # an emotion that never occurs: F1 of class 1 undefined (0, as sklearn)
    result = M.iemocap_binary_metrics(M.iemocap_binary_stats(preds, targets))
    for i, emotion in enumerate(EMOTIONS):
        assert result[emotion]["acc"] == pytest.approx(accuracy_score(targets[:, i], preds[:, i]))
        expected = f1_score(targets[:, i], preds[:, i], average="weighted", labels=[0, 1], zero_division=0)
        assert result[emotion]["f1"] == pytest.approx(expected)


def test_binary_all_correct_and_all_wrong():
    targets = np.eye(4, dtype=int)[[0, 1, 2, 3, 1, 2]]
    right = M.iemocap_binary_metrics(M.iemocap_binary_stats(targets, targets))
    wrong = M.iemocap_binary_metrics(M.iemocap_binary_stats(1 - targets, targets))
    for emotion in EMOTIONS:
        assert right[emotion] == {"acc": 1.0, "f1": 1.0}
        assert wrong[emotion] == {"acc": 0.0, "f1": 0.0}


def test_multiclass_hand_computed():
    targets = [0, 0, 0, 0, 1, 1, 2, 3]  # neutral x4, happy x2, sad, angry
    preds = [0, 0, 0, 1, 1, 0, 2, 0]
    result = M.multiclass_metrics(M.multiclass_stats(preds, targets))
    assert result["per_class"] == {"neutral": 0.75, "happy": 0.5, "sad": 1.0, "angry": 0.0}
    assert result["ua"] == pytest.approx((0.75 + 0.5 + 1.0 + 0.0) / 4)
    assert result["wa"] == pytest.approx(5 / 8)


def test_multiclass_absent_class_and_extremes():
    result = M.multiclass_metrics(M.multiclass_stats([0, 1, 1], [0, 1, 1]))
    assert result["per_class"]["sad"] is None and result["ua"] == 1.0 and result["wa"] == 1.0
    wrong = M.multiclass_metrics(M.multiclass_stats([1, 2, 3, 0], [0, 1, 2, 3]))
    assert wrong["ua"] == 0.0 and wrong["wa"] == 0.0


def _mult_eval(preds, truths):
    """MulT's eval_mosei_senti (src/eval_metrics.py), restated with numpy + sklearn."""
    non_zeros = np.array([i for i, e in enumerate(truths) if e != 0])
    a7 = np.mean(np.round(np.clip(preds, -3, 3)) == np.round(np.clip(truths, -3, 3)))
    a5 = np.mean(np.round(np.clip(preds, -2, 2)) == np.round(np.clip(truths, -2, 2)))
    return {
        "acc7": a7, "acc5": a5, "mae": np.mean(np.abs(preds - truths)), "corr": np.corrcoef(preds, truths)[0][1],
        "f1_nonzero": f1_score(truths[non_zeros] > 0, preds[non_zeros] > 0, average="weighted"),
        "acc2_nonzero": accuracy_score(truths[non_zeros] > 0, preds[non_zeros] > 0),
        "f1_haszero": f1_score(truths >= 0, preds >= 0, average="weighted"),
        "acc2_haszero": accuracy_score(truths >= 0, preds >= 0),
    }


@pytest.mark.parametrize("seed", range(3))
def test_regression_matches_mult(seed):
    rng = np.random.default_rng(seed)
    truths = np.round(rng.uniform(-3, 3, 50) * 3) / 3
    truths[:5] = 0.0  # zero-sentiment segments
    preds = truths + rng.normal(0, 1, 50)
    result = M.regression_metrics(M.regression_stats(preds, truths))
    for key, value in _mult_eval(preds, truths).items():
        assert result[key] == pytest.approx(value, abs=1e-9), key


def test_regression_hand_computed():
    preds, truths = [2.6, -0.4, 0.0, 3.9], [3.0, 1.0, 0.0, 2.2]
    r = M.regression_metrics(M.regression_stats(preds, truths))
    # rounded clipped [-3,3]: 3 vs 3, -0 vs 1, 0 vs 0, 3 vs 2 -> 2/4; clipped [-2,2]: 2 vs 2, -0 vs 1, 0 vs 0, 2 vs 2 -> 3/4
    assert r["acc7"] == 0.5 and r["acc5"] == 0.75
    assert r["mae"] == pytest.approx((0.4 + 1.4 + 0.0 + 1.7) / 4)
    # non-zero targets (3, 1, 2.2 all positive), preds > 0: T F T -> 2/3
    assert r["acc2_nonzero"] == pytest.approx(2 / 3)
    # has-zero: all targets >= 0, preds >= 0: T F T T -> 3/4
    assert r["acc2_haszero"] == 0.75
    assert r["corr"] == pytest.approx(np.corrcoef(preds, truths)[0, 1])


def test_regression_all_correct():
    truths = [-2.0, -1.0, 0.0, 1.0, 3.0]
    r = M.regression_metrics(M.regression_stats(truths, truths))
    assert r["mae"] == 0.0 and r["corr"] == pytest.approx(1.0)
    assert all(r[k] == 1.0 for k in ("acc7", "acc5", "acc2_nonzero", "f1_nonzero", "acc2_haszero", "f1_haszero"))


@pytest.mark.parametrize("protocol", ["iemocap_binary", "multiclass", "regression"])
def test_stats_add_up_over_batches(protocol):
    rng = np.random.default_rng(0)
    if protocol == "iemocap_binary":
        preds, targets = rng.integers(0, 2, (40, 4)), rng.integers(0, 2, (40, 4))
    elif protocol == "multiclass":
        preds, targets = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    else:
        preds, targets = rng.normal(0, 2, 40), np.round(rng.uniform(-3, 3, 40))
    total = {}
    for start in range(0, 40, 7):
        M.add_stats(total, M.STATS[protocol](preds[start:start + 7], targets[start:start + 7]))
    assert set(total) == set(M.stat_keys(protocol))
    whole = M.METRICS[protocol](M.STATS[protocol](preds, targets))
    assert M.flatten_metrics(M.METRICS[protocol](total)) == pytest.approx(M.flatten_metrics(whole))
