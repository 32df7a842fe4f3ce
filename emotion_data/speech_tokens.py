"""Speech tokens of a corpus, resumable: vq-wav2vec k-means tokens per utterance, cached by content.

:func:`tokenize_speech` tokenizes the utterances missing from a :class:`TokenCache` (an
append-only TSV: an interrupted run loses no finished utterance) with ``workers`` processes. An
utterance's cache key covers its id, audio path, segment and the audio file's content digest
(:class:`AudioDigests`), so audio changed in place is tokenized again.
"""
import hashlib
import logging
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from emotion_core.files import atomic_write_lines
from emotion_core.manifest import Problem

logger = logging.getLogger(__name__)

MAX_LISTED = 200  # ids listed per summary entry (counts are always complete)


def load_speech_tokenizer(checkpoint):
    """The production speech tokenizer: vq-wav2vec k-means through fairseq."""
    from emotion_data.speech_tokenizer import SpeechTokenizer

    return SpeechTokenizer.from_checkpoint(checkpoint)

def file_digest(path):
    """sha256 of a file (hex, first 16 digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def utterance_key(u, audio_digest):
    """Cache key of an utterance's speech: its id, audio file, segment and the file's content digest."""
    return hashlib.sha1(f"{u.id}\t{u.audio}\t{u.start}\t{u.end}\t{audio_digest}".encode()).hexdigest()[:16]


class AudioDigests:
    """Content digests of audio files, remembered by (path, size, mtime) in ``DIGEST_FILE``.

    A file whose size and modification time are unchanged since it was last hashed keeps its digest
    (a rerun only stats the files); any other file is hashed again, so an audio file changed in place
    gets a new digest and its utterances new cache keys.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.known = {}  # {audio path: (size, mtime_ns, digest)}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                cells = line.split("\t")
                if len(cells) == 4 and cells[1].isdigit() and cells[2].isdigit():
                    self.known[cells[0]] = (int(cells[1]), int(cells[2]), cells[3])

    def digest(self, audio):
        """Digest of ``audio``'s content ("missing" when it cannot be read: reported by tokenization)."""
        try:
            st = os.stat(audio)
        except OSError:
            return "missing"
        entry = self.known.get(audio)
        if entry is None or entry[:2] != (st.st_size, st.st_mtime_ns):
            try:
                entry = (st.st_size, st.st_mtime_ns, file_digest(audio))
            except OSError:
                return "unreadable"
            self.known[audio] = entry
        return entry[2]

    def save(self):
        atomic_write_lines(self.path, [f"{p}\t{size}\t{mtime}\t{d}" for p, (size, mtime, d) in sorted(self.known.items())])


# ----------------------------------------------------------------------------------------- cache
class TokenCache:
    """Append-only TSV of finished utterances: ``key id sample_rate channels seconds n_frames tokens``.

    The first line names the tokenizer checkpoint's digest; a cache made with another checkpoint is
    discarded. A torn last line (interrupted write) is ignored and cut off on open.
    """

    FIELDS = 7

    def __init__(self, path, checkpoint_digest):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.header = f"#checkpoint {checkpoint_digest}"
        self.records = {}
        good = [self.header]
        if self.path.is_file():
            lines = self.path.read_text(encoding="utf-8").split("\n")
            if lines[0] != self.header:
                logger.warning("%s was made with another tokenizer checkpoint: starting afresh", self.path)
                lines = [self.header, ""]
            for line in lines[1:-1]:  # the last element is "" or a torn line
                record = self._parse(line)
                if record:
                    self.records[record["key"]] = record
                    good.append(line)
        atomic_write_lines(self.path, good)
        self.file = open(self.path, "a", encoding="utf-8")

    @classmethod
    def _parse(cls, line):
        cells = line.split("\t")
        if len(cells) != cls.FIELDS:
            return None
        tokens = cells[6].split()
        if len(tokens) != int(cells[5]):
            return None
        return {"key": cells[0], "id": cells[1], "sample_rate": int(cells[2]), "channels": int(cells[3]),
                "seconds": float(cells[4]), "tokens": tokens}

    def append(self, r):
        """Record one finished utterance (flushed at once)."""
        self.file.write(f"{r['key']}\t{r['id']}\t{r['sample_rate']}\t{r['channels']}\t{r['seconds']:.4f}"
                        f"\t{len(r['tokens'])}\t{' '.join(r['tokens'])}\n")
        self.file.flush()
        self.records[r["key"]] = r

    def close(self):
        self.file.close()


# ------------------------------------------------------------------------------- speech workers
_WORKER = {}


