"""From a corpus listing to the data directory the task reads (see docs/data_preparation.md).

Public entry points: :func:`prepare_iemocap`, :func:`prepare_cmu`, :func:`prepare_manifest`. Each
lists the corpus (``emotion_data.corpora``), assigns splits (``emotion_data.splits``) and calls
:func:`build_data_dir`, which tokenizes speech (vq-wav2vec k-means, resumable, ``workers``
processes) and text (GPT-2 BPE), binarizes with ``fairseq-preprocess`` and writes the report::

    DATA_DIR/manifest.tsv  prepare_report.json  dropped.tsv (only with failures under --skip-bad)
    DATA_DIR/speech/{dict.txt,split.bin,split.idx}  text/{...}  label/{split}.label  ids/{split}.id
    DATA_DIR/.cache/speech_tokens.tsv   finished utterances, reused by a rerun

``prepare_report.json`` with ``"complete": true`` is written last; it marks the directory complete.
"""
import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from emotion_core.layout import PretrainedLayout
from emotion_tasks.labels import EMOTIONS
from . import splits as splits_mod
from emotion_core.constants import MAX_SPEECH_FRAMES
from emotion_core.files import atomic_write_lines, atomic_write_text, check_not_an_input
from .binarize import binarize, remove_interrupted_work, unknown_rate
from .corpora import cmu_mosi, iemocap
from emotion_core.manifest import MANIFEST_COLUMNS, Problem, label_kind, read_manifest, write_manifest

logger = logging.getLogger(__name__)

MAX_FRAMES = MAX_SPEECH_FRAMES  # default speech tokens kept per utterance (--max-frames)
CACHE_FILE = Path(".cache") / "speech_tokens.tsv"  # finished utterances, appended and flushed one by one
DIGEST_FILE = Path(".cache") / "audio_digests.tsv"  # content digest of each audio file, by path, size and mtime
REPORT_FILE = "prepare_report.json"
MAX_LISTED = 200  # ids listed per report entry (counts are always complete)


class PreparationError(RuntimeError):
    """Some utterances failed; the message lists each file and problem (also in prepare_report.json)."""


def load_speech_tokenizer(checkpoint):
    """The production speech tokenizer: vq-wav2vec k-means through fairseq."""
    from emotion_data.speech_tokenizer import SpeechTokenizer

    return SpeechTokenizer.from_checkpoint(checkpoint)


def load_text_bpe(encoder_json, vocab_bpe):
    """The production text tokenizer: fairseq's GPT2BPE reading the local files."""
    from emotion_data.bpe import load_bpe

    return load_bpe(encoder_json, vocab_bpe)


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
    if u.start is not None and u.end is not None:
        return u.end - u.start
    try:
        import soundfile

        return soundfile.info(u.audio).duration - (u.start or 0.0)
    except Exception:  # unreadable: reported when tokenized
        return 0.0


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


# ---------------------------------------------------------------------------------- data dir
def _fingerprint(utterances, keys, problems, options, digests):
    h = hashlib.sha256()
    for u in utterances:
        h.update("\t".join([*(str(getattr(u, c)) for c in MANIFEST_COLUMNS), keys[u.id]]).encode() + b"\n")
    for p in problems:
        h.update(f"{p.id}\t{p.file}\t{p.problem}\n".encode())
    h.update(json.dumps([options, digests], sort_keys=True).encode())
    return h.hexdigest()[:16]


def _is_complete(out_dir, fingerprint):
    path = out_dir / REPORT_FILE
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if report.get("complete") and report.get("fingerprint") == fingerprint \
            and all((out_dir / f).is_file() for f in report.get("files", [])):
        return report
    return None


def _format_label(label):
    return label if label in EMOTIONS else f"{float(label):.6g}"


def _counts(utterances, attr):
    return dict(sorted(Counter(getattr(u, attr) for u in utterances).items()))


def _aggregate(problems):
    lines = [f"  {p.file}: {p.problem} [{p.id}]" for p in problems[:50]]
    more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
    return "\n".join(lines) + more


