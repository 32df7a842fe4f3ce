"""Emotion metrics from summable statistics (pure python / numpy: no torch).

Two kinds of functions, shared by the criterion (which sums statistics over batches and workers)
and by ``scripts/score_predictions.py`` (which reads saved predictions):

* ``*_stats(...)`` turn lists of predictions and targets into a flat ``{name: number}`` dict of
  counts and sums; stats of two halves of a split add up to the stats of the whole split;
* ``*_metrics(stats)`` turn (summed) stats into metrics, fractions in [0, 1].

Statistic names are listed by :func:`stat_keys`. Conventions:

* binary F1 is sklearn's ``f1_score(average="weighted")``: per-class F1 weighted by the class's
  support, 0 for a class whose F1 is undefined;
* multiclass ``ua`` is the mean recall over the classes present in the targets, ``wa`` the
  overall accuracy; the recall of a class absent from the targets is ``None``;
* regression follows MulT's ``eval_mosei_senti``: Acc7/Acc5 round predictions and targets
  clipped to [-3, 3] / [-2, 2] (numpy rounding, half to even); ``*_nonzero`` is positive (> 0)
  vs negative over targets != 0, ``*_haszero`` is non-negative (>= 0) vs negative over all.
"""
import math

import numpy as np

from emotion_tasks.labels import EMOTIONS

CONFUSION = ("tp", "fp", "fn", "tn")  # binary confusion counts, positive class = 1
REGRESSION_SUMS = ("n", "abs_err", "sum_x", "sum_y", "sum_xx", "sum_yy", "sum_xy", "acc7", "acc5")


def stat_keys(protocol):
    """Names of the summable statistics of a protocol (iemocap_binary, multiclass or regression)."""
    if protocol == "iemocap_binary":
        return [f"{e}_{c}" for e in EMOTIONS for c in CONFUSION]
    if protocol == "multiclass":
        return [f"cm_{t}_{p}" for t in EMOTIONS for p in EMOTIONS]  # cm_<target>_<prediction>
    if protocol == "regression":
        return list(REGRESSION_SUMS) + [f"{b}_{c}" for b in ("nonzero", "haszero") for c in CONFUSION]
    raise ValueError(f"unknown protocol {protocol!r}; expected iemocap_binary, multiclass or regression")


# ----------------------------------------------------------------------------- predictions -> stats
def binary_confusion(preds, targets):
    """{tp, fp, fn, tn} of 0/1 (or bool) predictions against 0/1 targets."""
    p = np.asarray(preds, dtype=bool)
    t = np.asarray(targets, dtype=bool)
    return {"tp": int(np.sum(p & t)), "fp": int(np.sum(p & ~t)),
            "fn": int(np.sum(~p & t)), "tn": int(np.sum(~p & ~t))}


def iemocap_binary_stats(preds, targets):
    """Stats from (N, 4) 0/1 predictions and targets (columns in EMOTIONS order)."""
    p = np.asarray(preds, dtype=np.int64).reshape(-1, len(EMOTIONS))
    t = np.asarray(targets, dtype=np.int64).reshape(-1, len(EMOTIONS))
    stats = {}
    for i, emotion in enumerate(EMOTIONS):
        for name, count in binary_confusion(p[:, i], t[:, i]).items():
            stats[f"{emotion}_{name}"] = count
    return stats


def multiclass_stats(preds, targets):
    """Stats (confusion counts) from class indices (into EMOTIONS) of predictions and targets."""
    p = np.asarray(preds, dtype=np.int64).reshape(-1)
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    k = len(EMOTIONS)
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    return {f"cm_{EMOTIONS[i]}_{EMOTIONS[j]}": int(cm[i, j]) for i in range(k) for j in range(k)}


