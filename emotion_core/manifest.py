"""The project's generic corpus format: one ``manifest.tsv`` row per utterance.

Columns (tab-separated, header row first)::

    id  audio  start  end  text  label  speaker  session  [split]  [extra columns ...]

``audio`` is relative to the manifest's folder or absolute; ``start``/``end`` are seconds inside the
audio (empty: the whole file); ``label`` is any label string (a class name or a score; another
column can be chosen, or several columns for dimensional labels such as
``arousal valence dominance``); ``session`` may be empty. A prepared ``DATA_DIR/manifest.tsv`` is
itself a valid input manifest (its audio paths are absolute).
"""
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import List, Optional, Tuple, Union

from emotion_core.files import atomic_output
from emotion_core.numbers import parse_number
from emotion_core.tsv import TsvError, read_tsv

MANIFEST_COLUMNS = ("id", "audio", "start", "end", "text", "label", "speaker", "session", "split")
REQUIRED_COLUMNS = ("id", "audio", "text")
UNKNOWN_SPEAKERS = ("", "unknown")  # speaker values that name no one (compared case-insensitively)


def is_known_speaker(speaker):
    """Whether ``speaker`` names a speaker (not empty, not "unknown")."""
    return speaker.strip().lower() not in UNKNOWN_SPEAKERS


@dataclass
class Utterance:
    """One utterance of a corpus, as listed by a corpus adapter."""

    id: str  # unique utterance id (also the line name in ids/{split}.id)
    audio: str  # absolute path of the audio file
    start: Optional[float]  # segment start in seconds (None: start of the file)
    end: Optional[float]  # segment end in seconds (None: end of the file)
    text: str  # transcript
    label: Union[str, Tuple[str, ...]]  # a class name or a score as text; one text per dimension for dimensional labels
    speaker: str  # speaker id (IEMOCAP: session + gender, e.g. "Ses01M"); "" or "unknown" when not known
    session: str = ""  # session number as text ("1".."5" for IEMOCAP), "" when the corpus has none
    split: str = ""  # train / valid / test once splits are assigned
    origin: str = ""  # where the utterance was listed ("manifest.tsv:12", an annotation file), for error messages


@dataclass
class Problem:
    """Why one utterance could not be prepared; aggregated into the report."""

    id: str  # utterance id
    file: str  # the file at fault (with ":line" where known)
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


def write_manifest(path, utterances, label_columns=("label",), extra_columns=()):
    """Write ``utterances`` as a manifest TSV (header + one row each) to ``path``, atomically.

    ``label_columns`` name the label's column(s): one for a class or a score, one per dimension.
    """
    columns = [c for c in MANIFEST_COLUMNS if c != "label"]
    columns[columns.index("text") + 1:columns.index("text") + 1] = label_columns
    with atomic_output(path) as f:
        f.write("\t".join(columns + list(extra_columns)) + "\n")
        for u in utterances:
            labels = u.label if isinstance(u.label, tuple) else (u.label,)
            row = [u.id, u.audio, _fmt_time(u.start), _fmt_time(u.end), u.text, *labels,
                   u.speaker, u.session, u.split]
            row += [getattr(u, c, "") for c in extra_columns]
            f.write("\t".join(_clean(v) for v in row) + "\n")


def _parse_time(value, what):
    """Seconds of a start/end cell (None when empty); ValueError for anything but a number >= 0."""
    if value == "":
        return None
    return parse_number(value, low=0.0, what=f"{what} (seconds)")


def read_manifest(path, label_columns=("label",)):
    """Read a manifest TSV into a :class:`Listing`; labels are kept as text (data preparation checks them).

    ``label_columns``: the column holding the label, or several columns (one per dimension) whose
    values become a tuple. Every bad row (invalid UTF-8, a wrong number of cells, an empty or
    duplicate id, a start or end that is not a number of seconds, an empty label) is listed as a
    :class:`Problem` naming the file and line (the run decides whether they fail it); a file without
    a usable header raises :class:`CorpusError`.

    >>> listing = read_manifest("corpus/manifest.tsv", label_columns=("sentiment",))  # doctest: +SKIP
    >>> listing.utterances[0].label  # doctest: +SKIP
    '1.25'
    """
    path, label_columns = Path(path), tuple(label_columns)
    try:
        _, rows = read_tsv(path, REQUIRED_COLUMNS + label_columns)
    except TsvError as err:
        raise CorpusError(f"{err} (expected columns: {' '.join(MANIFEST_COLUMNS)}; pick the label column "
                          "with --label-column, or the dimensions with --label-columns)") from None
    root = path.parent.resolve()
    utterances, problems, seen = [], [], set()
    for row in rows:
        where = f"{path}:{row.line}"
        if row.error:
            problems.append(Problem(row.cells.get("id") or f"line {row.line}", where, row.error))
            continue
        get = row.cells.get
        uid = get("id", "")
        if not uid or uid in seen:
            problems.append(Problem(uid or f"line {row.line}", where, "empty id" if not uid else f"duplicate id {uid!r}"))
            continue
        seen.add(uid)
        try:
            start, end = (_parse_time(get(c, ""), c) for c in ("start", "end"))
        except ValueError as err:
            problems.append(Problem(uid, where, str(err)))
            continue
        if start is not None and end is not None and end <= start:
            problems.append(Problem(uid, where, f"end {end} is not after start {start}"))
            continue
        labels = tuple(get(c, "") for c in label_columns)
        empty = [c for c, value in zip(label_columns, labels) if not value]
        if empty:
            problems.append(Problem(uid, where, f"empty label in column {', '.join(map(repr, empty))}"))
            continue
        audio = Path(get("audio", ""))
        audio = audio if audio.is_absolute() else root / audio
        utterances.append(Utterance(
            id=uid, audio=str(audio), start=start, end=end, text=get("text", ""),
            label=labels if len(labels) > 1 else labels[0], speaker=get("speaker", ""),
            session=get("session", ""), split=get("split", ""), origin=where))
    return Listing(utterances, problems, {"label_columns": list(label_columns), "manifest": str(path)})


assert [f.name for f in fields(Utterance)][:len(MANIFEST_COLUMNS)] == list(MANIFEST_COLUMNS), \
    "Utterance fields must follow the manifest columns"
