"""The demo assets: a synthetic corpus and tiny, really pretrained stand-ins of the released models.

:func:`build_demo_assets` writes ``OUT/corpus/`` (wav files + manifest.tsv, docs/demo_corpus.md),
``OUT/pretrained/`` in the layout of the releases (vq-wav2vec, Speech-BERT, RoBERTa, GPT-2 BPE,
wav2vec 2.0, HuBERT) and ``OUT/build_report.json`` (validation losses beside trivial baselines, timings).
"""
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from emotion_demo.pretrain import SPEECH_BERT, TEXT_ROBERTA, TRAIN_THREADS, MaskedLMSpec, pretrain_masked_lm, write_json
from emotion_demo.waveform_standins import WAVEFORM, WaveformSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoPreset:
    """Sizes of a demo build."""

    num_utterances: int  # synthetic corpus size (10 speakers x 4 emotions divide it)
    speech: MaskedLMSpec  # Speech-BERT stand-in
    text: MaskedLMSpec  # text RoBERTa stand-in
    bpe_vocab: int  # upper bound of the BPE vocabulary (the corpus may stop it earlier)
    waveform: WaveformSpec  # wav2vec 2.0 and HuBERT stand-ins


PRESETS = {
    "full": DemoPreset(num_utterances=440, speech=SPEECH_BERT, text=TEXT_ROBERTA, bpe_vocab=1000, waveform=WAVEFORM),
    "small": DemoPreset(num_utterances=160, speech=SPEECH_BERT.with_updates(300, 30),
                        text=TEXT_ROBERTA.with_updates(200, 20), bpe_vocab=1000,
                        waveform=WAVEFORM.with_updates(200, 20)),
}
BUILD_VERSION = 3  # bump when the build changes so that older complete directories are rebuilt
VALID_EVERY = 10  # every 10th utterance is held out of pretraining to measure the validation loss
STANDIN_INIT_UTTERANCES = 80  # utterances whose features fit the vq-wav2vec stand-in's k-means codebook
MARKER = ".complete"  # written last: its presence (with matching options) means the build is complete


def build_key(preset, seed, engine):
    """What a complete directory was built with; a different key means rebuild."""
    return {"version": BUILD_VERSION, "preset": preset, "seed": seed, "engine": engine,
            "sizes": asdict(PRESETS[preset])}


def _engine(engine):
    """The synthesis engine "auto" stands for, without importing the synthesiser (and fairseq):
    keeps the check of a complete directory fast. synthetic_corpus.resolve_engine checks it again."""
    if engine == "auto":
        return "espeak" if shutil.which("espeak-ng") else "numpy"
    return engine


def is_complete(out, key):
    """Whether ``out`` holds a complete build made with ``key``."""
    marker = Path(out) / MARKER
    try:
        return json.loads(marker.read_text())["key"] == key
    except (OSError, ValueError, KeyError):
        return False


def _speech_token_lines(vq_checkpoint, wav_paths):
    """One line of "g0-g1" tokens per wav, from the vq-wav2vec checkpoint (as data preparation does)."""
    from emotion_data.audio import load_audio
    from emotion_data.speech_tokenizer import SpeechTokenizer

    tokenizer = SpeechTokenizer.from_checkpoint(vq_checkpoint)
    return [" ".join(tokenizer.tokenize(load_audio(p))) for p in wav_paths]