def _init_worker(factory, checkpoint, threads):
    if threads:
        import torch

        torch.set_num_threads(threads)
    _WORKER["tokenizer"] = factory(checkpoint)


def _tokenize(item):
    """(key, id, audio, start, end) -> a cache record, or a dict with ``problem`` and ``file``."""
    from emotion_data.audio import AudioError, load_audio_with_info

    key, uid, audio, start, end = item
    try:
        wav, info = load_audio_with_info(audio, start, end)
    except AudioError as err:
        return {"key": key, "id": uid, "file": err.path, "problem": err.problem}
    try:
        tokens = _WORKER["tokenizer"].tokenize(wav)
    except ValueError as err:  # e.g. too short for one frame; other errors are bugs and stop the run
        return {"key": key, "id": uid, "file": audio, "problem": str(err)}
    if not tokens:
        return {"key": key, "id": uid, "file": audio, "problem": f"no speech frame from {len(wav)} samples"}
    return {"key": key, "id": uid, "sample_rate": info.sample_rate, "channels": info.channels,
            "seconds": len(wav) / 16000, "tokens": tokens}


def _duration(u):
    from emotion_data.audio import audio_duration

    if u.start is not None and u.end is not None:
        return u.end - u.start
    whole = audio_duration(u.audio)  # None when unreadable: reported when tokenized
    return 0.0 if whole is None else whole - (u.start or 0.0)


def tokenize_speech(utterances, keys, checkpoint, cache, workers=1, factory=None):
    """Tokenize the utterances whose ``keys[id]`` is missing from ``cache``; return ``(records by id, problems, summary)``.

    Work goes longest first (length-sorted), so that ``workers`` processes stay balanced; each
    process loads the tokenizer once (one torch thread each when ``workers`` > 1), after the main
    process has loaded it once, so that a bad tokenizer checkpoint fails here with its error. Every
    finished utterance is appended to the cache at once, so an interrupted run loses none of them.
    Utterances cached under another key (their audio changed) are counted as rebuilt.
    """
    factory = factory or load_speech_tokenizer
    todo = sorted((u for u in utterances if keys[u.id] not in cache.records), key=_duration, reverse=True)
    cached_ids = {r["id"] for r in cache.records.values()}
    rebuilt = sorted(u.id for u in todo if u.id in cached_ids)
    if rebuilt:
        logger.info("speech tokens: %d utterance(s) tokenized again because their audio changed, e.g. %s",
                    len(rebuilt), ", ".join(rebuilt[:5]))
    skipped = len(utterances) - len(todo)
    items = [(keys[u.id], u.id, u.audio, u.start, u.end) for u in todo]
    problems, done, seconds, t0 = [], 0, 0.0, time.perf_counter()
    logger.info("speech tokens: %d to do, %d already in %s", len(todo), skipped, cache.path)
    if items:
        _WORKER["tokenizer"] = factory(str(checkpoint))  # a bad checkpoint fails here, before any worker starts
        with tqdm(total=len(utterances), initial=skipped, desc="speech tokens", unit="utt") as bar:
            if workers > 1:
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(workers, initializer=_init_worker, initargs=(factory, str(checkpoint), 1)) as pool:
                    results = pool.imap_unordered(_tokenize, items, chunksize=1)
                    for r in results:
                        done, seconds = _collect(r, cache, problems, done, seconds, bar)
            else:
                for item in items:
                    done, seconds = _collect(_tokenize(item), cache, problems, done, seconds, bar)
    wall = time.perf_counter() - t0
    summary = {"done": done, "skipped": skipped, "failed": len(problems), "workers": workers,
               "rebuilt_changed_audio": {"count": len(rebuilt), "ids": rebuilt[:MAX_LISTED]},
               "audio_seconds": round(seconds, 2), "wall_seconds": round(wall, 2),
               "utterances_per_second": round(done / wall, 2) if done else None,
               "real_time_factor": round(wall / seconds, 4) if seconds else None}
    reasons = Counter(p.problem.split(" (")[0] for p in problems)
    logger.info("speech tokens: %d done, %d skipped (cached), %d failed%s", done, skipped, len(problems),
                "".join(f"\n  {n} x {reason}" for reason, n in reasons.most_common()))
    by_id = {u.id: cache.records[keys[u.id]] for u in utterances if keys[u.id] in cache.records}
    return by_id, problems, summary


def _collect(r, cache, problems, done, seconds, bar):
    bar.update(1)
    if "problem" in r:
        problems.append(Problem(r["id"], r["file"], r["problem"]))
        return done, seconds
    cache.append(r)
    return done + 1, seconds + r["seconds"]
