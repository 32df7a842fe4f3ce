"""From a corpus listing to the data directory the task reads (see docs/data_preparation.md).

Public entry points: :func:`prepare_iemocap`, :func:`prepare_cmu`, :func:`prepare_msp_podcast`,
:func:`prepare_meld`, :func:`prepare_manifest`. Each lists the corpus (``emotion_data.corpora``,
``emotion_core.manifest``), assigns splits (``emotion_data.splits``) and calls
:func:`build_data_dir`, which resolves the labels (``emotion_data.labels``), tokenizes speech
(vq-wav2vec k-means, resumable, ``workers`` processes; ``emotion_data.speech_tokens``) and/or
stores its 16 kHz audio (``emotion_data.audio_store``, ``--speech-input``), encodes text (GPT-2
BPE; not for a speech-only directory), binarizes with ``fairseq-preprocess`` and writes the report::

    DATA_DIR/manifest.tsv  labels.json  prepare_report.json  dropped.tsv (only with failures under --skip-bad)
    DATA_DIR/speech/{dict.txt,split.bin,split.idx}  text/{...}  label/{split}.label  ids/{split}.id
    DATA_DIR/audio/{split.bin,split.idx}    (--speech-input waveform or both) 16 kHz mono int16 samples
    DATA_DIR/.cache/speech_tokens.tsv, audio_digests.tsv   finished utterances, reused by a rerun

``prepare_report.json`` with ``"complete": true`` is written last; it marks the directory complete.
"""
import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from emotion_core.constants import FRAME_SAMPLES, MAX_SPEECH_FRAMES, SAMPLE_RATE
from emotion_core.files import atomic_write_lines, atomic_write_text, check_not_an_input
from emotion_core.labels import PAPER_CLASSES, write_labels
from emotion_core.layout import PretrainedLayout
from emotion_core.manifest import MANIFEST_COLUMNS, Problem, is_known_speaker, read_manifest, write_manifest
from emotion_data import splits as splits_mod
from emotion_data.audio_store import AUDIO_DIR, commit_splits, write_splits
from emotion_data.binarize import WORK_PREFIX, binarize, remove_interrupted_work, unknown_rate
from emotion_data.corpora import cmu_mosi, iemocap, meld, msp_podcast
from emotion_data.labels import LabelOptions, label_line, resolve_labels
from emotion_data.speech_tokens import AudioDigests, TokenCache, file_digest, tokenize_speech, utterance_key

logger = logging.getLogger(__name__)

MAX_FRAMES = MAX_SPEECH_FRAMES  # default 10 ms frames of speech kept per utterance (--max-frames): 20.46 s
SPEECH_INPUTS = ("tokens", "waveform", "both")  # --speech-input: vq-wav2vec tokens, 16 kHz audio, or both
CACHE_FILE = Path(".cache") / "speech_tokens.tsv"  # finished utterances, appended and flushed one by one
DIGEST_FILE = Path(".cache") / "audio_digests.tsv"  # content digest of each audio file, by path, size and mtime
REPORT_FILE = "prepare_report.json"
MODALITIES = ("speech", "text")  # what a data directory holds by default (--modalities)
MAX_LISTED = 200  # ids listed per report entry (counts are always complete)
IEMOCAP_LABELS = LabelOptions(classes=PAPER_CLASSES, label_map=(("excited", "happy"),))  # the paper's 4 classes


class PreparationError(RuntimeError):
    """Some utterances failed; the message lists each file and problem (also in prepare_report.json)."""


def load_text_bpe(encoder_json, vocab_bpe):
    """The production text tokenizer: fairseq's GPT2BPE reading the local files."""
    from emotion_data.bpe import load_bpe

    return load_bpe(encoder_json, vocab_bpe)


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


DROP_ZERO = {"none": (), "eval": ("valid", "test"), "all": ("train", "valid", "test")}


def _drop_zero(utterances, info, policy):
    """The utterances without the zero-scored ones of the splits ``policy`` names, and their count per split."""
    if policy not in DROP_ZERO:
        raise PreparationError(f"--drop-zero must be one of {', '.join(DROP_ZERO)}, got {policy!r}")
    if policy != "none" and info.kind != "regression":
        raise PreparationError(f"--drop-zero applies to sentiment scores, but the labels are {info.kind}")
    dropped = [u for u in utterances if u.split in DROP_ZERO[policy] and float(u.label) == 0.0]
    gone = {id(u) for u in dropped}
    return [u for u in utterances if id(u) not in gone], {"policy": policy, "per_split": _counts(dropped, "split")}


