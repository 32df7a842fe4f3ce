"""MELD adapter: utterances of the release's video clips with 7 emotions or 3 sentiments.

Files read under the release folder (``MELD.Raw``, with its split archives extracted)::

    train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv
        Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime
    train_splits/dia{D}_utt{U}.mp4                 (train.tar.gz; also accepted as train/train_splits/)
    dev_splits_complete/dia{D}_utt{U}.mp4          (dev.tar.gz; or dev/dev_splits_complete/)
    output_repeated_splits_test/dia{D}_utt{U}.mp4  (test.tar.gz; or test/output_repeated_splits_test/)

The audio track of each clip is decoded by ``emotion_data.audio`` (PyAV). Transcripts are repaired
of mojibake (``emotion_data.text_repair``); the repairs are counted. Utterance ids are
``{split}_dia{D}_utt{U}`` (dialogue numbers restart in each split); the session is the dialogue.
"""
import csv
import io
from collections import Counter
from pathlib import Path

from emotion_core.manifest import CorpusError, Listing, Problem, Utterance
from emotion_core.text_files import read_utf8
from emotion_data.text_repair import repair_mojibake

SPLIT_FILES = {"train": "train_sent_emo.csv", "valid": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
CLIP_FOLDERS = {"train": ("train_splits", "train/train_splits"),
                "valid": ("dev_splits_complete", "dev/dev_splits_complete"),
                "test": ("output_repeated_splits_test", "test/output_repeated_splits_test")}
COLUMNS = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")
LABEL_SETS = {"emotion": ("Emotion", ("neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust")),
              "sentiment": ("Sentiment", ("neutral", "positive", "negative"))}  # column, classes in model order
# The documented utterances per split and class (MELD's README and paper).
DOCUMENTED = {
    "emotion": {"train": {"anger": 1109, "disgust": 271, "fear": 268, "joy": 1743, "neutral": 4710, "sadness": 683,
                          "surprise": 1205},
                "valid": {"anger": 153, "disgust": 22, "fear": 40, "joy": 163, "neutral": 470, "sadness": 111,
                          "surprise": 150},
                "test": {"anger": 345, "disgust": 68, "fear": 50, "joy": 402, "neutral": 1256, "sadness": 208,
                         "surprise": 281}},
    "sentiment": {"train": {"negative": 2945, "neutral": 4710, "positive": 2334},
                  "valid": {"negative": 406, "neutral": 470, "positive": 233},
                  "test": {"negative": 833, "neutral": 1256, "positive": 521}},
}
DOCUMENTED_PER_SPLIT = {"train": 9989, "valid": 1109, "test": 2610}
MAX_LISTED = 50  # repaired utterance ids listed in the stats


def clip_folder(root, split):
    """The folder holding the clips of ``split``; CorpusError naming the expected folders when none exists."""
    for name in CLIP_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    raise CorpusError(f"{root}: no clip folder for the {split} split (expected {' or '.join(CLIP_FOLDERS[split])}/; "
                      "extract the release's train.tar.gz, dev.tar.gz and test.tar.gz inside MELD.Raw)")


def _read_rows(path):
    """``[(line number, {column: text})]`` of a split's CSV; CorpusError for a missing or malformed file."""
    if not path.is_file():
        raise CorpusError(f"{path}: not found (pass the MELD.Raw folder holding {', '.join(SPLIT_FILES.values())})")
    text = read_utf8(path, CorpusError)
    reader = csv.DictReader(io.StringIO(text, newline=""))  # "\x85" (mojibake) is no line break here
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CorpusError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)}, ...)")
    rows, line = [], 1
    for row in reader:
        rows.append((line + 1, {k: (v or "").strip() for k, v in row.items() if k}))
        line = reader.line_num
    return rows


def list_meld(raw, labels="emotion"):
    """List MELD's utterances of the three splits; the label is the ``Emotion`` or ``Sentiment`` column.

    A missing clip, an empty transcript, an unknown label, a bad or duplicate dialogue/utterance id
    is a :class:`Problem` naming the file (clips that cannot be decoded are found when the audio is
    read). ``stats["labelled_per_split"]`` counts every row by split and label (for the count check);
    ``stats["mojibake"]`` the repaired transcripts.
    """
    if labels not in LABEL_SETS:
        raise CorpusError(f"unknown MELD label set {labels!r} (one of {', '.join(LABEL_SETS)})")
    column, classes = LABEL_SETS[labels]
    root = Path(raw)
    folders = {split: clip_folder(root, split) for split in SPLIT_FILES}
    utterances, problems, labelled = [], [], {}
    repaired, repaired_chars, speakers = [], 0, set()
    for split, csv_name in SPLIT_FILES.items():
        path, seen = root / csv_name, set()
        counts = labelled.setdefault(split, Counter())
        for line, row in _read_rows(path):
            where = f"{path}:{line}"
            dialogue, turn = row.get("Dialogue_ID", ""), row.get("Utterance_ID", "")
            if not (dialogue.isdigit() and turn.isdigit()):
                problems.append(Problem(f"{split} line {line}", where,
                                        f"Dialogue_ID {dialogue!r} / Utterance_ID {turn!r} are not numbers"))
                continue
            clip = f"dia{int(dialogue)}_utt{int(turn)}"
            uid = f"{split}_{clip}"
            if uid in seen:
                problems.append(Problem(uid, where, f"{clip} listed twice"))
                continue
            seen.add(uid)
            label = row.get(column, "").lower()
            counts[label] += 1
            if label not in classes:
                problems.append(Problem(uid, where, f"unknown {column} {row.get(column, '')!r} "
                                                    f"(known: {', '.join(classes)})"))
                continue
            text, n = repair_mojibake(row.get("Utterance", ""))  # first: str.split() takes "\x85" for a space
            text = " ".join(text.split())
            if n:
                repaired.append(uid)
                repaired_chars += n
            if not text:
                problems.append(Problem(uid, where, "empty transcript"))
                continue
            audio = folders[split] / f"{clip}.mp4"
            if not audio.is_file():
                problems.append(Problem(uid, str(audio), "missing clip"))
                continue
            speaker = row.get("Speaker", "") or "unknown"
            speakers.add(speaker)
            utterances.append(Utterance(id=uid, audio=str(audio.resolve()), start=None, end=None, text=text,
                                        label=label, speaker=speaker, session=f"{split}_dia{int(dialogue)}",
                                        split=split, origin=where))
    stats = {"labels": labels, "clip_folders": {s: str(f) for s, f in folders.items()},
             "labelled_per_split": {s: dict(sorted(c.items())) for s, c in labelled.items()},
             "speakers": len(speakers),
             "mojibake": {"utterances": len(repaired), "characters": repaired_chars, "ids": repaired[:MAX_LISTED]}}
    return Listing(utterances, problems, stats)


def check_count(listing):
    """Raise :class:`CorpusError` unless the CSVs hold the documented utterances per split and class."""
    labels = listing.stats["labels"]
    got, expected = listing.stats["labelled_per_split"], DOCUMENTED[labels]
    if got != expected:
        detail = "; ".join(
            f"{split} {sum(got.get(split, {}).values())} (documented {DOCUMENTED_PER_SPLIT[split]}): "
            + ", ".join(f"{c} {got.get(split, {}).get(c, 0)} ({n})" for c, n in expected[split].items())
            for split in SPLIT_FILES)
        raise CorpusError(f"MELD: the CSV files' utterances per split and {labels} differ from the documented "
                          f"figures: {detail}; is the release complete and unmodified? For a partial or edited "
                          "tree pass --no-count-check")
