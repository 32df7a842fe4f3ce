"""Label spaces: how a model treats a set of labels, from a label file's line to metrics and inference.

One class per ``--target-type``; each knows its head shape, how to parse a target from a label
line, its loss, how to decode logits, its JSON form in ``--save-predictions``, its summable
statistics and metrics, its outputs for inference (named values, whether they are probabilities,
the names of the head's logits for explanations) and its plot panels. Nothing outside this module
compares target types.

* :class:`Categorical` (``categorical``; ``multiclass`` is the same with the paper's metric keys):
  one of N named classes; softmax and cross-entropy; WA, UA, macro and weighted F1, per-class
  precision/recall/F1/support, the confusion matrix.
* :class:`PerClassBinary` (``per_class_binary``; ``iemocap_binary``): one yes/no decision per named
  class (the paper's IEMOCAP protocol); two logits per class; per-class accuracy and weighted F1.
* :class:`Regression` (``regression``): one score, e.g. MOSI/MOSEI sentiment in [-3, 3]; L1, MSE or
  1 - CCC; Acc7, Acc5, Acc2 and F1 with and without zero-labelled segments, MAE, correlation.
* :class:`Dimensional` (``dimensional``): several named scores, e.g. arousal/valence/dominance;
  L1, MSE or 1 - CCC (the default); CCC, Pearson and MAE per dimension and the mean CCC.

>>> space = label_space("categorical", LabelInfo("categorical", ("neg", "neu", "pos")))
>>> space.head_shape, space.parse("pos", "labels:1"), space.to_json(0)
((3,), 2, 'neg')
"""
import warnings

import numpy as np
import torch.nn.functional as F

from emotion_core import metrics as M
from emotion_core.labels import DATA_KINDS, LabelError, LabelInfo, default_info
from emotion_core.numbers import is_finite_number, parse_number

TARGET_TYPES = ("categorical", "per_class_binary", "regression", "dimensional")
ALIASES = {"multiclass": "categorical", "iemocap_binary": "per_class_binary"}  # the paper's names, kept
ACCEPTED_TARGET_TYPES = TARGET_TYPES + tuple(ALIASES)
REGRESSION_LOSSES = ("default", "l1", "mse", "ccc")  # default: l1 for regression, ccc for dimensional


def ccc_loss(pred, target):
    """1 - CCC of one batch, per column: pred, target (B, D) -> (D,); population moments, as the metric."""
    if pred.size(0) < 2:
        warnings.warn("1 - CCC over a batch of one utterance is constant (no gradient): train with larger "
                      "batches or --regression-loss l1/mse", stacklevel=2)
    pred, target = pred.float(), target.float()
    mean_p, mean_t = pred.mean(0), target.mean(0)
    var_p, var_t = pred.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((pred - mean_p) * (target - mean_t)).mean(0)
    return 1 - 2 * cov / (var_p + var_t + (mean_p - mean_t) ** 2 + 1e-8)


def score_loss(pred, target, loss):
    """Summed L1 / MSE, or the batch size x sum over columns of 1 - CCC; pred, target (B,) or (B, D)."""
    if loss == "ccc":
        two_d = pred.view(pred.size(0), -1), target.view(target.size(0), -1)
        return ccc_loss(*two_d).sum() * pred.size(0)
    loss_fn = F.l1_loss if loss == "l1" else F.mse_loss
    return loss_fn(pred.float(), target.float(), reduction="sum")


