"""The paper's numbers (Tables 1-5 of ../shared/paper.md), typed once; percentages except MAE.

Emotions are always named. Tables 1, 4 and 5 of the paper list them as Happy, Sad, Angry, Neutral:
``PAPER_EMOTIONS`` is that display order. ``EMOTIONS`` repeats ``emotion_core.labels.PAPER_CLASSES`` (a test
checks they agree), the order of the paper's code.
"""
EMOTIONS = ("neutral", "happy", "sad", "angry")
PAPER_EMOTIONS = ("happy", "sad", "angry", "neutral")


def _binary(happy, sad, angry, neutral):
    """Per-emotion (binary accuracy, F1) pairs as the paper prints them: Happy, Sad, Angry, Neutral."""
    return {"happy": dict(zip(("acc", "f1"), happy)), "sad": dict(zip(("acc", "f1"), sad)),
            "angry": dict(zip(("acc", "f1"), angry)), "neutral": dict(zip(("acc", "f1"), neutral))}


# Table 1: IEMOCAP ablations (sessions 1-3 train, 4 valid, 5 test), keyed by our run names.
TABLE1 = {
    "coattn_finetune": _binary((83.64, 83.07), (90.12, 90.13), (92.56, 93.01), (81.06, 79.97)),
    "shallow_finetune": _binary((84.13, 83.75), (90.894, 90.7), (93.56, 93.62), (81.55, 81.05)),
    "speech_only_finetune": _binary((71.15, 66.87), (85.657, 85.01), (87.67, 87.73), (71.78, 68.9)),
    "text_only_finetune": _binary((81.02, 81.62), (87.67, 87.1), (91.02, 91.21), (78.72, 78.85)),
    "shallow_frozen": _binary((69.22, 62.98), (85.57, 83.92), (89.68, 89.5), (75.34, 72.95)),
    "coattn_frozen": _binary((76.55, 75.32), (86.86, 85.72), (90.0, 90.2), (77.04, 76.65)),
}

# Tables 2 (CMU-MOSEI) and 3 (CMU-MOSI): Acc7, Acc2, F1 (MulT's non-zero protocol), MAE.
TABLE2 = {
    "MulT (Tsai et al., 2019)": {"acc7": 50.7, "acc2": 81.6, "f1": 81.6, "mae": 0.691},
    "ICCN (Sun et al., 2019)": {"acc7": 51.58, "acc2": 84.4, "f1": 84.36, "mae": 0.713},
    "ours": {"acc7": 55.971, "acc2": 88.04, "f1": 88.08, "mae": 0.491},
}
TABLE3 = {
    "MulT (Tsai et al., 2019)": {"acc7": 39.1, "acc2": 81.1, "f1": 81.0, "mae": 0.686},
    "ICCN (Sun et al., 2019)": {"acc7": 39.01, "acc2": 83.07, "f1": 83.02, "mae": 0.862},
    "ours": {"acc7": 48.927, "acc2": 88.275, "f1": 88.57, "mae": 0.577},
}

# Table 4: IEMOCAP per-emotion binary accuracy and F1.
TABLE4 = {
    "MulT (Tsai et al., 2019)": _binary((84.4, 81.9), (77.7, 74.1), (73.9, 70.2), (62.5, 59.7)),
    "ICCN (Sun et al., 2019)": _binary((87.41, 84.72), (86.26, 85.93), (88.62, 88.02), (69.73, 68.47)),
    "ours": _binary((89.71, 88.34), (89.48, 89.2), (93.82, 93.9), (80.93, 81.01)),
}

# Table 5: IEMOCAP 4-class per-class accuracy and unweighted accuracy.
TABLE5 = {
    "PAaAN (Li et al., 2019)": {"happy": 71.9, "sad": 73.2, "angry": 76.9, "neutral": 59.2, "ua": 70.3},
    "ours": {"happy": 77.06, "sad": 78.414, "angry": 81.88, "neutral": 64.748, "ua": 75.458},
}

# Section 4: the paper's training settings (the base configs in configs/ follow them).
SETTINGS = "Adam, lr 1e-5, polynomial decay with warm-up, dropout 0.1, effective batch 16 on 2 V100 GPUs"