def build_data_dir(out_dir, pretrained, utterances, problems=(), *, corpus, source, corpus_stats=None,
                   split_description=None, unassigned=(), workers=1, skip_bad=False, max_frames=MAX_FRAMES,
                   tokenizer_factory=None, bpe_factory=None):
    """Tokenize, binarize and report ``utterances`` (splits assigned) into ``out_dir``; return the report.

    ``problems`` are the adapter's per-utterance problems. Any failed utterance fails the run with
    :class:`PreparationError` (after writing an incomplete report naming each file and problem),
    unless ``skip_bad``: then failed utterances are left out and listed in the report and in
    ``dropped.tsv``. Skips all work when ``out_dir`` already holds this very preparation.
    """
    out_dir, problems = Path(out_dir), list(problems)
    if Path(source).is_file():  # a manifest: the data directory's own manifest.tsv must not replace it
        check_not_an_input(out_dir / "manifest.tsv", [source], what="--out DIR writes DIR/manifest.tsv:")
    layout = PretrainedLayout(pretrained)
    layout.check(layout.vq_wav2vec, layout.speech_dict, layout.text_dict, layout.bpe_encoder_json, layout.bpe_vocab)
    if not utterances:
        raise PreparationError(f"{source}: no utterance to prepare" + (f"; problems:\n{_aggregate(problems)}" if problems else ""))
    kinds = {label_kind(u.label) for u in utterances}
    digests = {p.name: file_digest(p) for p in (layout.vq_wav2vec, layout.speech_dict, layout.text_dict,
                                                  layout.bpe_encoder_json, layout.bpe_vocab)}
    options = {"corpus": corpus, "max_frames": max_frames, "skip_bad": skip_bad, "split": split_description}
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_interrupted_work(out_dir)
    audio_digests = AudioDigests(out_dir / DIGEST_FILE)
    keys = {u.id: utterance_key(u, audio_digests.digest(u.audio)) for u in utterances}
    audio_digests.save()
    fingerprint = _fingerprint(utterances, keys, problems, options, digests)
    done = _is_complete(out_dir, fingerprint)
    if done:
        logger.info("%s is already complete for these inputs (%s): skipping", out_dir, REPORT_FILE)
        return done
    (out_dir / REPORT_FILE).unlink(missing_ok=True)  # incomplete from here on

    # text: GPT-2 BPE ids
    bpe = (bpe_factory or load_text_bpe)(layout.bpe_encoder_json, layout.bpe_vocab)
    text_lines = {}
    for u in utterances:
        if not u.text.strip():
            problems.append(Problem(u.id, str(source), "empty transcript"))
        else:
            text_lines[u.id] = bpe.encode(u.text.strip())

    # speech: vq-wav2vec tokens, resumable
    cache = TokenCache(out_dir / CACHE_FILE, digests[layout.vq_wav2vec.name])
    try:
        speech, speech_problems, speech_summary = tokenize_speech(
            [u for u in utterances if u.id in text_lines], keys, layout.vq_wav2vec, cache, workers, tokenizer_factory)
    finally:
        cache.close()
    problems += speech_problems

    failed = {p.id for p in problems}
    kept = [u for u in utterances if u.id not in failed]
    truncated = [u.id for u in kept if len(speech[u.id]["tokens"]) > max_frames]
    resampled = [u.id for u in kept if speech[u.id]["sample_rate"] != 16000]
    downmixed = [u.id for u in kept if speech[u.id]["channels"] > 1]
    report = {
        "complete": False, "fingerprint": fingerprint, "corpus": corpus, "source": str(source),
        "pretrained": str(layout.root), "label_kind": next(iter(kinds)), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "split": split_description, "options": options,
        "counts": {"kept": len(kept), "failed": len(problems), "not_in_any_split": len(unassigned),
                   "per_split": _counts(kept, "split"), "per_label": _counts(kept, "label") if kinds != {"score"} else None,
                   "per_session": _counts(kept, "session"), "per_speaker": _counts(kept, "speaker"),
                   "per_split_label": {s: _counts([u for u in kept if u.split == s], "label")
                                       for s in splits_mod.SPLITS} if kinds != {"score"} else None},
        "truncated": {"max_frames": max_frames, "count": len(truncated), "ids": truncated[:MAX_LISTED]},
        "converted": {"resampled_to_16k": len(resampled), "downmixed_to_mono": len(downmixed),
                      "ids": sorted(set(resampled + downmixed))[:MAX_LISTED]},
        "not_in_any_split": [u.id for u in unassigned][:MAX_LISTED],
        "failed": [{"id": p.id, "file": p.file, "problem": p.problem} for p in problems],
        "failed_reasons": dict(Counter(p.problem.split(" (")[0] for p in problems).most_common()),
        "speech_tokenization": speech_summary, "corpus_stats": corpus_stats or {},
    }
    if problems and not skip_bad:
        atomic_write_text(out_dir / REPORT_FILE, json.dumps(report, indent=1))
        raise PreparationError(f"{len(problems)} utterance(s) failed (see {out_dir / REPORT_FILE}; "
                               f"pass --skip-bad to leave them out):\n{_aggregate(problems)}")
    if problems:
        logger.warning("%d utterance(s) left out (--skip-bad), listed in %s and dropped.tsv:\n%s",
                       len(problems), REPORT_FILE, _aggregate(problems))
        atomic_write_lines(out_dir / "dropped.tsv", ["id\tfile\tproblem"] +
                           [f"{p.id}\t{p.file}\t{' '.join(p.problem.split())}" for p in problems])
    else:
        (out_dir / "dropped.tsv").unlink(missing_ok=True)

    if not kept:
        raise PreparationError(f"{source}: every utterance failed:\n{_aggregate(problems)}")
    by_split = {s: [u for u in kept if u.split == s] for s in splits_mod.SPLITS}
    for s, us in by_split.items():
        if not us:
            logger.warning("split %s is empty: no %s/%s.bin is written", s, "speech", s)
    speech_lines = {s: [" ".join(speech[u.id]["tokens"][:max_frames]) for u in us] for s, us in by_split.items()}
    text_split_lines = {s: [text_lines[u.id] for u in us] for s, us in by_split.items()}
    all_speech = [l for ls in speech_lines.values() for l in ls]
    all_text = [l for ls in text_split_lines.values() for l in ls]
    report["unknown_token_rate"] = {"speech": unknown_rate(layout.speech_dict, all_speech),
                                    "text": unknown_rate(layout.text_dict, all_text)}
    if report["unknown_token_rate"]["speech"] > 0:
        logger.warning("%.2f%% of speech tokens are not in %s: does the dictionary match the checkpoint?",
                       100 * report["unknown_token_rate"]["speech"], layout.speech_dict)
    binarize(out_dir, {"speech": (layout.speech_dict, speech_lines), "text": (layout.text_dict, text_split_lines)},
             workers=workers)
    files = ["manifest.tsv", "speech/dict.txt", "text/dict.txt"]
    for s, us in by_split.items():
        if us:
            atomic_write_lines(out_dir / "label" / f"{s}.label", [_format_label(u.label) for u in us])
            atomic_write_lines(out_dir / "ids" / f"{s}.id", [u.id for u in us])
            files += [f"{m}/{s}.{e}" for m in ("speech", "text") for e in ("bin", "idx")]
            files += [f"label/{s}.label", f"ids/{s}.id"]
        else:
            for stale in (out_dir / "label" / f"{s}.label", out_dir / "ids" / f"{s}.id"):
                stale.unlink(missing_ok=True)
    write_manifest(out_dir / "manifest.tsv", [u for s in splits_mod.SPLITS for u in by_split[s]])
    report.update(complete=True, files=files)
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(report, indent=1))
    logger.info("%s complete: %s", out_dir, report["counts"]["per_split"])
    return report


