"""Criterion multimodal_emotion: losses, all-correct / all-wrong batches, summed stats == scored predictions."""
import json
import math

import pytest
import torch
from fairseq.logging import metrics
from helpers import make_model, make_task
from omegaconf import OmegaConf

from emotion_core import metrics as M
from emotion_core.labels import PAPER_CLASSES as EMOTIONS
from emotion_criterions.multimodal_emotion import MultimodalEmotionCriterion
from emotion_eval import scoring

TASKS = {}


def task_of(target_type):
    """The tiny task of a target type (its label space: the paper's four emotions, or scores), built once."""
    if target_type not in TASKS:
        TASKS[target_type] = make_task(target_type)
    return TASKS[target_type]


def criterion(target_type, regression_loss="default"):
    return MultimodalEmotionCriterion(task_of(target_type), regression_loss=regression_loss)


class FixedOutput(torch.nn.Module):
    """Stands in for the model: returns the given output whatever the input."""

    def __init__(self, output):
        super().__init__()
        self.output = output

    def forward(self, **unused):
        return self.output


def sample_of(target):
    return {"net_input": {}, "target": target, "ntokens": 10 * target.size(0), "id": torch.arange(target.size(0))}


def reduce(logging_outputs, target_type):
    """What fairseq logs for a split: the task's reduce_metrics (the criterion's sums, the label space's metrics)."""
    with metrics.aggregate(new_root=True) as agg:
        task_of(target_type).reduce_metrics(logging_outputs, criterion(target_type))
        return agg.get_smoothed_values()


def binary_logits(decisions, margin=20.0):
    """(B, 4) 0/1 decisions -> (B, 4, 2) logits that pick them with a large margin."""
    return torch.nn.functional.one_hot(decisions, 2).float() * margin


def test_iemocap_binary_all_correct_and_all_wrong():
    target = torch.eye(4, dtype=torch.long)[[0, 1, 2, 3, 2, 1]]
    crit = criterion("iemocap_binary")
    loss, size, log = crit(FixedOutput(binary_logits(target)), sample_of(target))
    assert size == 6 and float(loss) == pytest.approx(0.0, abs=1e-6)
    values = reduce([log], "iemocap_binary")
    assert all(values[f"{e}_{m}"] == 1.0 for e in EMOTIONS for m in ("acc", "f1"))
    loss, _, log = crit(FixedOutput(binary_logits(1 - target)), sample_of(target))
    assert float(loss) == pytest.approx(6 * 4 * 20.0, rel=1e-4)  # CE per emotion, summed
    values = reduce([log], "iemocap_binary")
    assert all(values[f"{e}_{m}"] == 0.0 for e in EMOTIONS for m in ("acc", "f1"))
    assert not any(k.startswith("_") for k in values)  # statistics stay hidden


def test_multiclass_all_correct_and_all_wrong():
    target = torch.tensor([0, 1, 2, 3, 0])
    crit = criterion("multiclass")
    right = torch.nn.functional.one_hot(target, 4).float() * 20
    values = reduce([crit(FixedOutput(right), sample_of(target))[2]], "multiclass")
    assert values["ua"] == 1.0 and values["wa"] == 1.0 and values["per_class_angry"] == 1.0
    wrong = torch.nn.functional.one_hot((target + 1) % 4, 4).float() * 20
    loss, _, log = crit(FixedOutput(wrong), sample_of(target))
    values = reduce([log], "multiclass")
    assert values["ua"] == 0.0 and values["wa"] == 0.0
    assert values["loss"] == pytest.approx(20.0, rel=1e-4)


@pytest.mark.parametrize("regression_loss,expected", [("l1", (0.5 + 1.0) / 3), ("mse", (0.25 + 1.0) / 3),
                                                      ("default", (0.5 + 1.0) / 3)])
def test_regression_losses(regression_loss, expected):
    target = torch.tensor([1.0, -2.0, 0.0])
    crit = criterion("regression", regression_loss)
    loss, size, log = crit(FixedOutput(torch.tensor([1.5, -2.0, 1.0])), sample_of(target))
    assert float(loss) / size == pytest.approx(expected)
    values = reduce([log], "regression")
    assert values["mae"] == pytest.approx(0.5) and values["acc2_haszero"] == 1.0


def test_undefined_metric_is_nan_not_error():
    crit = criterion("multiclass")
    target = torch.tensor([0, 0])
    values = reduce([crit(FixedOutput(torch.zeros(2, 4)), sample_of(target))[2]], "multiclass")
    assert math.isnan(values["per_class_sad"]) and values["per_class_neutral"] == 1.0


@pytest.mark.parametrize("target_type", ["iemocap_binary", "multiclass", "regression"])
def test_summed_stats_equal_scoring_saved_predictions(target_type, tmp_path):
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("stale line from an earlier run\n")
    task = make_task(target_type, save_predictions=str(predictions))
    model = make_model(task)
    criterion = task.build_criterion(OmegaConf.create({"_name": "multimodal_emotion", "target_type": target_type}))
    task.load_dataset("valid")
    itr = task.get_batch_iterator(dataset=task.dataset("valid"), max_sentences=3).next_epoch_itr(shuffle=False)
    logs = [task.valid_step(sample, model, criterion)[2] for sample in itr]
    assert len(logs) == 3  # 8 utterances in batches of 3: several batches, none dropped
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == 8 and {r["id"] for r in rows} == {f"valid_utt{i:03d}" for i in range(8)}
    if target_type == "multiclass":  # the class distribution, beside the decision
        assert all(r["pred"] == max(r["probs"], key=r["probs"].get) for r in rows)
        assert all(sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-5) for r in rows)
    elif target_type == "iemocap_binary":  # P(yes) per class: the decision is P > 0.5
        assert all(r["pred"] == {e: int(p > 0.5) for e, p in r["probs"].items()} for r in rows)
    else:
        assert all("probs" not in r for r in rows)
    summed = M.add_stats({}, {})
    for log in logs:
        M.add_stats(summed, {k[1:]: v for k, v in log.items() if k.startswith("_")})
    space = task.label_space
    scored = scoring.score([predictions], target_type)
    assert M.flatten_metrics(space.metrics(summed)) == pytest.approx(M.flatten_metrics(scored))
    with metrics.aggregate(new_root=True) as agg:
        task.reduce_metrics(logs, criterion)
        derived = agg.get_smoothed_values()
    for name, value in space.loggable(scored).items():
        assert derived[name] == pytest.approx(value if value is not None else math.nan, abs=1e-4, nan_ok=True)
