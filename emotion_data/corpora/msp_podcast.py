"""MSP-Podcast adapter: speaking turns with categorical and arousal/valence/dominance labels.

Files read under the release folder (``MSP-PODCAST-Publish-1.11`` or later)::

    Labels/labels_consensus.csv    FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
      (or labels_consensus.json    {"MSP-PODCAST_0001_0008.wav": {"EmoClass": "N", "EmoAct": 4.2, ...}, ...})
    Audios/<FileName>              e.g. Audios/MSP-PODCAST_0001_0008.wav
    Transcripts/<name>.txt         the turn's transcript (not needed for speech-only preparation)

Labels: ``EmoClass`` is the consensus primary emotion (:data:`CLASS_CODES`; ``O`` other and ``X``
no agreement are not among the 8 classes); ``EmoAct``, ``EmoVal``, ``EmoDom`` are arousal, valence
and dominance on the release's 1-7 scale. ``Split_Set`` is Train, Development, Test1, Test2 or
Test3 (:data:`SPLIT_SETS`); Test3's labels are not public.
"""
import csv
import io
import json
import os
import re
from collections import Counter
from pathlib import Path

from emotion_core.manifest import CorpusError, Listing, Problem, Utterance
from emotion_core.text_files import read_utf8

CLASS_CODES = {"A": "anger", "S": "sadness", "H": "happiness", "U": "surprise", "F": "fear", "D": "disgust",
               "C": "contempt", "N": "neutral", "O": "other", "X": "no_agreement"}
CLASSES = ("anger", "sadness", "happiness", "surprise", "fear", "disgust", "contempt", "neutral")  # model order
DIMENSIONS = ("arousal", "valence", "dominance")
DIMENSION_COLUMNS = ("EmoAct", "EmoVal", "EmoDom")  # the release's columns of the dimensions, in that order
VALUE_RANGE = (1.0, 7.0)
COLUMNS = ("FileName", "EmoClass", *DIMENSION_COLUMNS, "SpkrID", "Gender", "Split_Set")
TEST_SETS = ("Test1", "Test2", "Test3")
SPLIT_SETS = {"Train": "train", "Development": "valid"}  # and the chosen test set -> test
# Release 1.11's documented partition: speaking turns per Split_Set (Test3's labels are not public).
RELEASE = "1.11"
RELEASE_AUDIO_FILES = 151_654
RELEASE_PER_SET = {"Train": 84_030, "Development": 19_815, "Test1": 30_647, "Test2": 14_815}
UNKNOWN_SPEAKER = "unknown"

_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.wav$")
_PODCAST = re.compile(r"^MSP-PODCAST_(\d+)_\d+$")


def _label_file(root):
    for name in ("labels_consensus.csv", "labels_consensus.json"):
        if (root / "Labels" / name).is_file():
            return root / "Labels" / name
    raise CorpusError(f"{root / 'Labels'}: no labels_consensus.csv or labels_consensus.json "
                      "(pass the MSP-Podcast release folder, the one holding Audios/, Transcripts/ and Labels/)")


