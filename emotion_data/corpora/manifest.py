"""The project's generic corpus format: one ``manifest.tsv`` row per utterance.

Columns (tab-separated, header row first)::

    id  audio  start  end  text  label  speaker  session  [split]  [extra columns ...]

``audio`` is relative to the manifest's folder or absolute; ``start``/``end`` are seconds inside the
audio (empty: the whole file); ``label`` is an emotion name from ``EMOTIONS`` or a float score
(another column can be chosen with ``label_column``); ``session`` may be empty. A prepared
``DATA_DIR/manifest.tsv`` is itself a valid input manifest (its audio paths are absolute).
"""
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import List, Optional

from emotion_tasks.labels import EMOTIONS

MANIFEST_COLUMNS = ("id", "audio", "start", "end", "text", "label", "speaker", "session", "split")
REQUIRED_COLUMNS = ("id", "audio", "text")


@dataclass
class Utterance:
    """One utterance of a corpus, as listed by a corpus adapter."""

    id: str  # unique utterance id (also the line name in ids/{split}.id)
    audio: str  # absolute path of the audio file
    start: Optional[float]  # segment start in seconds (None: start of the file)
    end: Optional[float]  # segment end in seconds (None: end of the file)
    text: str  # transcript
    label: str  # emotion name from EMOTIONS or a float score, as text
    speaker: str  # speaker id (IEMOCAP: session + gender, e.g. "Ses01M")
    session: str = ""  # session number as text ("1".."5" for IEMOCAP), "" when the corpus has none
    split: str = ""  # train / valid / test once splits are assigned


@dataclass
class Problem:
    """Why one utterance could not be prepared; aggregated into the report."""

    id: str  # utterance id
    file: str  # the file at fault
    problem: str  # what is wrong, in words


@dataclass
class Listing:
    """What a corpus adapter found: usable utterances, per-utterance problems and corpus statistics."""

    utterances: List[Utterance]
    problems: List[Problem] = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # corpus-specific counts for the report (e.g. dropped labels)


class CorpusError(ValueError):
    """The corpus as a whole cannot be read (wrong folder, bad header, wrong utterance count...)."""


def _clean(text):
    """Make a value safe for one TSV cell (no tabs or newlines)."""
    return " ".join(str(text).split())


def _fmt_time(value):
    return "" if value is None else f"{value:.4f}"


def write_manifest(path, utterances, extra_columns=()):
    """Write ``utterances`` as a manifest TSV (header + one row each) to ``path`` (not atomic)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(MANIFEST_COLUMNS + tuple(extra_columns)) + "\n")
        for u in utterances:
            row = [u.id, u.audio, _fmt_time(u.start), _fmt_time(u.end), u.text, u.label,
                   u.speaker, u.session, u.split]
            row += [getattr(u, c, "") for c in extra_columns]
            f.write("\t".join(_clean(v) for v in row) + "\n")


def label_kind(label):
    """``"emotion"`` for a name in EMOTIONS, ``"score"`` for a finite float, else None."""
    if label in EMOTIONS:
        return "emotion"
    try:
        return "score" if math.isfinite(float(label)) else None
    except ValueError:
        return None


def _parse_time(value, what, path, line_no):
    if value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise CorpusError(f"{path}:{line_no}: {what} {value!r} is not a number of seconds") from None


def read_manifest(path, label_column="label"):
    """Read a manifest TSV into a :class:`Listing`.

    Rows with an empty transcript or a label that is neither an emotion name nor a float are
    listed as problems (the run decides whether they fail it); a malformed file raises
    :class:`CorpusError` naming the file and line.

    >>> listing = read_manifest("corpus/manifest.tsv", label_column="sentiment")  # doctest: +SKIP
    >>> listing.utterances[0].label  # doctest: +SKIP
    '1.25'
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest not found")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise CorpusError(f"{path}: empty manifest (expected a header row: {' '.join(MANIFEST_COLUMNS)})")
    header = lines[0].split("\t")
    missing = [c for c in REQUIRED_COLUMNS + (label_column,) if c not in header]
    if missing:
        raise CorpusError(f"{path}: header lacks column(s) {', '.join(missing)} "
                          f"(found: {', '.join(header)}; pick the label column with --label-column)")
    col = {name: i for i, name in enumerate(header)}
    root = path.parent.resolve()
    utterances, problems, seen = [], [], set()
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise CorpusError(f"{path}:{line_no}: {len(cells)} cells, header has {len(header)}")

        def get(name, default=""):
            return cells[col[name]].strip() if name in col else default

        uid = get("id")
        if not uid or uid in seen:
            raise CorpusError(f"{path}:{line_no}: {'empty' if not uid else 'duplicate'} id {uid!r}")
        seen.add(uid)
        audio = Path(get("audio"))
        audio = audio if audio.is_absolute() else root / audio
        u = Utterance(id=uid, audio=str(audio), start=_parse_time(get("start"), "start", path, line_no),
                      end=_parse_time(get("end"), "end", path, line_no), text=get("text"),
                      label=get(label_column), speaker=get("speaker") or uid, session=get("session"),
                      split=get("split"))
        if label_kind(u.label) is None:
            problems.append(Problem(uid, str(path), f"unknown label {u.label!r} in column {label_column!r} "
                                                    f"(expected one of {', '.join(EMOTIONS)} or a float score)"))
            continue
        utterances.append(u)
    kinds = {label_kind(u.label) for u in utterances}
    if len(kinds) > 1:
        raise CorpusError(f"{path}: column {label_column!r} mixes emotion names and float scores")
    return Listing(utterances, problems, {"label_column": label_column, "manifest": str(path)})


assert [f.name for f in fields(Utterance)] == list(MANIFEST_COLUMNS), "Utterance fields must follow the columns"