def speaker_overlap(utterances, allowed=False):
    """{"train_test": known speakers in both splits, "allowed", "unknown_speaker_utterances"}; PreparationError
    for an overlap unless ``allowed`` (a model tested on its training speakers reports inflated figures)."""
    speakers = {s: {u.speaker for u in utterances if u.split == s and is_known_speaker(u.speaker)}
                for s in ("train", "test")}
    both = sorted(speakers["train"] & speakers["test"])
    if both and not allowed:
        raise PreparationError(f"{len(both)} speaker(s) in both the train and the test split ({', '.join(both[:10])}): "
                               "test figures would be measured on voices the model was trained on. Choose a split "
                               "by speaker (--fold, --leave-one-speaker-out, a split column), or pass "
                               "--allow-speaker-overlap to record the overlap in the report and go on")
    return {"train_test": both[:MAX_LISTED], "count": len(both), "allowed": allowed,
            "unknown_speaker_utterances": sum(not is_known_speaker(u.speaker) for u in utterances)}


def _counts(utterances, attr):
    return dict(sorted(Counter(getattr(u, attr) for u in utterances).items()))


def _aggregate(problems):
    lines = [f"  {p.file}: {p.problem} [{p.id}]" for p in problems[:50]]
    more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
    return "\n".join(lines) + more