def read_label_rows(path):
    """``[(where, {column: text})]`` from ``labels_consensus.csv`` or ``.json``; CorpusError for a bad file."""
    path = Path(path)
    text = read_utf8(path, CorpusError)
    if path.suffix == ".json":
        try:
            table = json.loads(text)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise CorpusError(f"{path}: expected an object {{file name: {{EmoClass: ..., ...}}}}")
        rows = [(f"{path}:{name}", {"FileName": name, **{k: "" if v is None else str(v) for k, v in fields.items()}})
                for name, fields in table.items()]
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(f"{path}: missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
        rows = [(f"{path}:{reader.line_num}", {k: (v or "").strip() for k, v in row.items() if k})
                for row in reader]
    return rows


def _read_transcript(path):
    """``(text on one line, problem or None)`` of a transcript file."""
    try:
        text = " ".join(path.read_text(encoding="utf-8-sig").split())
    except UnicodeDecodeError as err:
        return "", f"transcript not valid UTF-8 ({err.reason} at byte {err.start})"
    return text, None if text else "empty transcript"


def _names(folder):
    """File names in ``folder`` (one directory scan instead of one stat per turn)."""
    try:
        return {e.name for e in os.scandir(folder) if e.is_file()}
    except FileNotFoundError:
        return set()


def list_msp_podcast(raw, task="categorical", test_set="Test1", need_text=True):
    """List MSP-Podcast's speaking turns of Train (train), Development (valid) and ``test_set`` (test).

    ``task`` ``categorical``: the label is the class name of ``EmoClass`` (:data:`CLASS_CODES`);
    ``dimensional``: the label is the tuple of the EmoAct, EmoVal, EmoDom texts. Turns of the other
    test sets are left out and counted (``stats["left_out_sets"]``). A missing wav, a missing or
    empty transcript (unless ``need_text`` is False), an unknown class code or split, a duplicate
    or malformed file name is a :class:`Problem` naming the file. Turns whose speaker is unknown are
    kept with the speaker ``unknown`` (counted). Splits are set on the utterances.
    """
    if task not in ("categorical", "dimensional"):
        raise CorpusError(f"unknown MSP-Podcast task {task!r} (categorical or dimensional)")
    if test_set not in TEST_SETS:
        raise CorpusError(f"unknown MSP-Podcast test set {test_set!r} (one of {', '.join(TEST_SETS)})")
    root = Path(raw)
    labels_file = _label_file(root)
    rows = read_label_rows(labels_file)
    split_of = {**SPLIT_SETS, test_set: "test"}
    audio_names, transcript_names = _names(root / "Audios"), _names(root / "Transcripts")
    utterances, problems, seen = [], [], set()
    per_set, left_out, unknown_speakers, genders = Counter(), Counter(), 0, Counter()
    for where, row in rows:
        name, split_set = row.get("FileName", ""), row.get("Split_Set", "")
        per_set[split_set] += 1
        uid = name[:-len(".wav")] if name.endswith(".wav") else name
        if not _FILE_NAME.match(name):
            problems.append(Problem(uid or where, where, f"FileName {name!r} is not a .wav file name"))
            continue
        if name in seen:
            problems.append(Problem(uid, where, f"{name} listed twice"))
            continue
        seen.add(name)
        if split_set in TEST_SETS and split_set != test_set:
            left_out[split_set] += 1
            continue
        if split_set not in split_of:
            problems.append(Problem(uid, where, f"unknown Split_Set {split_set!r} "
                                                f"(expected {', '.join([*SPLIT_SETS, *TEST_SETS])})"))
            continue
        if task == "categorical":
            code = row.get("EmoClass", "")
            if code not in CLASS_CODES:
                problems.append(Problem(uid, where, f"unknown EmoClass {code!r} (known: {', '.join(CLASS_CODES)})"))
                continue
            label = CLASS_CODES[code]
        else:
            label = tuple(row.get(c, "") for c in DIMENSION_COLUMNS)
        if name not in audio_names:
            problems.append(Problem(uid, str(root / "Audios" / name), "missing wav"))
            continue
        transcript = root / "Transcripts" / f"{uid}.txt"
        text, problem = (_read_transcript(transcript) if transcript.name in transcript_names
                         else ("", "missing transcript"))
        if need_text and problem:
            problems.append(Problem(uid, str(transcript), f"{problem} (--modalities speech needs none)"))
            continue
        speaker = row.get("SpkrID", "").strip()
        if not speaker or speaker.lower() == UNKNOWN_SPEAKER:
            speaker, unknown_speakers = UNKNOWN_SPEAKER, unknown_speakers + 1
        genders[row.get("Gender", "") or "unknown"] += 1
        podcast = _PODCAST.match(uid)
        utterances.append(Utterance(id=uid, audio=str((root / "Audios" / name).resolve()), start=None, end=None,
                                    text=text, label=label, speaker=speaker,
                                    session=podcast.group(1) if podcast else "", split=split_of[split_set],
                                    origin=where))
    if per_set[test_set] == 0:
        raise CorpusError(f"{labels_file}: no turn of Split_Set {test_set} (Test3's labels are not public; "
                          "choose --test-set Test1 or Test2)")
    utterances.sort(key=lambda u: u.id)
    stats = {"labels_file": str(labels_file), "task": task, "test_set": test_set,
             "rows_per_split_set": dict(sorted(per_set.items())), "left_out_sets": dict(sorted(left_out.items())),
             "audio_files": len(audio_names), "transcript_files": len(transcript_names),
             "unknown_speaker": unknown_speakers, "per_gender": dict(sorted(genders.items()))}
    return Listing(utterances, problems, stats)


def check_count(listing):
    """Raise :class:`CorpusError` when the labels file's turns per Split_Set differ from release 1.11's.

    Applies to a whole release 1.11 (``Audios/`` holds its 151,654 files); the caller decides.
    """
    got = listing.stats["rows_per_split_set"]
    wrong = {s: got.get(s, 0) for s, n in RELEASE_PER_SET.items() if got.get(s, 0) != n}
    if wrong:
        detail = ", ".join(f"{s} {got.get(s, 0)} (documented {n})" for s, n in RELEASE_PER_SET.items())
        raise CorpusError(f"MSP-Podcast: Audios/ holds release {RELEASE}'s {RELEASE_AUDIO_FILES} files but "
                          f"{listing.stats['labels_file']} lists other numbers of turns per Split_Set: {detail}; "
                          "is the labels file complete and unmodified? For an edited tree pass --no-count-check")


def is_whole_release(listing):
    """Whether ``Audios/`` holds exactly the documented number of files of release 1.11."""
    return listing.stats["audio_files"] == RELEASE_AUDIO_FILES
