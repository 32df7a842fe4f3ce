"""Emotion names and target types shared by the task, the criterion, the metrics and the scripts."""
from fairseq.dataclass import ChoiceEnum

# The four IEMOCAP emotions, always referred to by name and always in this order.
EMOTIONS = ("neutral", "happy", "sad", "angry")

# IEMOCAP EmoEvaluation codes that are kept; excited is merged into happy. Every other code is dropped.
IEMOCAP_CODES = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}

# iemocap_binary: one 0/1 decision per emotion; multiclass: one of EMOTIONS; regression: a sentiment score.
TARGET_TYPES = ("iemocap_binary", "multiclass", "regression")
TargetType = ChoiceEnum(list(TARGET_TYPES))


def num_outputs(target_type: str) -> int:
    """Width of the classification head for a target type (two logits per emotion for iemocap_binary)."""
    return {"iemocap_binary": 2 * len(EMOTIONS), "multiclass": len(EMOTIONS), "regression": 1}[target_type]