# ---------------------------------------------------------------------------- public entry points
def _split(utterances, fold=None, speaker=None, folds_file=None, video_of=None):
    strategy = splits_mod.choose_strategy(utterances, fold, speaker, folds_file)
    return splits_mod.assign_splits(utterances, strategy, fold=fold, speaker=speaker, folds_file=folds_file,
                                    video_of=video_of)


def prepare_iemocap(raw, pretrained, out, *, fold=None, leave_one_speaker_out=None, expect_count=None,
                    count_check=True, workers=1, skip_bad=False, max_frames=MAX_FRAMES, **factories):
    """Prepare IEMOCAP's 4-class utterances (neutral, happy+excited, sad, angry) into ``out``.

    Args:
        raw: the ``IEMOCAP_full_release`` folder (``Session1`` .. ``Session5``).
        pretrained: a folder with the pretrained layout (``PretrainedLayout``).
        out: the data directory to write.
        fold: leave-one-session-out fold 1..5 (session ``fold`` test, the next session valid);
            default: the paper's ablation split, sessions 1-3 train, 4 valid, 5 test.
        leave_one_speaker_out: a speaker such as ``"Ses01F"``: test on it, valid on the other speaker
            of its session, train on the other sessions.
        expect_count: number of labelled utterances to expect; default 5531 (the standard count)
            when all 5 sessions are present, no check for a partial tree.
        count_check: False skips the count check (a partial or edited release).
        workers: speech-tokenization processes (also passed to fairseq-preprocess).
        skip_bad: leave failed utterances out (listed in the report) instead of failing the run.
        max_frames: speech tokens kept per utterance (the rest is truncated and counted).
        **factories: ``tokenizer_factory`` / ``bpe_factory`` replacing the production tokenizers (tests).

    Returns the report (``prepare_report.json``'s content).

    >>> report = prepare_iemocap("IEMOCAP_full_release", "pretrained", "data/iemocap")  # doctest: +SKIP
    >>> report["counts"]["per_label"]  # doctest: +SKIP
    {'angry': 1103, 'happy': 1636, 'neutral': 1708, 'sad': 1084}
    """
    listing = iemocap.list_iemocap(raw)
    if expect_count is None and len(listing.stats["sessions"]) == 5:
        expect_count = iemocap.STANDARD_COUNT
    if count_check and expect_count is not None:
        iemocap.check_count(listing, expect_count)
    elif len(listing.stats["sessions"]) < 5:
        logger.info("IEMOCAP: partial tree (sessions %s): no count check", listing.stats["sessions"])
    assigned, unassigned, description = _split(listing.utterances, fold, leave_one_speaker_out)
    return build_data_dir(out, pretrained, assigned, listing.problems, corpus="iemocap", source=raw,
                          corpus_stats=listing.stats, split_description=description, unassigned=unassigned,
                          workers=workers, skip_bad=skip_bad, max_frames=max_frames, **factories)


