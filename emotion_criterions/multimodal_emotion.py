"""Criterion ``multimodal_emotion``: loss per target type, metrics from summable statistics.

Each logging output holds the loss and the batch's statistics from
:mod:`emotion_core.metrics` (confusion counts, sums of errors and products) under keys
starting with ``_`` (hidden from the logs). fairseq sums them over batches and workers, and
``reduce_metrics`` derives the split's metrics from the sums with ``metrics.log_derived``, so the
metrics are exact over the whole split, also under distributed training.
"""
import math
from dataclasses import dataclass, field

import torch.nn.functional as F
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.logging import metrics
from omegaconf import II

from emotion_core import metrics as emotion_metrics
from emotion_tasks.multimodal_emotion import decode_predictions

REGRESSION_LOSSES = ChoiceEnum(["l1", "mse"])


@dataclass
class MultimodalEmotionCriterionConfig(FairseqDataclass):
    target_type: str = II("task.target_type")
    regression_loss: REGRESSION_LOSSES = field(
        default="l1", metadata={"help": "loss for --target-type regression (l1 as in the original code)"})


@register_criterion("multimodal_emotion", dataclass=MultimodalEmotionCriterionConfig)
class MultimodalEmotionCriterion(FairseqCriterion):
    """Cross-entropy per emotion (iemocap_binary), cross-entropy (multiclass) or L1/MSE (regression)."""

    def __init__(self, task, target_type, regression_loss="l1"):
        super().__init__(task)
        self.target_type = target_type
        self.regression_loss = regression_loss

    def forward(self, model, sample, reduce=True):
        """Loss (summed over utterances), sample size (utterances) and logging output."""
        loss, sample_size, logging_output, _ = self.forward_with_output(model, sample)
        return loss, sample_size, logging_output

    def forward_with_output(self, model, sample):
        """As :meth:`forward`, also returning the model output (used by --save-predictions)."""
        logits = model(**sample["net_input"])
        target = sample["target"]
        if self.target_type == "iemocap_binary":  # logits (B, 4, 2), target (B, 4)
            loss = F.cross_entropy(logits.reshape(-1, 2).float(), target.reshape(-1), reduction="sum")
        elif self.target_type == "multiclass":  # logits (B, 4), target (B,)
            loss = F.cross_entropy(logits.float(), target, reduction="sum")
        else:  # logits (B,), target (B,)
            loss_fn = F.l1_loss if self.regression_loss == "l1" else F.mse_loss
            loss = loss_fn(logits.float(), target.float(), reduction="sum")
        preds = decode_predictions(logits.detach(), self.target_type).cpu().numpy()
        stats = emotion_metrics.STATS[self.target_type](preds, target.cpu().numpy())
        sample_size = target.size(0)
        logging_output = {
            "loss": loss.data, "ntokens": sample["ntokens"], "nsentences": sample_size,
            "sample_size": sample_size, **{f"_{k}": v for k, v in stats.items()},
        }
        return loss, sample_size, logging_output, logits

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        """Sum the statistics and derive the metrics of the target type found in them."""
        total = lambda key: sum(log.get(key, 0) for log in logging_outputs)  # noqa: E731
        sample_size = total("sample_size")
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1), sample_size, round=4)
        keys = {k for log in logging_outputs for k in log if k.startswith("_")}
        protocol = next((p for p in emotion_metrics.STATS
                         if keys and keys <= {f"_{k}" for k in emotion_metrics.stat_keys(p)}), None)
        if protocol is None:
            return
        for key in emotion_metrics.stat_keys(protocol):
            metrics.log_scalar_sum(f"_{key}", total(f"_{key}"))
        example = emotion_metrics.flatten_metrics(emotion_metrics.METRICS[protocol]({}))
        for name in example:
            metrics.log_derived(name, _derived(protocol, name))

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        """Every logging output value is a count or a sum."""
        return True


def _derived(protocol, name):
    """log_derived function computing metric ``name`` from the summed statistics in the meters."""

    def fn(meters):
        stats = {k: meters[f"_{k}"].sum for k in emotion_metrics.stat_keys(protocol) if f"_{k}" in meters}
        value = emotion_metrics.flatten_metrics(emotion_metrics.METRICS[protocol](stats))[name]
        return math.nan if value is None else round(float(value), 4)

    return fn
