"""Train/valid/test splits, as explicit and documented settings (see docs/data_preparation.md).

Strategies (:func:`assign_splits` picks one):

- ``sessions`` (IEMOCAP default, the paper's ablation split): sessions 1-3 train, 4 valid, 5 test
  (a session is written ``3``, ``03``, ``Ses03`` or ``Session3``).
- ``fold`` K in 1..5 (leave one session out): session K is test, session K % 5 + 1 (the next one,
  wrapping 5 -> 1) is valid, the other three sessions are train.
- ``speaker`` S (leave one speaker out): speaker S is test, the other speaker(s) of S's session are
  valid, every other session is train (IEMOCAP: test Ses01F, valid Ses01M, train sessions 2-5).
- ``folds_file``: the CMU Multimodal SDK's standard folds, a JSON ``{"train": [...], "valid": [...],
  "test": [...]}`` of video ids (or segment ids), or the SDK's ``cmu_mosi_std_folds.py`` /
  ``cmu_mosei_std_folds.py`` itself (``standard_{train,valid,test}_fold = [...]``).
- ``column``: the manifest's own ``split`` column.
"""
import ast
import json
import re
from pathlib import Path

SPLITS = ("train", "valid", "test")
N_SESSIONS = 5
ABLATION_SESSIONS = {"train": (1, 2, 3), "valid": (4,), "test": (5,)}  # the paper's ablation split
_FOLD_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}


class SplitError(ValueError):
    """The split settings do not fit the corpus; the message says what to change."""


def fold_sessions(fold):
    """Sessions of each split for leave-one-session-out fold ``fold`` (1..5).

    >>> fold_sessions(5)
    {'train': (2, 3, 4), 'valid': (1,), 'test': (5,)}
    """
    if not 1 <= fold <= N_SESSIONS:
        raise SplitError(f"--fold must be in 1..{N_SESSIONS}, got {fold}")
    valid = fold % N_SESSIONS + 1
    train = tuple(s for s in range(1, N_SESSIONS + 1) if s not in (fold, valid))
    return {"train": train, "valid": (valid,), "test": (fold,)}


def load_folds(path):
    """Read standard folds: ``{"train"|"valid"|"test": set of ids}`` from a JSON or the SDK's ``.py`` file.

    The ``.py`` file is parsed, never executed: only literal ``standard_<split>_fold = [...]``
    assignments are read.
    """
    path = Path(path)
    if not path.is_file():
        raise SplitError(f"{path}: folds file not found")
    text = path.read_text(encoding="utf-8")
    raw = {}
    if path.suffix == ".py":
        for node in ast.parse(text, str(path)).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                if name.startswith("standard_") and name.endswith("_fold"):
                    raw[name[len("standard_"):-len("_fold")]] = ast.literal_eval(node.value)
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise SplitError(f"{path}: not valid JSON ({err})") from None
    folds = {}
    for key, ids in (raw.items() if isinstance(raw, dict) else []):
        if key in _FOLD_ALIASES and isinstance(ids, list):
            folds.setdefault(_FOLD_ALIASES[key], set()).update(str(i) for i in ids)
    if set(folds) != set(SPLITS):
        raise SplitError(f"{path}: expected lists for train, valid and test (found: {', '.join(sorted(folds)) or 'none'}); "
                         'format: {"train": [video ids], "valid": [...], "test": [...]}')
    overlap = (folds["train"] & folds["valid"]) | (folds["train"] & folds["test"]) | (folds["valid"] & folds["test"])
    if overlap:
        raise SplitError(f"{path}: ids in more than one fold: {', '.join(sorted(overlap)[:10])}")
    return folds


_SESSION = re.compile(r"^(?:ses(?:sion)?)?0*(\d+)$", re.IGNORECASE)


def _session_int(u):
    """Session number of "3", "03", "Ses03" or "Session3"; None otherwise."""
    m = _SESSION.match(u.session.strip())
    return int(m.group(1)) if m else None