class LabelSpace:
    """Base class; subclasses set ``kind`` and ``headline`` and implement every method."""

    kind = ""
    data_kind = ""  # the LabelInfo kind this space reads
    headline = ""  # the flat metric name a comparison uses by default
    has_probabilities = False  # outputs() are probabilities (written as "probs" by --save-predictions)
    independent_probabilities = False  # with probabilities: one P(yes) per class rather than a distribution
    has_zero_protocol = False  # scores whose zero-labelled segments a protocol leaves out (--exclude-zero)

    @staticmethod
    def infer_info(values):
        """The LabelInfo that target/prediction JSON ``values`` imply (scoring a file without labels.json)."""
        raise NotImplementedError

    def __init__(self, info: LabelInfo, target_type=None):
        if info.kind != self.data_kind:
            raise LabelError(f"--target-type {target_type or self.kind} needs {self.data_kind} labels, but the data's "
                             f"labels are {info.kind} ({', '.join(info.names) or 'scores'})")
        self.info = info
        self.names = info.names
        self.target_type = target_type or self.kind

    def describe(self):
        """{"target_type", "labels"}: what a checkpoint or a results file records of the label space."""
        return {"target_type": self.target_type, "labels": self.info.to_json()}

    def value_names(self):
        """Names of a prediction's values, in output order (see :meth:`values`)."""
        return list(self.names)

    def values(self, prediction):
        """A prediction as {name: float} in the order of :meth:`value_names`: what timelines plot and pages draw."""
        return {n: float(prediction[n]) for n in self.value_names()}

    def logit_names(self):
        """One name per logit of the head, in the order of its flattened output (explanations split each)."""
        return list(self.names)

    def _check_range(self, value, where):
        if self.info.value_range is not None and not self.info.value_range[0] <= value <= self.info.value_range[1]:
            raise ValueError(f"{where}: {value} is outside the labels' range {list(self.info.value_range)}")
        return value


class _Classes(LabelSpace):
    """Shared by the two class-based spaces: labels are class names."""

    data_kind = "categorical"
    has_probabilities = True

    def class_index(self, text, where):
        """Index of a class name; ValueError naming ``where`` for an unknown name."""
        try:
            return self.names.index(text.strip())
        except ValueError:
            raise ValueError(f"{where}: expected a class name from {list(self.names)} for --target-type "
                             f"{self.target_type}, got {text.strip()!r}") from None


class Categorical(_Classes):
    """One of N named classes (``legacy``: ``multiclass``'s metric keys ua, wa, per_class recall)."""

    kind = "categorical"
    headline = "ua"

    @staticmethod
    def infer_info(values):
        return LabelInfo("categorical", tuple(sorted({v for v in values if isinstance(v, str)})))

    def __init__(self, info, target_type=None):
        super().__init__(info, target_type)
        self.legacy = target_type == "multiclass"

    @property
    def head_shape(self):
        return (len(self.names),)

    def parse(self, text, where):
        return self.class_index(text, where)

    def loss(self, logits, target, regression_loss=None):  # logits (B, K), target (B,)
        return F.cross_entropy(logits.float(), target, reduction="sum")

    def decode(self, logits):
        return logits.argmax(dim=-1)

    def to_json(self, value):
        return self.names[int(value)]

    def from_json(self, value):
        if value not in self.names:
            raise ValueError(f"expected a class name from {list(self.names)}, got {value!r}")
        return self.names.index(value)

    def stat_keys(self):
        k = len(self.names)
        return [f"cm_{i}_{j}" for i in range(k) for j in range(k)]

    def stats(self, preds, targets):
        cm = M.confusion_matrix(preds, targets, len(self.names))
        return {f"cm_{i}_{j}": int(v) for (i, j), v in np.ndenumerate(cm)}

    def metrics(self, stats):
        k = len(self.names)
        matrix = [[stats.get(f"cm_{i}_{j}", 0) for j in range(k)] for i in range(k)]
        full = M.categorical_metrics(matrix, self.names)
        if self.legacy:
            return {"ua": full["ua"], "wa": full["wa"],
                    "per_class": {n: (c["recall"] if c["support"] else None) for n, c in full["per_class"].items()}}
        return full

    def loggable(self, metrics):
        per_class = metrics["per_class"]
        recall = {n: (c["recall"] if isinstance(c, dict) else c) for n, c in per_class.items()}
        out = {k: metrics[k] for k in ("wa", "ua", "macro_f1", "weighted_f1") if k in metrics}
        out.update({f"per_class_{n}": r for n, r in recall.items()})
        return out

    def correct(self, metric, preds, targets):
        """Per-utterance 0/1 of an accuracy-type metric (its mean is the metric), else None."""
        if metric != "wa":
            return None
        return np.asarray(preds).reshape(-1) == np.asarray(targets).reshape(-1)

    def outputs(self, logits):
        return [dict(zip(self.names, map(float, row))) for row in logits.float().softmax(-1)]

    def decision(self, prediction):
        return max(self.names, key=prediction.get)

    def fields(self, prediction):
        fields = {n: (None if prediction is None else prediction[n]) for n in self.names}
        fields["label"] = None if prediction is None else self.decision(prediction)
        return fields

    def panels(self, preds, targets):
        return [("matrix", f"{len(self.names)} classes", list(self.names),
                 M.confusion_matrix(preds, targets, len(self.names)))]


