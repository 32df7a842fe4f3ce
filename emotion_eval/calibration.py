"""Calibration of class probabilities: expected calibration error, Brier score, temperature scaling.

The probabilities are those ``--save-predictions`` writes as ``"probs"``: a distribution over the
classes (categorical) or each class's P(yes) (per_class_binary). Temperature scaling divides the
logits by T before the softmax; from saved probabilities that is ``p ** (1 / T)`` renormalised
(the logits are log p up to a constant), so T is fitted on the validation split's saved
probabilities, by minimising their negative log-likelihood, and applied to the test split's.

* ECE: 15 equal-width confidence bins ((m-1)/15, m/15]; sum over bins of (bin size / n) x
  |accuracy - mean confidence|. Categorical: top-label (confidence = the largest probability, correct
  = the argmax is the target); per_class_binary: per class, P(yes) against the yes/no outcome, then
  the mean over classes.
* Brier score: mean over utterances of the squared error summed over classes (categorical); the mean
  over classes and utterances of (P(yes) - outcome)^2 (per_class_binary).
"""
import numpy as np
from scipy.optimize import minimize_scalar

N_BINS = 15
EPS = 1e-12
T_RANGE = (0.05, 20.0)  # temperatures searched


def expected_calibration_error(confidence, correct, bins=N_BINS):
    """ECE of ``confidence`` in [0, 1] against 0/1 ``correct``, with ``bins`` equal-width bins."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # bin m holds ((m-1)/M, m/M]
    ece = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def scale(probs, temperature, binary):
    """Probabilities after temperature scaling: (N, K) class distributions, or (N, K) P(yes) when ``binary``."""
    logp = np.log(np.clip(probs, EPS, 1.0)) / temperature
    if binary:
        lognot = np.log(np.clip(1.0 - probs, EPS, 1.0)) / temperature
        return 1.0 / (1.0 + np.exp(lognot - logp))
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def nll(probs, targets, binary):
    """Mean negative log-likelihood: of the target class (categorical), of each yes/no outcome (binary)."""
    if binary:
        return float(-np.mean(targets * np.log(np.clip(probs, EPS, 1)) + (1 - targets) * np.log(np.clip(1 - probs, EPS, 1))))
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(targets)), targets], EPS, 1))))


def fit_temperature(probs, targets, binary):
    """The temperature in T_RANGE minimising the negative log-likelihood of ``targets`` (bounded search on log T)."""
    result = minimize_scalar(lambda log_t: nll(scale(probs, np.exp(log_t), binary), targets, binary),
                             bounds=tuple(np.log(T_RANGE)), method="bounded", options={"xatol": 1e-5})
    return float(np.exp(result.x))


def ece(probs, targets, binary):
    """Top-label ECE (categorical) or the mean over classes of each class's ECE (binary)."""
    if binary:
        return float(np.mean([expected_calibration_error(probs[:, k], targets[:, k]) for k in range(probs.shape[1])]))
    return expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == targets)


def brier(probs, targets, binary):
    """Brier score (see the module docstring)."""
    if binary:
        return float(np.mean((probs - targets) ** 2))
    onehot = np.eye(probs.shape[1])[targets]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def calibration(valid, test, binary):
    """{"ece_before", "ece_after", "brier_before", "brier_after", "temperature", ...} of the test split,
    with the temperature fitted on the validation split. ``valid`` and ``test`` are (probs, targets)."""
    temperature = fit_temperature(*valid, binary)
    probs, targets = test
    after = scale(probs, temperature, binary)
    return {"ece_before": ece(probs, targets, binary), "ece_after": ece(after, targets, binary),
            "brier_before": brier(probs, targets, binary), "brier_after": brier(after, targets, binary),
            "temperature": temperature, "fitted_on": "valid", "bins": N_BINS,
            "scope": "per class, mean over classes" if binary else "top label"}


def arrays(rows, space):
    """(probs, targets) of --save-predictions rows carrying "probs": (N, K) and (N,) class indices
    (categorical) or (N, K) 0/1 outcomes (per_class_binary); ValueError for a row without probabilities."""
    probs, targets = [], []
    for row in rows:
        if not isinstance(row.get("probs"), dict) or set(row["probs"]) != set(space.names):
            raise ValueError(f"prediction {row.get('id')!r} has no probabilities of {', '.join(space.names)} "
                             "(written by --save-predictions of this version)")
        probs.append([float(row["probs"][n]) for n in space.names])
        targets.append(space.from_json(row["target"]))
    return np.array(probs), np.array(targets)


def reliability_bins(confidence, correct, bins=N_BINS):
    """(bin centres, accuracy per bin or NaN, count per bin) for a reliability diagram."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    hits = np.bincount(index, weights=correct, minlength=bins)
    accuracy = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    return (np.arange(bins) + 0.5) / bins, accuracy, counts
