"""Models of the plugin: ``ssl_emotion`` (Speech-BERT + RoBERTa, jointly fine-tuned) and its architectures."""
import emotion_fairseq  # noqa: F401  (safe checkpoint loading, before any pretrained encoder is read)
from emotion_models import ssl_emotion  # noqa: F401  (registers model ssl_emotion and its archs)