class PerClassBinary(_Classes):
    """One yes/no decision per named class: two logits per class, the paper's IEMOCAP protocol.

    Metrics: per class accuracy and weighted F1, and their means over the classes (``mean_acc``,
    ``mean_f1``)."""

    kind = "per_class_binary"
    headline = "mean_acc"
    independent_probabilities = True

    @staticmethod
    def infer_info(values):
        return LabelInfo("categorical", tuple(next((v for v in values if isinstance(v, dict)), {})))

    @property
    def head_shape(self):
        return (len(self.names), 2)

    def parse(self, text, where):
        index = self.class_index(text, where)
        return [int(i == index) for i in range(len(self.names))]

    def loss(self, logits, target, regression_loss=None):  # logits (B, K, 2), target (B, K)
        return F.cross_entropy(logits.reshape(-1, 2).float(), target.reshape(-1), reduction="sum")

    def decode(self, logits):
        return logits.argmax(dim=-1)

    def to_json(self, value):
        return {n: int(v) for n, v in zip(self.names, value)}

    def from_json(self, value):
        if not isinstance(value, dict) or set(value) != set(self.names):
            raise ValueError(f"expected {{class: 0 or 1}} for exactly {', '.join(self.names)}, got {value!r}")
        if any(type(value[n]) is not int or value[n] not in (0, 1) for n in self.names):
            raise ValueError(f"binary decisions must be the integers 0 or 1, got {value!r}")
        return [value[n] for n in self.names]

    def stat_keys(self):
        return [f"b{i}_{c}" for i in range(len(self.names)) for c in M.CONFUSION]

    def stats(self, preds, targets):
        p = np.asarray(preds, dtype=np.int64).reshape(-1, len(self.names))
        t = np.asarray(targets, dtype=np.int64).reshape(-1, len(self.names))
        return {f"b{i}_{c}": v for i in range(len(self.names))
                for c, v in M.binary_confusion(p[:, i], t[:, i]).items()}

    def metrics(self, stats):
        per_class = {n: {"acc": M.binary_accuracy(*M.confusion_of(stats, f"b{i}")),
                         "f1": M.weighted_f1(*M.confusion_of(stats, f"b{i}"))} for i, n in enumerate(self.names)}
        return {**per_class, "mean_acc": float(np.mean([m["acc"] for m in per_class.values()])),
                "mean_f1": float(np.mean([m["f1"] for m in per_class.values()]))}

    def loggable(self, metrics):
        return M.flatten_metrics(metrics)

    def correct(self, metric, preds, targets):
        """Per-utterance 0/1 of ``<class>_acc``, else None (``mean_acc`` averages several decisions)."""
        names = [f"{n}_acc" for n in self.names]
        if metric not in names:
            return None
        i = names.index(metric)
        p, t = np.asarray(preds).reshape(-1, len(self.names)), np.asarray(targets).reshape(-1, len(self.names))
        return p[:, i] == t[:, i]

    def logit_names(self):  # head (K, 2): the logits of "absent" and "present" per class
        return [f"{n}:{side}" for n in self.names for side in ("absent", "present")]

    def outputs(self, logits):  # P(class present) = softmax over its two logits
        return [dict(zip(self.names, map(float, row))) for row in logits.float().softmax(-1)[..., 1]]

    def decision(self, prediction):
        return {n: int(p > 0.5) for n, p in prediction.items()}

    def fields(self, prediction):
        return {n: (None if prediction is None else prediction[n]) for n in self.names}

    def panels(self, preds, targets):
        p, t = np.asarray(preds).reshape(-1, len(self.names)), np.asarray(targets).reshape(-1, len(self.names))
        return [("matrix", n, [f"not {n}", n], M.confusion_matrix(p[:, i], t[:, i], 2))
                for i, n in enumerate(self.names)]


