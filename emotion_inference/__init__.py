"""Inference on new recordings: :class:`~emotion_inference.recognizer.EmotionRecognizer` and the ``predict`` command."""
from emotion_inference.recognizer import EmotionRecognizer, PredictionError

__all__ = ["EmotionRecognizer", "PredictionError"]