def _build(tmp, preset, seed, engine):
    """Build corpus/, pretrained/ and build_report.json inside ``tmp``; returns the report."""
    import time

    from emotion_core.layout import PretrainedLayout
    from emotion_data.audio import load_audio
    from emotion_data.bpe import load_bpe
    from emotion_demo.bpe_training import train_bpe
    from emotion_demo.synthetic_corpus import build_corpus, read_manifest
    from emotion_demo.vq_wav2vec_standin import build_standin
    from emotion_demo.waveform_standins import pretrain_waveform_standins

    sizes, t0, timings = PRESETS[preset], time.time(), {}
    manifest = build_corpus(tmp / "corpus", sizes.num_utterances, seed, engine)
    rows = read_manifest(manifest)
    wavs = [manifest.parent / r["audio"] for r in rows]
    timings["corpus"] = time.time() - t0

    layout = PretrainedLayout(tmp / "pretrained")
    layout.root.mkdir(parents=True)
    step = max(1, len(rows) // STANDIN_INIT_UTTERANCES)
    vq_summary = build_standin(layout.vq_wav2vec, seed=seed, init_audio=[load_audio(p) for p in wavs[::step]])
    speech_lines = _speech_token_lines(layout.vq_wav2vec, wavs)
    timings["vq_wav2vec"] = time.time() - t0 - sum(timings.values())
    logger.info("vq-wav2vec stand-in: %d distinct tokens over %d frames",
                len({t for line in speech_lines for t in line.split()}), sum(len(l.split()) for l in speech_lines))

    texts = [r["text"] for r in rows]
    train_bpe(texts, layout.bpe_encoder_json.parent, sizes.bpe_vocab)
    bpe = load_bpe(layout.bpe_encoder_json, layout.bpe_vocab)
    text_lines = [bpe.encode(t) for t in texts]
    timings["bpe"] = time.time() - t0 - sum(timings.values())

    def split(lines):
        return ([l for i, l in enumerate(lines) if i % VALID_EVERY],
                [l for i, l in enumerate(lines) if i % VALID_EVERY == 0])

    report = {"key": build_key(preset, seed, engine), "vq_wav2vec": vq_summary}
    report["speech_bert"] = pretrain_masked_lm("Speech-BERT", *split(speech_lines), layout.speech_bert,
                                               layout.speech_dict, sizes.speech, seed, tmp / "work" / "speech")
    timings["speech_bert"] = time.time() - t0 - sum(timings.values())
    report["roberta"] = pretrain_masked_lm("text RoBERTa", *split(text_lines), layout.roberta,
                                           layout.text_dict, sizes.text, seed, tmp / "work" / "text")
    timings["roberta"] = time.time() - t0 - sum(timings.values())
    report.update(pretrain_waveform_standins(wavs, VALID_EVERY, layout.wav2vec2, layout.hubert, sizes.waveform, seed,
                                             tmp / "work" / "waveform"))
    timings["wav2vec2_hubert"] = time.time() - t0 - sum(timings.values())
    layout.check()
    report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    shutil.rmtree(tmp / "work")
    write_json(tmp / "build_report.json", report)
    return report


def build_demo_assets(out, preset="full", seed=0, engine="auto"):
    """Build the demo assets into ``out`` (``corpus/``, ``pretrained/``, ``build_report.json``).

    Does nothing when ``out`` is already complete for the same options. The build happens in a
    temporary folder inside ``out`` and is moved into place; the ``.complete`` marker is written
    last, so an interrupted build never looks complete. Concurrent builds of one ``out`` wait for
    each other (file lock). Returns the build report (losses, baselines, timings).
    """
    import fcntl
    import time

    assert preset in PRESETS, f"unknown preset {preset!r}: choose one of {sorted(PRESETS)}"
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    key = build_key(preset, seed, _engine(engine))
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(out, key):
            logger.info("%s is already complete (%s preset, seed %d): skipped", out, preset, seed)
            return json.loads((out / "build_report.json").read_text())
        t0 = time.time()
        (out / MARKER).unlink(missing_ok=True)
        for stale in out.glob(".build-*"):  # left by an interrupted build
            shutil.rmtree(stale)
        tmp = out / f".build-{os.getpid()}"
        import torch  # only now: a complete directory is recognised without loading torch

        threads = torch.get_num_threads()
        torch.set_num_threads(int(TRAIN_THREADS))  # tiny models: extra threads only spin
        try:
            report = _build(tmp, preset, seed, key["engine"])
        finally:
            torch.set_num_threads(threads)
        for name in ("corpus", "pretrained", "build_report.json"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            (tmp / name).rename(target)
        tmp.rmdir()
        report["total_s"] = round(time.time() - t0, 1)
        write_json(out / "build_report.json", report)
        write_json(out / f"{MARKER}.tmp", {"key": key})
        (out / f"{MARKER}.tmp").rename(out / MARKER)
    logger.info("demo assets complete in %.0f s -> %s", report["total_s"], out)
    return report