def build_data_dir(out_dir, pretrained, utterances, problems=(), *, corpus, source, labels=LabelOptions(),
                   drop_zero="none", allow_speaker_overlap=False, corpus_stats=None, split_description=None,
                   unassigned=(), workers=1, skip_bad=False, max_frames=MAX_FRAMES, modalities=MODALITIES,
                   speech_input="tokens", tokenizer_factory=None, bpe_factory=None):
    """Resolve labels, tokenize, binarize and report ``utterances`` (splits assigned) into ``out_dir``; return the report.

    ``labels`` (:class:`~emotion_data.labels.LabelOptions`) turns the label strings into the label
    set written to ``labels.json``. ``drop_zero`` (regression): leave out the segments scored exactly 0
    from no split (``none``), the valid and test splits (``eval``) or every split (``all``), as the
    original code's binary-accuracy mode did; counted in the report. ``modalities``: ``("speech", "text")``,
    or ``("speech",)`` for a speech-only data directory (no ``text/``; transcripts are neither needed nor
    tokenized; trains ``ssl_emotion_speech_only``). ``problems`` are the adapter's per-utterance problems.
    A known speaker in both the train and the test split is an error unless ``allow_speaker_overlap``
    (speakers that are empty or "unknown" are exempt, and counted); the overlap is reported either way.
    Any failed utterance fails the run with :class:`PreparationError` (after writing an incomplete
    report naming each file and problem), unless ``skip_bad``: then failed utterances are left out and
    listed in the report and in ``dropped.tsv``. ``speech_input``: ``tokens`` (vq-wav2vec tokens for
    Speech-BERT), ``waveform`` (the 16 kHz audio for wav2vec 2.0 / HuBERT / data2vec encoders,
    :mod:`emotion_data.audio_store`; no vq-wav2vec or Speech-BERT file needed) or ``both``. Skips all
    work when ``out_dir`` already holds this very preparation.
    """
    if speech_input not in SPEECH_INPUTS:
        raise PreparationError(f"--speech-input must be one of {', '.join(SPEECH_INPUTS)}, got {speech_input!r}")
    tokens_wanted, audio_wanted = speech_input in ("tokens", "both"), speech_input in ("waveform", "both")
    out_dir, problems, modalities = Path(out_dir), list(problems), tuple(modalities)
    if modalities not in (MODALITIES, ("speech",)):
        raise PreparationError(f"modalities must be speech and text, or speech alone; got {', '.join(modalities)}")
    with_text = "text" in modalities
    if Path(source).is_file():  # a manifest: the data directory's own manifest.tsv must not replace it
        check_not_an_input(out_dir / "manifest.tsv", [source], what="--out DIR writes DIR/manifest.tsv:")
    layout = PretrainedLayout(pretrained)
    needed = [layout.vq_wav2vec, layout.speech_dict] if tokens_wanted else []
    needed += [layout.text_dict, layout.bpe_encoder_json, layout.bpe_vocab] if with_text else []
    if needed:  # a speech-only directory of audio needs no pretrained file
        layout.check(*needed)
    utterances, info, left_out, label_problems = resolve_labels(utterances, labels)
    problems += label_problems
    utterances, zeros = _drop_zero(utterances, info, drop_zero)
    overlap = speaker_overlap(utterances, allow_speaker_overlap)
    if not utterances:
        raise PreparationError(f"{source}: no utterance to prepare" + (f"; problems:\n{_aggregate(problems)}" if problems else ""))
    digests = {p.name: file_digest(p) for p in needed}
    options = {"corpus": corpus, "max_frames": max_frames, "skip_bad": skip_bad, "split": split_description,
               "labels": labels.describe(), "drop_zero": drop_zero, "allow_speaker_overlap": allow_speaker_overlap,
               "modalities": list(modalities), "speech_input": speech_input}
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
    text_lines = {}
    if with_text:
        bpe = (bpe_factory or load_text_bpe)(layout.bpe_encoder_json, layout.bpe_vocab)
        for u in utterances:
            if not u.text.strip():
                problems.append(Problem(u.id, str(source), "empty transcript"))
            else:
                text_lines[u.id] = bpe.encode(u.text.strip())
    speakable = [u for u in utterances if u.id in text_lines or not with_text]

    # speech: vq-wav2vec tokens (resumable), then the 16 kHz audio
    speech, speech_summary = {}, None
    if tokens_wanted:
        cache = TokenCache(out_dir / CACHE_FILE, digests[layout.vq_wav2vec.name])
        try:
            speech, speech_problems, speech_summary = tokenize_speech(speakable, keys, layout.vq_wav2vec, cache,
                                                                      workers, tokenizer_factory)
        finally:
            cache.close()
        problems += speech_problems
    audio = audio_summary = None
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=out_dir))
    try:
        if audio_wanted:
            failed = {p.id for p in problems}
            candidates = {s: [u for u in speakable if u.split == s and u.id not in failed] for s in splits_mod.SPLITS}
            t0 = time.perf_counter()
            audio, audio_problems = write_splits(work, candidates, max_frames * FRAME_SAMPLES, workers)
            problems += audio_problems
            audio_summary = _audio_summary(audio, max_frames, time.perf_counter() - t0, workers)
        report = _finish(out_dir, work, utterances, problems, speech, audio, text_lines, info, layout, fingerprint,
                         corpus, source, split_description, options, overlap, left_out, zeros, unassigned,
                         corpus_stats, max_frames, skip_bad, workers, speech_summary, audio_summary, modalities)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _audio_summary(audio, max_frames, wall, workers):
    """The report's ``audio`` entry: the store, what was cut or clipped, how long it took."""
    seconds = sum(r["length"] for r in audio.values()) / SAMPLE_RATE
    truncated = sorted(uid for uid, r in audio.items() if r["length"] > max_frames * FRAME_SAMPLES)
    clipped = sorted(uid for uid, r in audio.items() if r["clipped"])
    return {"store": f"{AUDIO_DIR}/{{split}}.bin/.idx: 16 kHz mono int16, fairseq MMapIndexedDataset",
            "max_samples": max_frames * FRAME_SAMPLES, "max_seconds": max_frames * FRAME_SAMPLES / SAMPLE_RATE,
            "truncated": {"count": len(truncated), "ids": truncated[:MAX_LISTED]},
            "clipped": {"utterances": len(clipped), "samples": sum(r["clipped"] for r in audio.values()),
                        "ids": clipped[:MAX_LISTED]},
            "audio_seconds": round(seconds, 2), "wall_seconds": round(wall, 2), "workers": workers}


