"""Criterion ``multimodal_emotion``: the label space's loss, and its statistics for exact metrics.

Each logging output holds the loss and the batch's summable statistics (confusion counts, sums of
errors and products; :mod:`emotion_core.label_spaces`) under keys starting with ``_`` (hidden from
the logs). fairseq sums them over batches and workers; :meth:`reduce_metrics` logs their sums and
the task derives the split's metrics from them with ``metrics.log_derived``, so the metrics are
exact over the whole split, also under distributed training.
"""
from dataclasses import dataclass, field

from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.logging import metrics
from omegaconf import II

from emotion_core.label_spaces import REGRESSION_LOSSES


@dataclass
class MultimodalEmotionCriterionConfig(FairseqDataclass):
    target_type: str = II("task.target_type")  # the task's (its label space decides the loss)
    regression_loss: ChoiceEnum(list(REGRESSION_LOSSES)) = field(
        default="default", metadata={"help": "loss of score targets: l1, mse or ccc (1 - concordance correlation "
                                             "of the batch, per dimension); default: l1 for regression (as the "
                                             "original code), ccc for dimensional"})


@register_criterion("multimodal_emotion", dataclass=MultimodalEmotionCriterionConfig)
class MultimodalEmotionCriterion(FairseqCriterion):
    """The label space's loss (cross-entropy per class or per yes/no decision, L1/MSE/CCC for scores)."""

    def __init__(self, task, target_type=None, regression_loss="default"):
        super().__init__(task)
        self.label_space = task.label_space
        self.regression_loss = str(regression_loss)

    def forward(self, model, sample, reduce=True):
        """Loss (summed over utterances), sample size (utterances) and logging output."""
        loss, sample_size, logging_output, _ = self.forward_with_output(model, sample)
        return loss, sample_size, logging_output

    def forward_with_output(self, model, sample):
        """As :meth:`forward`, also returning the model output (used by --save-predictions)."""
        logits = model(**sample["net_input"])
        target = sample["target"]
        loss = self.label_space.loss(logits, target, self.regression_loss)
        preds = self.label_space.decode(logits.detach()).cpu().numpy()
        stats = self.label_space.stats(preds, target.cpu().numpy())
        sample_size = target.size(0)
        logging_output = {
            "loss": loss.data, "ntokens": sample["ntokens"], "nsentences": sample_size,
            "sample_size": sample_size, **{f"_{k}": v for k, v in stats.items()},
        }
        return loss, sample_size, logging_output, logits

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        """Log the loss per utterance and the sums of the statistics (the task derives the metrics)."""
        total = lambda key: sum(log.get(key, 0) for log in logging_outputs)  # noqa: E731
        metrics.log_scalar("loss", total("loss") / max(total("sample_size"), 1), total("sample_size"), round=4)
        for key in sorted({k for log in logging_outputs for k in log if k.startswith("_")}):
            metrics.log_scalar_sum(key, total(key))

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        """Every logging output value is a count or a sum."""
        return True
