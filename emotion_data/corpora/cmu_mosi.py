"""CMU-MOSI and CMU-MOSEI adapters: segments, transcripts and sentiment scores in [-3, 3].

``--raw`` is the release folder holding ``Raw/`` (or ``Raw/`` itself). Files read:

CMU-MOSI (segment wav files)::

    Raw/Transcript/Segmented/<video>.annotprocessed   lines "<segment>_DELIM_<text>"
    Raw/Audio/WAV_16000/Segmented/<video>_<segment>.wav
    Raw/Labels/OpinionLevelSentiment.csv              start,end,video,segment,score (no header); or --labels

CMU-MOSEI (full-video audio cut at the transcript's segment times)::

    Raw/Transcript/Segmented/Combined/<video>.txt     lines "<video>___<segment>___<start>___<end>___<text>"
    Raw/Audio/Full/WAV_16000/<video>.wav
    --labels FILE                                     (required: the raw Labels/ folder holds per-annotator MTurk batches)

A labels file (``--labels``) is a TSV or CSV with a header naming the segment id column (``id``,
``segment_id`` or ``segment``) and the score column (``score``, ``sentiment`` or ``label``), or
MOSI's headerless ``OpinionLevelSentiment.csv``. Segment ids are ``<video>_<segment>``.
Neither corpus names its speakers: the speaker is the video id (MOSI: 93 videos, 89 speakers).
"""
import csv
from collections import Counter
from pathlib import Path

from emotion_core.manifest import CorpusError, Listing, Problem, Utterance
from emotion_core.numbers import parse_number
from emotion_core.text_files import read_utf8

SCORE_RANGE = (-3.0, 3.0)
MOSI_STANDARD = {"videos": 93, "segments": 2199, "train": 1284, "valid": 229, "test": 686}
_ID_COLUMNS, _SCORE_COLUMNS = ("id", "segment_id", "segment"), ("score", "sentiment", "label")


def release_root(raw):
    """The folder holding ``Transcript/`` and ``Audio/``: ``raw/Raw`` when it exists, else ``raw``."""
    raw = Path(raw)
    return raw / "Raw" if (raw / "Raw").is_dir() else raw


def video_of(segment_id):
    """Video id of a ``<video>_<segment>`` id (video ids may hold underscores).

    >>> video_of("_dI--eQ6qVU_12")
    '_dI--eQ6qVU'
    """
    return segment_id.rsplit("_", 1)[0]