def prepare_cmu(corpus, raw, pretrained, out, *, folds, labels=None, workers=1, skip_bad=False,
                max_frames=MAX_FRAMES, **factories):
    """Prepare CMU-MOSI (``corpus="mosi"``) or CMU-MOSEI (``"mosei"``) sentiment segments into ``out``.

    Args:
        corpus: ``"mosi"`` or ``"mosei"``.
        raw: the release folder holding ``Raw/`` (or ``Raw/`` itself).
        pretrained: a folder with the pretrained layout.
        out: the data directory to write.
        folds: the standard folds: JSON ``{"train": [video ids], "valid": [...], "test": [...]}`` or
            the SDK's ``cmu_mosi_std_folds.py`` / ``cmu_mosei_std_folds.py``. Segments of videos in
            no fold are left out and counted in the report.
        labels: TSV/CSV of segment id + score in [-3, 3]; default for MOSI:
            ``Raw/Labels/OpinionLevelSentiment.csv``; required for MOSEI.
        workers, skip_bad, max_frames, **factories: as in :func:`prepare_iemocap`.

    >>> report = prepare_cmu("mosi", "CMU_MOSI", "pretrained", "data/mosi", folds="mosi_folds.json")  # doctest: +SKIP
    >>> report["counts"]["per_split"]  # doctest: +SKIP
    {'test': 686, 'train': 1284, 'valid': 229}
    """
    listing = cmu_mosi.list_cmu(raw, corpus, labels)
    assigned, unassigned, description = _split(listing.utterances, folds_file=folds, video_of=lambda u: u.speaker)
    if corpus == "mosi" and listing.stats["transcript_files"] == cmu_mosi.MOSI_STANDARD["videos"]:
        got = Counter(u.split for u in assigned)
        expected = {s: cmu_mosi.MOSI_STANDARD[s] for s in splits_mod.SPLITS}
        if dict(got) != expected:
            logger.warning("CMU-MOSI: split sizes %s differ from the standard %s", dict(got), expected)
    return build_data_dir(out, pretrained, assigned, listing.problems, corpus=corpus, source=raw,
                          corpus_stats=listing.stats, split_description=description, unassigned=unassigned,
                          workers=workers, skip_bad=skip_bad, max_frames=max_frames, **factories)


def prepare_manifest(manifest, pretrained, out, *, label_column="label", fold=None, leave_one_speaker_out=None,
                     workers=1, skip_bad=False, max_frames=MAX_FRAMES, **factories):
    """Prepare any corpus given as a ``manifest.tsv`` (see ``emotion_core.manifest``) into ``out``.

    Splits: ``fold`` / ``leave_one_speaker_out`` as in :func:`prepare_iemocap` when given; else the
    manifest's own ``split`` column when every row has one; else the session split (sessions 1-3
    train, 4 valid, 5 test) for manifests whose sessions are 1..5.

    >>> report = prepare_manifest("corpus/manifest.tsv", "pretrained", "data/demo-sentiment",
    ...                           label_column="sentiment")  # doctest: +SKIP
    >>> report["label_kind"]  # doctest: +SKIP
    'score'
    """
    listing = read_manifest(manifest, label_column)
    assigned, unassigned, description = _split(listing.utterances, fold, leave_one_speaker_out)
    return build_data_dir(out, pretrained, assigned, listing.problems, corpus="manifest", source=manifest,
                          corpus_stats=listing.stats, split_description=description, unassigned=unassigned,
                          workers=workers, skip_bad=skip_bad, max_frames=max_frames, **factories)