def assign_splits(utterances, strategy, fold=None, speaker=None, folds_file=None, video_of=None):
    """Set ``u.split`` on each utterance; return ``(assigned, unassigned, description)``.

    ``strategy`` is one of ``sessions``, ``fold``, ``speaker``, ``folds_file``, ``column``.
    ``video_of(u)`` maps an utterance to its video id for ``folds_file`` (default: the id itself).
    Utterances that fall in no split (a video missing from the folds) are returned as ``unassigned``
    for the report; the description dict records the exact split for ``prepare_report.json``.

    >>> from emotion_core.manifest import Utterance
    >>> us = [Utterance(f"u{s}", "a.wav", None, None, "hi", "sad", f"Ses0{s}F", str(s)) for s in range(1, 6)]
    >>> [u.split for u in assign_splits(us, "fold", fold=2)[0]]
    ['train', 'test', 'valid', 'train', 'train']
    """
    if strategy in ("sessions", "fold"):
        sessions = ABLATION_SESSIONS if strategy == "sessions" else fold_sessions(fold)
        bad = sorted({u.session for u in utterances if _session_int(u) not in range(1, N_SESSIONS + 1)})
        if bad:
            raise SplitError(f"session-based splits need sessions 1..{N_SESSIONS}; found {', '.join(map(repr, bad[:5]))} "
                             "(give the manifest a split column, or choose --leave-one-speaker-out)")
        of_session = {s: name for name, ss in sessions.items() for s in ss}
        for u in utterances:
            u.split = of_session[_session_int(u)]
        description = {"strategy": strategy, **({"fold": fold} if fold else {}),
                       **{k: list(v) for k, v in sessions.items()}}
        return list(utterances), [], description
    if strategy == "speaker":
        test_sessions = {u.session for u in utterances if u.speaker == speaker}
        if not test_sessions:
            known = sorted({u.speaker for u in utterances})
            raise SplitError(f"--leave-one-speaker-out {speaker!r}: no such speaker (known: {', '.join(known[:20])})")
        for u in utterances:
            u.split = "test" if u.speaker == speaker else "valid" if u.session in test_sessions else "train"
        if not any(u.split == "valid" for u in utterances):
            raise SplitError(f"--leave-one-speaker-out {speaker!r}: no other speaker shares its session "
                             f"{', '.join(sorted(test_sessions))}, so the valid split would be empty")
        valid_speakers = sorted({u.speaker for u in utterances if u.split == "valid"})
        return list(utterances), [], {"strategy": "speaker", "test": [speaker], "valid": valid_speakers,
                                      "train": "every other session"}
    if strategy == "folds_file":
        folds = load_folds(folds_file)
        video_of = video_of or (lambda u: u.id)
        assigned, unassigned = [], []
        for u in utterances:
            u.split = next((s for s in SPLITS if u.id in folds[s] or video_of(u) in folds[s]), "")
            (assigned if u.split else unassigned).append(u)
        return assigned, unassigned, {"strategy": "folds_file", "folds_file": str(folds_file),
                                      **{s: len(folds[s]) for s in SPLITS}}
    if strategy == "column":
        bad = sorted({u.split for u in utterances if u.split not in SPLITS})
        if bad:
            raise SplitError(f"split column holds {', '.join(map(repr, bad))}; expected {', '.join(SPLITS)}")
        return list(utterances), [], {"strategy": "column"}
    raise SplitError(f"unknown split strategy {strategy!r}")


def choose_strategy(utterances, fold=None, speaker=None, folds_file=None):
    """The strategy implied by the options, falling back on a manifest's split column, then sessions."""
    chosen = [name for name, value in (("fold", fold), ("speaker", speaker), ("folds_file", folds_file)) if value]
    if len(chosen) > 1:
        raise SplitError(f"choose one split option, got {', '.join(chosen)}")
    if chosen:
        return chosen[0]
    if utterances and all(u.split for u in utterances):
        return "column"
    return "sessions"
