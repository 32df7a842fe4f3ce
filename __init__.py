"""fairseq ``--user-dir`` entry point: registers the multimodal emotion task, model, criterion and optimizer.

``fairseq-train --user-dir <this folder>`` imports this file as a package named after the
folder. The packages are imported by their absolute names (after putting this folder on
``sys.path``), so they are the very modules that ``pip install -e .`` exposes and each
registration runs exactly once, whatever the import order. ``emotion_fairseq`` comes first: it
installs the safe checkpoint loading before anything can read a checkpoint.
"""
import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import emotion_fairseq  # noqa: E402,F401  (safe checkpoint loading, fairseq version check)
import emotion_fast.torch_adamw  # noqa: E402,F401  (registers --optimizer torch_adamw, the fast one)
import emotion_models  # noqa: E402,F401  (registers model ssl_emotion and its architectures)
import emotion_tasks  # noqa: E402,F401  (registers task multimodal_emotion)
import emotion_criterions  # noqa: E402,F401  (registers criterion multimodal_emotion)
