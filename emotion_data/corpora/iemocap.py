"""IEMOCAP adapter: list the 4-class utterances of an ``IEMOCAP_full_release`` tree.

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

from emotion_tasks.labels import EMOTIONS, IEMOCAP_CODES
from emotion_core.manifest import CorpusError, Listing, Problem, Utterance

# Every code the release uses; codes outside this set are reported as unknown labels.
ALL_CODES = ("neu", "hap", "exc", "sad", "ang", "fru", "sur", "fea", "dis", "oth", "xxx")
STANDARD_COUNT = 5531  # utterances kept from the full release (5 sessions)
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


def list_iemocap(root):
    """List the kept utterances of an IEMOCAP release tree as a :class:`Listing`.

    Keeps neu, hap+exc (as happy), sad and ang; drops the other codes (counted in
    ``stats["dropped_codes"]``). A missing transcript or wav, or an unknown code, is a
    :class:`Problem` naming the file. Utterances are sorted by id.
    """
    root = Path(root)
    sessions = find_sessions(root)
    if not sessions:
        raise CorpusError(f"{root}: no Session1..Session5/dialog folder; pass the IEMOCAP_full_release folder as --raw")
    utterances, problems = [], []
    kept_codes, dropped_codes = Counter(), Counter()
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
                if code not in ALL_CODES:
                    problems.append(Problem(utt_id, str(eval_file), f"unknown label {code!r} "
                                                                   f"(known: {', '.join(ALL_CODES)})"))
                    continue
                if code not in IEMOCAP_CODES:
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
                                            text=texts[utt_id], label=IEMOCAP_CODES[code],
                                            speaker=speaker, session=str(n)))
    utterances.sort(key=lambda u: u.id)
    listed = Counter(IEMOCAP_CODES[c] for c in kept_codes.elements())
    stats = {"sessions": sessions, "labelled_kept": sum(kept_codes.values()),
             "labelled_per_label": {e: listed[e] for e in EMOTIONS},
             "kept_codes": dict(sorted(kept_codes.items())), "dropped_codes": dict(sorted(dropped_codes.items()))}
    return Listing(utterances, problems, stats)


def check_count(listing, expect_count):
    """Raise :class:`CorpusError` when the number of kept labelled utterances differs from ``expect_count``."""
    got = listing.stats["labelled_kept"]
    if got != expect_count:
        per_label = listing.stats["labelled_per_label"]
        detail = ", ".join(f"{e} {per_label[e]} (standard {STANDARD_PER_LABEL[e]})" for e in EMOTIONS)
        raise CorpusError(f"IEMOCAP: {got} labelled utterances kept, expected {expect_count} ({detail}); "
                          "is the release complete and unmodified? For a partial or edited tree pass "
                          "--no-count-check (or --expect-count N)")
