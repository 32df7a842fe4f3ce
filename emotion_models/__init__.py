"""Models of the plugin: ``ssl_emotion`` (Speech-BERT + RoBERTa, jointly fine-tuned) and its architectures."""
from emotion_models import safe_checkpoint

safe_checkpoint.install()

from emotion_models import ssl_emotion  # noqa: E402,F401  (registers model ssl_emotion and its archs)
from emotion_models import torch_adamw  # noqa: E402,F401  (registers --optimizer torch_adamw, the fast one)
