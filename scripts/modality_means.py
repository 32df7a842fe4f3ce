#!/usr/bin/env python
"""Training-set mean of each modality's fused vector, for explanations (installed as ``emotion-modality-means``)."""
import sys

from emotion_inference.modality_means import main

if __name__ == "__main__":
    sys.exit(main())
