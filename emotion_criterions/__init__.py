"""Criteria of the plugin: ``multimodal_emotion``."""
from emotion_criterions import multimodal_emotion  # noqa: F401  (registers criterion multimodal_emotion)
