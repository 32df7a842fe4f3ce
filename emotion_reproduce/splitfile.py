"""Apply a user's split file (e.g. the MulT/ICCN IEMOCAP protocol) to a manifest: Table 4's alternative.

    python -m emotion_reproduce.splitfile MANIFEST SPLIT_FILE OUT_MANIFEST

SPLIT_FILE is read by ``emotion_data.splits.load_folds``: JSON ``{"train": [ids], "valid": [...],
"test": [...]}`` or the CMU Multimodal SDK's ``*_std_folds.py`` form. An id names an utterance
(``Ses01F_impro01_F000``) or a dialog/video (``Ses01F_impro01``), which covers all its utterances.
Utterances the file does not name are left out (and counted). The output manifest carries the
``split`` column, so ``scripts/prepare_data.py manifest`` uses that split.
"""
import csv
import sys
from collections import Counter
from pathlib import Path


def split_of(uid, folds):
    """The split naming ``uid`` itself, else its dialog (the id without its last ``_`` part); None if none."""
    dialog = uid.rsplit("_", 1)[0]
    for key in (uid, dialog):
        for split, ids in folds.items():
            if key in ids:
                return split
    return None


def apply_split_file(manifest, split_file, out):
    """Write ``out``: the rows of ``manifest`` named by ``split_file``, with their split; return counts."""
    from emotion_core.files import atomic_output
    from emotion_data.splits import load_folds

    folds = load_folds(split_file)
    with open(manifest, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = list(reader.fieldnames)
        rows = list(reader)
    if "split" not in header:
        header.append("split")
    counts = Counter()
    with atomic_output(out, newline="") as f:
        writer = csv.DictWriter(f, header, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            split = split_of(row["id"], folds)
            counts[split or "unassigned"] += 1
            if split:
                audio = Path(row["audio"])  # relative paths are relative to the manifest's folder
                audio = audio if audio.is_absolute() else Path(manifest).resolve().parent / audio
                writer.writerow({**row, "audio": str(audio), "split": split})
    assert all(counts[s] for s in ("train", "valid", "test")), (
        f"{split_file} names no utterance of {manifest} for some split: {dict(counts)}; ids must be utterance "
        "ids (Ses01F_impro01_F000) or dialog ids (Ses01F_impro01)")
    return dict(counts)


if __name__ == "__main__":
    assert len(sys.argv) == 4, __doc__
    print(f"{sys.argv[3]}: {apply_split_file(*sys.argv[1:])}")
