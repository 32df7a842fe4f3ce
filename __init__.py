"""fairseq ``--user-dir`` entry point: registers the multimodal emotion task, model and criterion.

``fairseq-train --user-dir <this folder>`` imports this file as a package named after the
folder. The three packages are imported by their absolute names (after putting this folder on
``sys.path``), so they are the very modules that ``pip install -e .`` exposes and each
registration runs exactly once, whatever the import order.
"""
import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import emotion_models  # noqa: E402,F401  (installs safe checkpoint loading, registers ssl_emotion)
import emotion_tasks  # noqa: E402,F401  (registers multimodal_emotion task)
import emotion_criterions  # noqa: E402,F401  (registers multimodal_emotion criterion)
