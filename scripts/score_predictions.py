#!/usr/bin/env python
"""Score a --save-predictions file: the metrics of a protocol as one JSON object (installed as ``emotion-score``; see emotion_eval.scoring)."""
import sys

from emotion_eval.scoring import main

if __name__ == "__main__":
    sys.exit(main())
