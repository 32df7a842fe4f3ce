"""Tasks of the plugin: ``multimodal_emotion``."""
import emotion_fairseq  # noqa: F401  (safe checkpoint loading)
from emotion_tasks import cli_help, multimodal_emotion  # noqa: F401  (registers task multimodal_emotion)

cli_help.install()