def read_labels(path):
    """Read ``{segment id: score text}`` from a labels TSV/CSV or MOSI's ``OpinionLevelSentiment.csv``."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: labels file not found")
    text = read_utf8(path, CorpusError, "; save it as UTF-8")
    delimiter = "\t" if "\t" in text.splitlines()[0] else ","
    rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter) if any(c.strip() for c in r)]
    if not rows:
        raise CorpusError(f"{path}: empty labels file")
    header = [c.strip().lower() for c in rows[0]]
    id_col = next((header.index(c) for c in _ID_COLUMNS if c in header), None)
    score_col = next((header.index(c) for c in _SCORE_COLUMNS if c in header), None)
    if id_col is not None and score_col is not None:
        pairs = [(r[id_col], r[score_col]) for r in rows[1:]]
    elif len(rows[0]) == 5:  # OpinionLevelSentiment.csv: start, end, video, segment, score
        pairs = [(f"{r[2].strip()}_{r[3].strip()}", r[4]) for r in rows]
    else:
        raise CorpusError(f"{path}: expected a header with an id column ({', '.join(_ID_COLUMNS)}) and a score "
                          f"column ({', '.join(_SCORE_COLUMNS)}), or MOSI's 5-column OpinionLevelSentiment.csv")
    return {sid.strip(): score.strip() for sid, score in pairs}


def _check_score(score):
    """None for a score in decimal notation within [-3, 3], else the problem."""
    try:
        parse_number(score, *SCORE_RANGE, what="score")
    except ValueError as err:
        return str(err)
    return None


def _mosi_segments(root):
    transcript_dir = root / "Transcript" / "Segmented"
    files = sorted(p for p in transcript_dir.glob("*.annotprocessed") if not p.name.startswith("."))
    if not files:
        raise CorpusError(f"{transcript_dir}: no *.annotprocessed transcript (is --raw the CMU-MOSI release?)")
    for f in files:
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if "_DELIM_" in line:
                segment, text = line.split("_DELIM_", 1)
                sid = f"{f.stem}_{segment.strip()}"
                wav = root / "Audio" / "WAV_16000" / "Segmented" / f"{sid}.wav"
                yield sid, f, wav, None, None, text.strip(), None


def _mosei_segments(root):
    transcript_dir = root / "Transcript" / "Segmented" / "Combined"
    files = sorted(p for p in transcript_dir.glob("*.txt") if not p.name.startswith("."))
    if not files:
        raise CorpusError(f"{transcript_dir}: no <video>.txt transcript (is --raw the CMU-MOSEI release?)")
    for f in files:
        for line_no, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            parts = line.strip().split("___", 4)
            if len(parts) != 5:
                continue
            video, segment, start, end, text = parts
            wav = root / "Audio" / "Full" / "WAV_16000" / f"{video}.wav"
            try:
                t0, t1 = parse_number(start, low=0.0), parse_number(end, low=0.0)
            except ValueError:
                problem = f"line {line_no}: segment times {start!r}, {end!r} are not numbers of seconds"
                yield f"{video}_{segment}", f, wav, None, None, text.strip(), problem
                continue
            yield f"{video}_{segment}", f, wav, t0, t1, text.strip(), None


def list_cmu(raw, corpus, labels=None):
    """List the labelled segments of CMU-MOSI (``corpus="mosi"``) or CMU-MOSEI (``"mosei"``).

    Segments with a transcript but no label are dropped and counted (``stats["unlabelled"]``); a
    label without transcript, a missing wav or a score outside [-3, 3] is a :class:`Problem`.
    """
    if corpus not in ("mosi", "mosei"):
        raise CorpusError(f"unknown CMU corpus {corpus!r}")
    root = release_root(raw)
    if labels is None:
        if corpus == "mosei":
            raise CorpusError("CMU-MOSEI needs --labels FILE (segment id + score in [-3, 3]); see docs/data_preparation.md")
        labels = root / "Labels" / "OpinionLevelSentiment.csv"
    scores = read_labels(labels)
    segments = _mosi_segments(root) if corpus == "mosi" else _mosei_segments(root)
    utterances, problems, seen, unlabelled, transcripts = [], [], set(), 0, set()
    for sid, transcript, wav, start, end, text, bad_line in segments:
        transcripts.add(transcript)
        if bad_line:
            problems.append(Problem(sid, str(transcript), bad_line))
            seen.add(sid)
            continue
        if sid in seen:
            problems.append(Problem(sid, str(transcript), "segment listed twice"))
            continue
        seen.add(sid)
        if sid not in scores:
            unlabelled += 1
            continue
        problem = _check_score(scores[sid])
        if problem:
            problems.append(Problem(sid, str(labels), problem))
            continue
        if not wav.is_file():
            problems.append(Problem(sid, str(wav), "missing wav"))
            continue
        if not text:
            problems.append(Problem(sid, str(transcript), "empty transcript"))
            continue
        utterances.append(Utterance(id=sid, audio=str(wav.resolve()), start=start, end=end, text=text,
                                    label=scores[sid], speaker=video_of(sid), session=""))
    for sid in sorted(set(scores) - seen):
        problems.append(Problem(sid, str(labels), "label without transcript line"))
    utterances.sort(key=lambda u: u.id)
    stats = {"transcript_files": len(transcripts), "labelled": len(scores), "unlabelled": unlabelled,
             "labels_file": str(labels), "videos": len({video_of(u.id) for u in utterances}),
             "score_histogram": dict(sorted(Counter(round(float(u.label)) for u in utterances).items()))}
    return Listing(utterances, problems, stats)
