"""IEMOCAP adapter: list the labelled utterances of an ``IEMOCAP_full_release`` tree.

Files read, for each ``SessionN`` (N in 1..5) present under the release folder:

- ``SessionN/dialog/EmoEvaluation/<dialog>.txt`` (top level only; ``Categorical/``, ``Attribute/``,
  ``Self-evaluation/`` and macOS ``._*`` files are not read): the turn lines
  ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``; evaluator
  lines (``C-E1:``, ``A-E2:``...) and the ``%`` header are ignored.
- ``SessionN/dialog/transcriptions/<dialog>.txt``: lines ``Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.``;
  other lines (e.g. ``M: [BREATHING]``, unlabeled turns) are ignored.
- ``SessionN/sentences/wav/<dialog>/<utterance>.wav``.
"""
import re
from collections import Counter
from pathlib import Path

from emotion_core.manifest import CorpusError, Listing, Problem, Utterance

# Every code the release uses (xxx: the evaluators did not agree), with the label it becomes.
CODE_NAMES = {"neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry", "fru": "frustrated",
              "sur": "surprised", "fea": "fearful", "dis": "disgusted", "oth": "other", "xxx": None}
STANDARD_COUNT = 5531  # utterances of the paper's 4 classes (excited merged into happy) in the full release
STANDARD_PER_LABEL = {"neutral": 1708, "happy": 1636, "sad": 1084, "angry": 1103}

_TURN = re.compile(r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\t(Ses\S+)\t(\S+)\t\[")
_TRANSCRIPT = re.compile(r"^(Ses\S+) \[[\d.]+-[\d.]+\]:\s?(.*)$")
_UTT_ID = re.compile(r"^Ses0([1-5])[MF]_.+_([MF])\d{3}$")


def speaker_of(utt_id):
    """Session + gender of the utterance's speaker (the letter before the 3-digit turn number).

    >>> speaker_of("Ses01F_impro01_M000"), speaker_of("Ses03M_script01_1_F012")
    ('Ses01M', 'Ses03F')
    """
    m = _UTT_ID.match(utt_id)
    if not m:
        raise CorpusError(f"cannot read session and speaker from utterance id {utt_id!r}")
    return f"Ses0{m.group(1)}{m.group(2)}"


def find_sessions(root):
    """Session numbers present under ``root`` (``Session1`` .. ``Session5`` folders)."""
    return [n for n in range(1, 6) if (Path(root) / f"Session{n}" / "dialog").is_dir()]


def _read_transcripts(path):
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _TRANSCRIPT.match(line.strip())
        if m:
            texts[m.group(1)] = m.group(2).strip()
    return texts


def list_iemocap(root, keep=None):
    """List the labelled utterances of an IEMOCAP release tree as a :class:`Listing`.

    Labels are the codes' names (:data:`CODE_NAMES`: neutral, happy, excited, ...); ``xxx`` (no
    agreement) and, when ``keep(name)`` is given, the labels it rejects are dropped and counted in
    ``stats["dropped_codes"]``. A missing transcript or wav, or an unknown code, of a kept utterance
    is a :class:`Problem` naming the file. ``stats["labelled_per_label"]`` counts every labelled turn
    by name (for the count check). Utterances are sorted by id.
    """
    root = Path(root)
    sessions = find_sessions(root)
    if not sessions:
        raise CorpusError(f"{root}: no Session1..Session5/dialog folder; pass the IEMOCAP_full_release folder as --raw")
    utterances, problems = [], []
    kept_codes, dropped_codes, listed = Counter(), Counter(), Counter()
    for n in sessions:
        session_dir = root / f"Session{n}"
        eval_files = sorted(p for p in (session_dir / "dialog" / "EmoEvaluation").glob("*.txt")
                            if not p.name.startswith("."))
        if not eval_files:
            raise CorpusError(f"{session_dir}/dialog/EmoEvaluation: no evaluation file")
        for eval_file in eval_files:
            dialog = eval_file.stem
            transcript_file = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
            texts = _read_transcripts(transcript_file) if transcript_file.is_file() else None
            for line in eval_file.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _TURN.match(line)
                if not m:
                    continue
                utt_id, code = m.group(3), m.group(4)
                if code not in CODE_NAMES:
                    problems.append(Problem(utt_id, str(eval_file), f"unknown label {code!r} "
                                                                   f"(known: {', '.join(CODE_NAMES)})"))
                    continue
                name = CODE_NAMES[code]
                if name is not None:
                    listed[name] += 1
                if name is None or (keep is not None and not keep(name)):
                    dropped_codes[code] += 1
                    continue
                kept_codes[code] += 1
                wav = session_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav"
                if texts is None:
                    problems.append(Problem(utt_id, str(transcript_file), "missing transcript file"))
                    continue
                if utt_id not in texts:
                    problems.append(Problem(utt_id, str(transcript_file), "missing transcript line"))
                    continue
                if not texts[utt_id]:
                    problems.append(Problem(utt_id, str(transcript_file), "empty transcript"))
                    continue
                if not wav.is_file():
                    problems.append(Problem(utt_id, str(wav), "missing wav"))
                    continue
                try:
                    speaker = speaker_of(utt_id)
                except CorpusError as err:
                    problems.append(Problem(utt_id, str(eval_file), str(err)))
                    continue
                utterances.append(Utterance(id=utt_id, audio=str(wav.resolve()), start=None, end=None,
                                            text=texts[utt_id], label=name, speaker=speaker, session=str(n),
                                            origin=str(eval_file)))
    utterances.sort(key=lambda u: u.id)
    stats = {"sessions": sessions, "labelled_kept": sum(kept_codes.values()),
             "labelled_per_label": dict(sorted(listed.items())),
             "kept_codes": dict(sorted(kept_codes.items())), "dropped_codes": dict(sorted(dropped_codes.items()))}
    return Listing(utterances, problems, stats)


def check_count(listing, expect_count, merge=None):
    """Raise :class:`CorpusError` when the labelled turns of the paper's 4 classes are not ``expect_count``.

    ``merge`` maps a label to the class it counts for (None: excited -> happy, as the paper).
    """
    merge = {"excited": "happy"} if merge is None else merge
    per_class = Counter()
    for name, count in listing.stats["labelled_per_label"].items():
        per_class[merge.get(name, name)] += count
    got = sum(per_class[e] for e in STANDARD_PER_LABEL)
    if got != expect_count:
        detail = ", ".join(f"{e} {per_class[e]} (standard {n})" for e, n in STANDARD_PER_LABEL.items())
        raise CorpusError(f"IEMOCAP: {got} labelled utterances of the 4 classes, expected {expect_count} ({detail}); "
                          "is the release complete and unmodified? For a partial or edited tree pass "
                          "--no-count-check (or --expect-count N)")