def _finish(out_dir, work, utterances, problems, speech, audio, text_lines, info, layout, fingerprint, corpus, source,
            split_description, options, overlap, left_out, zeros, unassigned, corpus_stats, max_frames, skip_bad,
            workers, speech_summary, audio_summary, modalities):
    """Report the outcome; unless it failed, binarize the tokens, move the audio into place, write the files."""
    failed = {p.id for p in problems}
    kept = [u for u in utterances if u.id not in failed]
    classes = info.kind == "categorical"
    source_of = speech or audio or {}  # what each kept utterance's audio was (rate, channels, length)
    frames = {uid: len(r["tokens"]) if "tokens" in r else r["length"] // FRAME_SAMPLES for uid, r in source_of.items()}
    truncated = [u.id for u in kept if frames[u.id] > max_frames]
    resampled = [u.id for u in kept if source_of[u.id]["sample_rate"] != SAMPLE_RATE]
    downmixed = [u.id for u in kept if source_of[u.id]["channels"] > 1]
    report = {
        "complete": False, "fingerprint": fingerprint, "corpus": corpus, "source": str(source),
        "pretrained": str(layout.root), "labels": info.to_json(), "modalities": list(modalities),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "split": split_description, "options": options, "speaker_overlap": overlap,
        "counts": {"kept": len(kept), "failed": len(problems), "not_in_any_split": len(unassigned),
                   "left_out_labels": left_out, "dropped_zero": zeros,
                   "per_split": _counts(kept, "split"), "per_label": _counts(kept, "label") if classes else None,
                   "per_session": _counts(kept, "session"), "per_speaker": _counts(kept, "speaker"),
                   "per_split_label": {s: _counts([u for u in kept if u.split == s], "label")
                                       for s in splits_mod.SPLITS} if classes else None},
        "truncated": {"max_frames": max_frames, "max_seconds": max_frames * FRAME_SAMPLES / SAMPLE_RATE,
                      "count": len(truncated), "ids": truncated[:MAX_LISTED]},
        "converted": {"resampled_to_16k": len(resampled), "downmixed_to_mono": len(downmixed),
                      "ids": sorted(set(resampled + downmixed))[:MAX_LISTED]},
        "not_in_any_split": [u.id for u in unassigned][:MAX_LISTED],
        "failed": [{"id": p.id, "file": p.file, "problem": p.problem} for p in problems],
        "failed_reasons": dict(Counter(p.problem.split(" (")[0] for p in problems).most_common()),
        "speech_tokenization": speech_summary, "audio": audio_summary, "corpus_stats": corpus_stats or {},
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
    lines, dicts = {}, {}
    if speech:
        lines["speech"] = {s: [" ".join(speech[u.id]["tokens"][:max_frames]) for u in us] for s, us in by_split.items()}
        dicts["speech"] = layout.speech_dict
    if "text" in modalities:
        lines["text"] = {s: [text_lines[u.id] for u in us] for s, us in by_split.items()}
        dicts["text"] = layout.text_dict
    report["unknown_token_rate"] = {m: unknown_rate(dicts[m], [l for ls in lines[m].values() for l in ls])
                                    for m in lines}
    if report["unknown_token_rate"].get("speech", 0) > 0:
        logger.warning("%.2f%% of speech tokens are not in %s: does the dictionary match the checkpoint?",
                       100 * report["unknown_token_rate"]["speech"], layout.speech_dict)
    if lines:
        binarize(out_dir, {m: (dicts[m], lines[m]) for m in lines}, workers=workers)
    files = ["manifest.tsv", *(f"{m}/dict.txt" for m in lines)]
    if audio is not None:
        commit_splits(work, out_dir, splits_mod.SPLITS)
    for s, us in by_split.items():
        if us:
            atomic_write_lines(out_dir / "label" / f"{s}.label", [label_line(info, u.label) for u in us])
            atomic_write_lines(out_dir / "ids" / f"{s}.id", [u.id for u in us])
            files += [f"{m}/{s}.{e}" for m in lines for e in ("bin", "idx")]
            files += [f"{AUDIO_DIR}/{s}.{e}" for e in ("bin", "idx")] if audio is not None else []
            files += [f"label/{s}.label", f"ids/{s}.id"]
        else:
            for stale in (out_dir / "label" / f"{s}.label", out_dir / "ids" / f"{s}.id"):
                stale.unlink(missing_ok=True)
    _remove_unused_inputs(out_dir, speech_tokens=bool(speech), audio=audio is not None, text="text" in lines)
    write_manifest(out_dir / "manifest.tsv", [u for s in splits_mod.SPLITS for u in by_split[s]],
                   label_columns=info.names if info.kind == "dimensional" else ("label",))
    write_labels(out_dir, info)
    report.update(complete=True, files=files + ["labels.json"])
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(report, indent=1))
    logger.info("%s complete: %s", out_dir, report["counts"]["per_split"])
    return report


def _remove_unused_inputs(out_dir, speech_tokens, audio, text):
    """Remove an earlier preparation's input files of a kind this one did not write (the task would load them)."""
    for kept, folder in ((speech_tokens, "speech"), (audio, AUDIO_DIR), (text, "text")):
        if not kept:
            shutil.rmtree(out_dir / folder, ignore_errors=True)


# ---------------------------------------------------------------------------- public entry points
def _split(utterances, fold=None, speaker=None, folds_file=None, video_of=None):
    strategy = splits_mod.choose_strategy(utterances, fold, speaker, folds_file)
    return splits_mod.assign_splits(utterances, strategy, fold=fold, speaker=speaker, folds_file=folds_file,
                                    video_of=video_of)


def prepare_iemocap(raw, pretrained, out, *, fold=None, leave_one_speaker_out=None, labels=IEMOCAP_LABELS,
                    expect_count=None, count_check=True, workers=1, skip_bad=False, max_frames=MAX_FRAMES,
                    allow_speaker_overlap=False, modalities=MODALITIES, speech_input="tokens", **factories):
    """Prepare IEMOCAP's utterances into ``out``; by default the paper's 4 classes (neutral, happy+excited, sad, angry).

    Args:
        raw: the ``IEMOCAP_full_release`` folder (``Session1`` .. ``Session5``).
        pretrained: a folder with the pretrained layout (``PretrainedLayout``).
        out: the data directory to write.
        fold: leave-one-session-out fold 1..5 (session ``fold`` test, the next session valid);
            default: the paper's ablation split, sessions 1-3 train, 4 valid, 5 test.
        leave_one_speaker_out: a speaker such as ``"Ses01F"``: test on it, valid on the other speaker
            of its session, train on the other sessions.
        labels: :class:`~emotion_data.labels.LabelOptions` over the codes' names (neutral, happy,
            excited, sad, angry, frustrated, surprised, fearful, disgusted, other); default
            :data:`IEMOCAP_LABELS`, the paper's 4 classes with excited merged into happy. Another
            choice, e.g. ``LabelOptions(classes=("neutral", "happy", "sad", "angry", "excited",
            "frustrated"))``, prepares another label set.
        expect_count: number of labelled utterances of the 4 classes to expect; default 5531 (the
            standard count) when all 5 sessions are present and ``labels`` is the default.
        count_check: False skips the count check (a partial or edited release).
        workers: speech-tokenization processes (also passed to fairseq-preprocess).
        skip_bad: leave failed utterances out (listed in the report) instead of failing the run.
        max_frames: 10 ms frames of speech kept per utterance (tokens, or ``max_frames`` x 160 samples of
            audio; the rest is truncated and counted). Default 2046: 20.46 s.
        modalities: ``("speech", "text")``, or ``("speech",)`` for a speech-only data directory
            (the adapter still reads the transcripts).
        speech_input: ``tokens`` (vq-wav2vec, for Speech-BERT), ``waveform`` (16 kHz audio, for
            wav2vec 2.0 / HuBERT / data2vec encoders) or ``both``.
        **factories: ``tokenizer_factory`` / ``bpe_factory`` replacing the production tokenizers (tests).

    Returns the report (``prepare_report.json``'s content).

    >>> report = prepare_iemocap("IEMOCAP_full_release", "pretrained", "data/iemocap")  # doctest: +SKIP
    >>> report["counts"]["per_label"]  # doctest: +SKIP
    {'angry': 1103, 'happy': 1636, 'neutral': 1708, 'sad': 1084}
    """
    listing = iemocap.list_iemocap(raw, keep=labels.keeps)
    complete = len(listing.stats["sessions"]) == 5
    if expect_count is None and complete and labels == IEMOCAP_LABELS:
        expect_count = iemocap.STANDARD_COUNT
    if count_check and expect_count is not None:
        iemocap.check_count(listing, expect_count, dict(labels.label_map))
    elif not complete:
        logger.info("IEMOCAP: partial tree (sessions %s): no count check", listing.stats["sessions"])
    assigned, unassigned, description = _split(listing.utterances, fold, leave_one_speaker_out)
    return build_data_dir(out, pretrained, assigned, listing.problems, corpus="iemocap", source=raw, labels=labels,
                          allow_speaker_overlap=allow_speaker_overlap,
                          corpus_stats=listing.stats, split_description=description, unassigned=unassigned,
                          workers=workers, skip_bad=skip_bad, max_frames=max_frames, modalities=modalities,
                          speech_input=speech_input,
                          **factories)


def prepare_cmu(corpus, raw, pretrained, out, *, folds, labels=None, drop_zero="none", workers=1, skip_bad=False,
                max_frames=MAX_FRAMES, allow_speaker_overlap=False, modalities=MODALITIES, speech_input="tokens",
                **factories):
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
        drop_zero: ``none`` (default: every segment, MulT's and MMSA's protocol), ``eval`` (no
            zero-scored segment in valid and test) or ``all`` (nor in train): the original code's
            binary mode removed them (whether from training too is not known); see
            docs/reproduce.md's protocols.
        workers, skip_bad, max_frames, modalities, speech_input, **factories: as in :func:`prepare_iemocap`.

    The labels are regression scores in [-3, 3] (``labels.json``: kind regression, range [-3, 3]).

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
    scores = LabelOptions(kind="regression", value_range=cmu_mosi.SCORE_RANGE)
    return build_data_dir(out, pretrained, assigned, listing.problems, corpus=corpus, source=raw, labels=scores,
                          drop_zero=drop_zero, allow_speaker_overlap=allow_speaker_overlap,
                          corpus_stats=listing.stats, split_description=description, unassigned=unassigned,
                          workers=workers, skip_bad=skip_bad, max_frames=max_frames, modalities=modalities,
                          speech_input=speech_input,
                          **factories)


def prepare_manifest(manifest, pretrained, out, *, label_columns=("label",), labels=LabelOptions(), fold=None,
                     leave_one_speaker_out=None, workers=1, skip_bad=False, max_frames=MAX_FRAMES,
                     allow_speaker_overlap=False, modalities=MODALITIES, speech_input="tokens", **factories):
    """Prepare any corpus given as a ``manifest.tsv`` (see ``emotion_core.manifest``) into ``out``.

    ``label_columns``: the manifest column holding the label, or one column per dimension
    (dimensional labels; their names become the dimension names). ``labels``:
    :class:`~emotion_data.labels.LabelOptions` (kind, classes and their order, label map, range).
    Splits: ``fold`` / ``leave_one_speaker_out`` as in :func:`prepare_iemocap` when given; else the
    manifest's own ``split`` column when every row has one; else the session split (sessions 1-3
    train, 4 valid, 5 test) for manifests whose sessions are 1..5. ``modalities`` and the rest: as
    in :func:`prepare_iemocap`.

    >>> report = prepare_manifest("corpus/manifest.tsv", "pretrained", "data/demo-sentiment",
    ...                           label_columns=("sentiment",))  # doctest: +SKIP
    >>> report["labels"]  # doctest: +SKIP
    {'kind': 'regression', 'names': []}
    """
    label_columns = tuple(label_columns)
    if len(label_columns) > 1 and not labels.dimensions:
        labels = LabelOptions(**{**labels.__dict__, "dimensions": label_columns})
    listing = read_manifest(manifest, label_columns)
    assigned, unassigned, description = _split(listing.utterances, fold, leave_one_speaker_out)
    return build_data_dir(out, pretrained, assigned, listing.problems, corpus="manifest", source=manifest,
                          labels=labels, corpus_stats=listing.stats, split_description=description,
                          unassigned=unassigned, workers=workers, skip_bad=skip_bad, max_frames=max_frames,
                          allow_speaker_overlap=allow_speaker_overlap, modalities=modalities,
                          speech_input=speech_input, **factories)


def _build_release(corpus, raw, pretrained, out, listing, labels, description, **options):
    """:func:`build_data_dir` over a release's own split: its speaker overlap is reported, never refused."""
    return build_data_dir(out, pretrained, listing.utterances, listing.problems, corpus=corpus, source=raw,
                          labels=labels, corpus_stats=listing.stats, split_description=description,
                          allow_speaker_overlap=True, **options)


def prepare_msp_podcast(raw, pretrained, out, *, task="categorical", test_set="Test1", modalities=MODALITIES,
                        speech_input="tokens", count_check=True, workers=1, skip_bad=False, max_frames=MAX_FRAMES,
                        **factories):
    """Prepare MSP-Podcast's speaking turns into ``out`` with the release's partition.

    Args:
        raw: the release folder (``Audios/``, ``Transcripts/``, ``Labels/labels_consensus.csv`` or ``.json``).
        pretrained, out: as in :func:`prepare_iemocap`.
        task: ``"categorical"``: the 8 primary emotions (:data:`~emotion_data.corpora.msp_podcast.CLASSES`,
            in that order; O and X turns are left out and counted); ``"dimensional"``: arousal,
            valence, dominance on the release's 1-7 scale (every turn).
        test_set: the Split_Set that becomes the test split (Test1, Test2 or Test3); Train is train
            and Development valid; the other test sets are left out and counted.
        modalities: ``("speech",)`` prepares a speech-only data directory: turns without a
            transcript are then kept.
        count_check: False skips the check of the turns per Split_Set against release 1.11's
            documented figures (done when ``Audios/`` holds that release's 151,654 files).
        workers, skip_bad, max_frames, speech_input, **factories: as in :func:`prepare_iemocap`.

    >>> report = prepare_msp_podcast("MSP-PODCAST-Publish-1.11", "pretrained", "data/msp")  # doctest: +SKIP
    >>> report["labels"]["names"][:3]  # doctest: +SKIP
    ['anger', 'sadness', 'happiness']
    """
    listing = msp_podcast.list_msp_podcast(raw, task, test_set, need_text="text" in modalities)
    if not msp_podcast.is_whole_release(listing):
        logger.info("MSP-Podcast: Audios/ holds %d files, not release %s's %d: no count check",
                    listing.stats["audio_files"], msp_podcast.RELEASE, msp_podcast.RELEASE_AUDIO_FILES)
    elif count_check:
        msp_podcast.check_count(listing)
    if task == "categorical":
        labels = LabelOptions(kind="categorical", classes=msp_podcast.CLASSES, fixed_classes=True)
    else:
        labels = LabelOptions(kind="dimensional", dimensions=msp_podcast.DIMENSIONS,
                              value_range=msp_podcast.VALUE_RANGE)
    description = {"strategy": "release", "train": "Train", "valid": "Development", "test": test_set,
                   "left_out": listing.stats["left_out_sets"]}
    return _build_release("msp-podcast", raw, pretrained, out, listing, labels, description, workers=workers,
                          skip_bad=skip_bad, max_frames=max_frames, modalities=modalities, speech_input=speech_input,
                          **factories)


def prepare_meld(raw, pretrained, out, *, labels="emotion", modalities=MODALITIES, speech_input="tokens",
                 count_check=True, workers=1, skip_bad=False, max_frames=MAX_FRAMES, **factories):
    """Prepare MELD's utterances (the audio track of each clip, the repaired transcript) into ``out``.

    Args:
        raw: the ``MELD.Raw`` folder: the three ``*_sent_emo.csv`` files and the extracted clip folders.
        pretrained, out: as in :func:`prepare_iemocap`.
        labels: ``"emotion"`` (7 classes: neutral, joy, sadness, anger, surprise, fear, disgust) or
            ``"sentiment"`` (neutral, positive, negative).
        modalities: ``("speech",)`` for a speech-only data directory.
        count_check: False skips the check of the utterances per split and class against the
            documented figures (a partial or edited tree).
        workers, skip_bad, max_frames, speech_input, **factories: as in :func:`prepare_iemocap`; clips
            that cannot be decoded fail the run, or are left out and listed with ``skip_bad``.

    The splits are the release's: train, dev (valid), test.

    >>> report = prepare_meld("MELD.Raw", "pretrained", "data/meld", workers=2)  # doctest: +SKIP
    >>> report["labels"]["names"]  # doctest: +SKIP
    ['neutral', 'joy', 'sadness', 'anger', 'surprise', 'fear', 'disgust']
    """
    listing = meld.list_meld(raw, labels)
    if count_check:
        meld.check_count(listing)
    classes = LabelOptions(kind="categorical", classes=meld.LABEL_SETS[labels][1], fixed_classes=True)
    description = {"strategy": "release", "train": meld.SPLIT_FILES["train"], "valid": meld.SPLIT_FILES["valid"],
                   "test": meld.SPLIT_FILES["test"]}
    return _build_release("meld", raw, pretrained, out, listing, classes, description, workers=workers,
                          skip_bad=skip_bad, max_frames=max_frames, modalities=modalities, speech_input=speech_input,
                          **factories)
