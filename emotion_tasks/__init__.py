"""Tasks of the plugin: ``multimodal_emotion``."""
from emotion_models import safe_checkpoint

safe_checkpoint.install()

from emotion_tasks import multimodal_emotion  # noqa: E402,F401  (registers task multimodal_emotion)
from emotion_tasks import cli_help  # noqa: E402

cli_help.install()