def regression_stats(preds, targets):
    """Stats from float sentiment predictions and targets."""
    x = np.asarray(preds, dtype=np.float64).reshape(-1)
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    stats = {
        "n": int(x.size), "abs_err": float(np.abs(x - y).sum()),
        "sum_x": float(x.sum()), "sum_y": float(y.sum()),
        "sum_xx": float((x * x).sum()), "sum_yy": float((y * y).sum()), "sum_xy": float((x * y).sum()),
        "acc7": int(np.sum(np.round(np.clip(x, -3, 3)) == np.round(np.clip(y, -3, 3)))),
        "acc5": int(np.sum(np.round(np.clip(x, -2, 2)) == np.round(np.clip(y, -2, 2)))),
    }
    nonzero = y != 0
    for name, count in binary_confusion(x[nonzero] > 0, y[nonzero] > 0).items():
        stats[f"nonzero_{name}"] = count
    for name, count in binary_confusion(x >= 0, y >= 0).items():
        stats[f"haszero_{name}"] = count
    return stats


# ----------------------------------------------------------------------------- stats -> metrics
def _ratio(num, den):
    return float(num) / float(den) if den else 0.0


def binary_accuracy(tp, fp, fn, tn):
    """Accuracy of a binary confusion; 0 when empty."""
    return _ratio(tp + tn, tp + fp + fn + tn)


def weighted_f1(tp, fp, fn, tn):
    """sklearn ``f1_score(average="weighted")`` of a binary confusion (labels 0 and 1)."""
    f1_pos = _ratio(2 * tp, 2 * tp + fp + fn)  # F1 of class 1, 0 when undefined
    f1_neg = _ratio(2 * tn, 2 * tn + fn + fp)  # F1 of class 0 (its tp are our tn)
    return _ratio(f1_pos * (tp + fn) + f1_neg * (tn + fp), tp + fp + fn + tn)


def _confusion(stats, prefix):
    return [stats.get(f"{prefix}_{c}", 0) for c in CONFUSION]


def iemocap_binary_metrics(stats):
    """{emotion: {"acc", "f1"}} for each emotion, from :func:`iemocap_binary_stats` sums."""
    return {e: {"acc": binary_accuracy(*_confusion(stats, e)), "f1": weighted_f1(*_confusion(stats, e))}
            for e in EMOTIONS}


def multiclass_metrics(stats):
    """{"ua", "wa", "per_class": {emotion: recall or None}} from :func:`multiclass_stats` sums."""
    cm = np.array([[stats.get(f"cm_{t}_{p}", 0) for p in EMOTIONS] for t in EMOTIONS], dtype=np.float64)
    support = cm.sum(axis=1)
    per_class = {e: (float(cm[i, i] / support[i]) if support[i] else None) for i, e in enumerate(EMOTIONS)}
    present = [r for r in per_class.values() if r is not None]
    return {"ua": float(np.mean(present)) if present else 0.0,
            "wa": _ratio(np.trace(cm), cm.sum()),
            "per_class": per_class}


def regression_metrics(stats):
    """MulT-style sentiment metrics from :func:`regression_stats` sums."""
    n = stats.get("n", 0)
    sx, sy = stats.get("sum_x", 0.0), stats.get("sum_y", 0.0)
    var_x = n * stats.get("sum_xx", 0.0) - sx * sx
    var_y = n * stats.get("sum_yy", 0.0) - sy * sy
    cov = n * stats.get("sum_xy", 0.0) - sx * sy
    corr = cov / math.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else 0.0
    nonzero, haszero = _confusion(stats, "nonzero"), _confusion(stats, "haszero")
    return {
        "acc7": _ratio(stats.get("acc7", 0), n),
        "acc5": _ratio(stats.get("acc5", 0), n),
        "acc2_nonzero": binary_accuracy(*nonzero),
        "f1_nonzero": weighted_f1(*nonzero),
        "acc2_haszero": binary_accuracy(*haszero),
        "f1_haszero": weighted_f1(*haszero),
        "mae": _ratio(stats.get("abs_err", 0.0), n),
        "corr": float(corr),
    }


STATS = {"iemocap_binary": iemocap_binary_stats, "multiclass": multiclass_stats, "regression": regression_stats}
METRICS = {"iemocap_binary": iemocap_binary_metrics, "multiclass": multiclass_metrics,
           "regression": regression_metrics}


def add_stats(total, stats):
    """Add ``stats`` into ``total`` in place (missing keys count as 0) and return ``total``."""
    for key, value in stats.items():
        total[key] = total.get(key, 0) + value
    return total


def flatten_metrics(metrics, prefix=""):
    """Nested metric dict -> flat ``{"happy_f1": .., "per_class_sad": ..}`` (None kept)."""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
