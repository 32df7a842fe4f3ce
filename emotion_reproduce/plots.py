"""Per-run figures: training/validation curves from fairseq's JSON log, confusion matrices from predictions."""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emotion_core.files import atomic_output  # noqa: E402

# Keys of fairseq's logged stats that are bookkeeping, not curves.
_NOT_CURVES = {"epoch", "update", "num_updates", "lr", "gnorm", "loss_scale", "wps", "ups", "wpb", "bsz",
               "wall", "train_wall", "gb_free", "clip", "ntokens", "nsentences", "sample_size"}


def read_log(path):
    """Parse a ``--log-format json --log-file`` log into ``{"train_inner": [...], "train": [...], "valid": [...]}``.

    Records are told apart by their keys (train_* epoch summaries, valid_* validations, the rest
    per-update stats), whatever prefix the log handler wrote before the JSON.
    """
    out = {"train_inner": [], "train": [], "valid": []}
    seen = set()
    for line in Path(path).read_text().splitlines() if Path(path).exists() else []:
        start = line.find("{")
        if start < 0 or line[start:] in seen:  # fairseq may attach two handlers: drop repeated lines
            continue
        seen.add(line[start:])
        try:
            rec = json.loads(line[start:])
        except json.JSONDecodeError:
            continue
        if not isinstance(rec, dict):
            continue
        if any(k.startswith("valid_") for k in rec):
            out["valid"].append(rec)
        elif any(k.startswith("train_") and k != "train_wall" for k in rec):
            out["train"].append(rec)
        elif "loss" in rec:
            out["train_inner"].append(rec)
    return out


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def plot_curves(log_path, out_path, title=""):
    """Training loss (per update, and per epoch) with validation loss on the left; validation metrics right."""
    log = read_log(log_path)
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    if log["train_inner"]:
        xs = [_num(r.get("update")) for r in log["train_inner"]]
        ax_loss.plot(xs, [_num(r["loss"]) for r in log["train_inner"]], lw=0.8, alpha=0.6, label="train (per update)")
    if log["train"]:
        ax_loss.plot([r["epoch"] for r in log["train"]], [_num(r.get("train_loss")) for r in log["train"]],
                     "o-", label="train (epoch)")
    if log["valid"]:
        epochs = [r["epoch"] for r in log["valid"]]
        ax_loss.plot(epochs, [_num(r.get("valid_loss")) for r in log["valid"]], "s-", label="valid")
        keys = [k for k in log["valid"][-1] if k.startswith("valid_") and k[6:] not in _NOT_CURVES
                and k != "valid_loss" and not k.startswith("valid_best") and _num(log["valid"][-1][k]) is not None]
        for key in keys[:10]:
            ax_metric.plot(epochs, [_num(r.get(key)) for r in log["valid"]], ".-", label=key[6:])
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_metric.set(xlabel="epoch", title="validation metrics")
    for ax in (ax_loss, ax_metric):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(out_path, "wb") as f:
        fig.savefig(f, dpi=90, format="png")
    plt.close(fig)
    return out_path


def read_predictions(path):
    """The JSON lines of ``--save-predictions``: dicts with id, target and pred."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _draw_matrix(ax, matrix, labels, title):
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                color="white" if count > matrix.max() / 2 else "black")


def _draw_scatter(ax, targets, preds, title):
    ax.scatter(targets, preds, s=8, alpha=0.6)
    low, high = min(np.min(targets), np.min(preds)), max(np.max(targets), np.max(preds))
    ax.plot([low, high], [low, high], "k--", lw=0.8)
    ax.set(xlabel="true", ylabel="predicted", title=title)


def plot_confusion(pred_path, space, out_path, title=""):
    """The label space's panels of a predictions file: confusion matrices (one per class for
    per_class_binary, the Acc7 classes of rounded scores for regression) or, per dimension, predicted
    against true values."""
    rows = read_predictions(pred_path)
    preds = [space.from_json(r["pred"]) for r in rows]
    targets = [space.from_json(r["target"]) for r in rows]
    panels = space.panels(preds, targets)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(3.2 * len(panels), 4.6), 4.2), squeeze=False)
    for ax, (kind, name, first, second) in zip(axes[0], panels):
        if kind == "matrix":
            _draw_matrix(ax, second, first, name)
        else:
            _draw_scatter(ax, first, second, name)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(out_path, "wb") as f:
        fig.savefig(f, dpi=90, format="png")
    plt.close(fig)
    return out_path


def plot_reliability(pred_path, space, temperature, out_path, title=""):
    """Reliability diagram of the test split's probabilities, before and after temperature scaling:
    accuracy against confidence per bin (top label for categorical; every class's P(yes) pooled for
    per_class_binary), the diagonal being perfect calibration."""
    from emotion_eval.calibration import arrays, reliability_bins, scale

    probs, targets = arrays(read_predictions(pred_path), space)
    binary = space.independent_probabilities
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
    for name, p in (("before", probs), (f"after (T = {temperature:.2f})", scale(probs, temperature, binary))):
        if binary:
            confidence, correct = p.reshape(-1), targets.reshape(-1)
        else:
            confidence, correct = p.max(axis=1), p.argmax(axis=1) == targets
        centres, accuracy, counts = reliability_bins(confidence, correct)
        ax.plot(centres[counts > 0], accuracy[counts > 0], "o-", label=name)
    ax.set(xlabel="P(yes)" if binary else "confidence (top label)", ylabel="observed frequency",
           xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_output(out_path, "wb") as f:
        fig.savefig(f, dpi=90, format="png")
    plt.close(fig)
    return out_path


def plot_run(run_dir, space, temperature=None):
    """Draw ``curves.png``, ``confusion.png`` and, with a fitted ``temperature``, ``calibration.png`` (the
    reliability diagram) of a run directory (``space``: its label space); returns the paths drawn."""
    run_dir = Path(run_dir)
    out = {}
    if (run_dir / "train.log").exists():
        out["curves"] = plot_curves(run_dir / "train.log", run_dir / "curves.png", run_dir.name)
    if (run_dir / "predictions.jsonl").exists():
        out["confusion"] = plot_confusion(run_dir / "predictions.jsonl", space, run_dir / "confusion.png",
                                          f"{run_dir.name}: test")
        if temperature is not None:
            out["calibration"] = plot_reliability(run_dir / "predictions.jsonl", space, temperature,
                                                  run_dir / "calibration.png", f"{run_dir.name}: test")
    return out