class Regression(LabelSpace):
    """One score per utterance (MOSI/MOSEI sentiment); MulT's metrics on [-3, 3]."""

    kind = "regression"
    data_kind = "regression"
    headline = "acc7"
    has_zero_protocol = True

    @staticmethod
    def infer_info(values):
        return LabelInfo("regression")
    SUMS = ("acc7", "acc5")

    @property
    def head_shape(self):
        return ()

    def parse(self, text, where):
        try:
            value = parse_number(text)
        except ValueError as err:
            raise ValueError(f"{where}: expected a finite float sentiment score for --target-type "
                             f"{self.target_type}: {err}") from None
        return self._check_range(value, where)

    def loss(self, logits, target, regression_loss="l1"):  # logits (B,), target (B,)
        return score_loss(logits, target, "l1" if regression_loss == "default" else regression_loss)

    def decode(self, logits):
        return logits.float()

    def to_json(self, value):
        return float(value)

    def from_json(self, value):
        if not is_finite_number(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return float(value)

    def stat_keys(self):
        return list(M.MOMENTS) + list(self.SUMS) + [f"{b}_{c}" for b in ("nonzero", "haszero") for c in M.CONFUSION]

    def stats(self, preds, targets):
        x = np.asarray(preds, dtype=np.float64).reshape(-1)
        y = np.asarray(targets, dtype=np.float64).reshape(-1)
        stats = M.moment_stats(x, y)
        stats["acc7"] = int(np.sum(np.round(np.clip(x, -3, 3)) == np.round(np.clip(y, -3, 3))))
        stats["acc5"] = int(np.sum(np.round(np.clip(x, -2, 2)) == np.round(np.clip(y, -2, 2))))
        nonzero = y != 0
        stats.update({f"nonzero_{k}": v for k, v in M.binary_confusion(x[nonzero] > 0, y[nonzero] > 0).items()})
        stats.update({f"haszero_{k}": v for k, v in M.binary_confusion(x >= 0, y >= 0).items()})
        return stats

    def metrics(self, stats):
        n = stats.get("n", 0)
        moments = M.moment_metrics(stats)
        nonzero, haszero = M.confusion_of(stats, "nonzero"), M.confusion_of(stats, "haszero")
        return {"acc7": M.ratio(stats.get("acc7", 0), n), "acc5": M.ratio(stats.get("acc5", 0), n),
                "acc2_nonzero": M.binary_accuracy(*nonzero), "f1_nonzero": M.weighted_f1(*nonzero),
                "acc2_haszero": M.binary_accuracy(*haszero), "f1_haszero": M.weighted_f1(*haszero),
                "mae": moments["mae"], "corr": moments["pearson"]}

    def loggable(self, metrics):
        return dict(metrics)

    def correct(self, metric, preds, targets):
        """Per-utterance 0/1 of acc7, acc5 or acc2_haszero (acc2_nonzero leaves zeros out), else None."""
        x, y = np.asarray(preds, dtype=np.float64), np.asarray(targets, dtype=np.float64)
        if metric in ("acc7", "acc5"):
            bound = 3 if metric == "acc7" else 2
            return np.round(np.clip(x, -bound, bound)) == np.round(np.clip(y, -bound, bound))
        return (x >= 0) == (y >= 0) if metric == "acc2_haszero" else None

    def value_names(self):
        return ["sentiment"]

    def values(self, prediction):
        return {"sentiment": float(prediction)}

    def logit_names(self):
        return ["sentiment"]

    def outputs(self, logits):
        return [float(v) for v in logits.float().view(-1)]

    def decision(self, prediction):
        return prediction

    def fields(self, prediction):
        return {"sentiment": prediction}

    def panels(self, preds, targets):
        to_class = lambda v: np.round(np.clip(np.asarray(v, dtype=np.float64), -3, 3)).astype(int) + 3  # noqa: E731
        return [("matrix", "score (rounded, clipped to [-3, 3])", [str(c) for c in range(-3, 4)],
                 M.confusion_matrix(to_class(preds), to_class(targets), 7))]


class Dimensional(LabelSpace):
    """Several named scores per utterance (e.g. arousal, valence, dominance)."""

    kind = "dimensional"
    data_kind = "dimensional"
    headline = "mean_ccc"

    @staticmethod
    def infer_info(values):
        return LabelInfo("dimensional", tuple(next((v for v in values if isinstance(v, dict)), {})))

    @property
    def head_shape(self):
        return (len(self.names),)

    def parse(self, text, where):
        cells = text.split("\t")
        if len(cells) != len(self.names):
            raise ValueError(f"{where}: expected {len(self.names)} tab-separated values "
                             f"({', '.join(self.names)}), got {len(cells)}")
        try:
            values = [parse_number(c, what=name) for c, name in zip(cells, self.names)]
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        return [self._check_range(v, where) for v in values]

    def loss(self, logits, target, regression_loss="ccc"):  # logits (B, D), target (B, D)
        return score_loss(logits, target, "ccc" if regression_loss == "default" else regression_loss)

    def decode(self, logits):
        return logits.float()

    def to_json(self, value):
        return {n: float(v) for n, v in zip(self.names, value)}

    def from_json(self, value):
        if not isinstance(value, dict) or set(value) != set(self.names):
            raise ValueError(f"expected {{dimension: value}} for exactly {', '.join(self.names)}, got {value!r}")
        if not all(is_finite_number(value[n]) for n in self.names):
            raise ValueError(f"every dimension must be a finite number, got {value!r}")
        return [float(value[n]) for n in self.names]

    def stat_keys(self):
        return [f"d{i}_{m}" for i in range(len(self.names)) for m in M.MOMENTS]

    def stats(self, preds, targets):
        p = np.asarray(preds, dtype=np.float64).reshape(-1, len(self.names))
        t = np.asarray(targets, dtype=np.float64).reshape(-1, len(self.names))
        stats = {}
        for i in range(len(self.names)):
            stats.update(M.moment_stats(p[:, i], t[:, i], prefix=f"d{i}_"))
        return stats

    def metrics(self, stats):
        per_dim = {n: M.moment_metrics(stats, prefix=f"d{i}_") for i, n in enumerate(self.names)}
        ccc = {n: m["ccc"] for n, m in per_dim.items()}
        return {"ccc": ccc, "mean_ccc": float(np.mean(list(ccc.values()))),
                "pearson": {n: m["pearson"] for n, m in per_dim.items()},
                "mae": {n: m["mae"] for n, m in per_dim.items()}}

    def loggable(self, metrics):
        return M.flatten_metrics(metrics)

    def correct(self, metric, preds, targets):
        return None  # no accuracy-type metric

    def outputs(self, logits):
        return [dict(zip(self.names, map(float, row))) for row in logits.float().view(-1, len(self.names))]

    def decision(self, prediction):
        return prediction

    def fields(self, prediction):
        return {n: (None if prediction is None else prediction[n]) for n in self.names}

    def panels(self, preds, targets):
        p = np.asarray(preds, dtype=np.float64).reshape(-1, len(self.names))
        t = np.asarray(targets, dtype=np.float64).reshape(-1, len(self.names))
        return [("scatter", n, t[:, i], p[:, i]) for i, n in enumerate(self.names)]


SPACES = {cls.kind: cls for cls in (Categorical, PerClassBinary, Regression, Dimensional)}
assert set(SPACES) == set(TARGET_TYPES) and set(DATA_KINDS) == {cls.data_kind for cls in SPACES.values()}


def canonical(target_type):
    """The label-space kind of a ``--target-type`` (aliases resolved); ValueError for an unknown one."""
    target_type = str(target_type)  # fairseq's ChoiceEnum values are Enum members
    kind = ALIASES.get(target_type, target_type)
    if kind not in SPACES:
        raise ValueError(f"unknown target type {target_type!r}; expected one of {', '.join(ACCEPTED_TARGET_TYPES)}")
    return kind


def label_space(target_type, info=None):
    """The label space of ``target_type`` over ``info`` (default: the labels of a data directory without labels.json)."""
    kind, target_type = canonical(target_type), str(target_type)
    return SPACES[kind](info if info is not None else default_info(target_type), target_type)
