"""Metric arithmetic on summable statistics (numpy only), used by every label space.

The criterion sums statistics over batches and workers and the scorer over a predictions file;
both derive the metrics with these functions, so the two agree exactly. Statistics are counts and
sums that add up across the halves of a split: binary confusion counts, confusion matrices, and
for scores n, sum|x - y|, sum x, sum y, sum x^2, sum y^2, sum xy.

Conventions (each tested against scikit-learn, or the textbook formula where it has none):

* binary ``f1`` is ``f1_score(y_true, y_pred, average="weighted")`` over the labels 0 and 1: each
  class's F1 weighted by its support in the targets, 0 for a class whose F1 is undefined. MMSA and
  the paper's original code compute this; MulT's ``eval_mosei_senti`` calls
  ``f1_score(binary_preds, binary_truth, average="weighted")`` with the arguments swapped, which
  weights by the *predicted* class counts and gives other values on skewed predictions;
* categorical ``wa`` (weighted accuracy) is the overall accuracy and ``ua`` (unweighted accuracy)
  the mean recall over the classes present in the targets (``balanced_accuracy_score``); per-class
  precision, recall and F1 are 0 where undefined (``zero_division=0``); ``macro_f1`` averages F1 over
  the classes present in the targets or the predictions (``f1_score(average="macro")``),
  ``weighted_f1`` weights F1 by support;
* ``ccc`` is Lin's concordance correlation coefficient with population (biased) moments:
  2 cov / (var x + var y + (mean x - mean y)^2); ``pearson`` the correlation, 0 when undefined.
"""
import math

import numpy as np

CONFUSION = ("tp", "fp", "fn", "tn")  # binary confusion counts, positive class = 1
MOMENTS = ("n", "abs_err", "sum_x", "sum_y", "sum_xx", "sum_yy", "sum_xy")  # sums of a score (x: pred, y: target)


def ratio(num, den):
    """``num / den`` as a float, 0 when ``den`` is 0."""
    return float(num) / float(den) if den else 0.0


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


# ----------------------------------------------------------------------------------------- binary
def binary_confusion(preds, targets):
    """{tp, fp, fn, tn} of 0/1 (or bool) predictions against 0/1 targets."""
    p = np.asarray(preds, dtype=bool)
    t = np.asarray(targets, dtype=bool)
    return {"tp": int(np.sum(p & t)), "fp": int(np.sum(p & ~t)),
            "fn": int(np.sum(~p & t)), "tn": int(np.sum(~p & ~t))}


def binary_accuracy(tp, fp, fn, tn):
    """Accuracy of a binary confusion; 0 when empty."""
    return ratio(tp + tn, tp + fp + fn + tn)


def weighted_f1(tp, fp, fn, tn):
    """sklearn ``f1_score(y_true, y_pred, average="weighted")`` of a binary confusion (labels 0 and 1)."""
    f1_pos = ratio(2 * tp, 2 * tp + fp + fn)  # F1 of class 1, 0 when undefined
    f1_neg = ratio(2 * tn, 2 * tn + fn + fp)  # F1 of class 0 (its tp are our tn)
    return ratio(f1_pos * (tp + fn) + f1_neg * (tn + fp), tp + fp + fn + tn)


def confusion_of(stats, prefix):
    """The (tp, fp, fn, tn) counts stored under ``prefix_tp`` ... in ``stats`` (0 when missing)."""
    return [stats.get(f"{prefix}_{c}", 0) for c in CONFUSION]


# ----------------------------------------------------------------------------------------- categorical
def confusion_matrix(preds, targets, k):
    """(k, k) counts, rows = target class index, columns = predicted class index."""
    p = np.asarray(preds, dtype=np.int64).reshape(-1)
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def categorical_metrics(matrix, names):
    """WA, UA, macro/weighted F1, per-class precision/recall/F1/support and the confusion matrix."""
    cm = np.asarray(matrix, dtype=np.float64)
    support, predicted, hits = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    precision = [ratio(h, p) for h, p in zip(hits, predicted)]
    recall = [ratio(h, s) for h, s in zip(hits, support)]
    f1 = [ratio(2 * p * r, p + r) for p, r in zip(precision, recall)]
    present = support > 0
    seen = present | (predicted > 0)
    return {
        "wa": ratio(hits.sum(), cm.sum()),
        "ua": float(np.mean(np.asarray(recall)[present])) if present.any() else 0.0,
        "macro_f1": float(np.mean(np.asarray(f1)[seen])) if seen.any() else 0.0,
        "weighted_f1": ratio(float(np.dot(f1, support)), support.sum()),
        "per_class": {name: {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": int(support[i])}
                      for i, name in enumerate(names)},
        "confusion": {"labels": list(names), "matrix": [[int(v) for v in row] for row in cm]},
    }


# ----------------------------------------------------------------------------------------- scores
def moment_stats(preds, targets, prefix=""):
    """The MOMENTS sums of float predictions x against targets y, keys prefixed by ``prefix``."""
    x = np.asarray(preds, dtype=np.float64).reshape(-1)
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    sums = {"n": int(x.size), "abs_err": float(np.abs(x - y).sum()), "sum_x": float(x.sum()),
            "sum_y": float(y.sum()), "sum_xx": float((x * x).sum()), "sum_yy": float((y * y).sum()),
            "sum_xy": float((x * y).sum())}
    return {f"{prefix}{k}": v for k, v in sums.items()}


def moment_metrics(stats, prefix=""):
    """{"mae", "pearson", "ccc"} from the MOMENTS sums stored under ``prefix``."""
    n = stats.get(f"{prefix}n", 0)
    if not n:
        return {"mae": 0.0, "pearson": 0.0, "ccc": 0.0}
    sx, sy = stats.get(f"{prefix}sum_x", 0.0), stats.get(f"{prefix}sum_y", 0.0)
    mean_x, mean_y = sx / n, sy / n
    var_x = max(stats.get(f"{prefix}sum_xx", 0.0) / n - mean_x * mean_x, 0.0)  # population moments
    var_y = max(stats.get(f"{prefix}sum_yy", 0.0) / n - mean_y * mean_y, 0.0)
    cov = stats.get(f"{prefix}sum_xy", 0.0) / n - mean_x * mean_y
    pearson = cov / math.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else 0.0
    denominator = var_x + var_y + (mean_x - mean_y) ** 2
    return {"mae": stats.get(f"{prefix}abs_err", 0.0) / n, "pearson": float(pearson),
            "ccc": float(2 * cov / denominator) if denominator > 0 else 0.0}
