"""The waveform speech path at the releases' base size: training throughput, peak memory, single-utterance latency.

Run by ``scripts/benchmark.py`` (section ``waveform``). Workload: the ``ssl_emotion`` model with a
HuBERT encoder of ``hubert_base_ls960``'s architecture (7 convolutions of 512 channels, 12 x 768
transformer, 12 heads, FFN 3072) and RoBERTa-large (1024 x 16 heads, FFN 4096) at the stated depths
(training: ``--waveform-layers``, default 12, and ``--layers-text``), built through the project's code
from in-memory args with random weights; the shallow fusion and the iemocap_binary head. Utterances
have the IEMOCAP-like lengths of :func:`emotion_bench.benchmark.lengths` (speech: 10 ms frames, mean
~4.5 s, the longest 20.46 s), stored as int16 16 kHz audio in the task's mmap store and batched by the
task's dataset code.

* **train**: *baseline* fine-tunes everything (the convolutional feature extractor too, as the paper
  fine-tunes its encoders) with batch size 1 and 16 utterances accumulated per update, fp32, fairseq's
  ``adam`` and fairseq's padded forward; *fast* is the waveform default (frozen feature extractor) with
  ``--cache-extractor-features``, length-grouped batches of at most 16 utterances bounded by
  ``--max-tokens`` (samples + tokens), bf16 autocast where supported, ``torch_adamw``,
  ``--fast-cpu-dropout`` (both encoders) and, for the text encoder, ``--unpadded-encoders``. A cached
  configuration is timed on its second epoch (the extractor's outputs read back, as in every epoch
  after the first); its first epoch, which fills the cache, is reported beside it
  (``first_epoch_utt_per_s``). ``fast_uncached``, ``fast_extractor_trained``, ``fast_fp32`` and
  ``fast_unbatched`` show what the cache, freezing, bf16 and batching (one utterance per forward, as
  the baseline: no padding) buy.
* **batch16**: one update on one padded batch of 16 utterances of IEMOCAP-like lengths as length grouping
  forms them (:func:`typical_batch`: neighbours in length order around the median): peak memory, per
  configuration.
* **latency**: 5 s of audio and a sentence through ``EmotionRecognizer`` with HuBERT base + RoBERTa-large
  at full depth (12 + 24): fp32 with fairseq's padded forward against bf16 with the unpadded text encoder.
"""
import argparse
import resource
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from emotion_core.constants import FRAME_SAMPLES, MAX_SPEECH_FRAMES, SAMPLE_RATE
from emotion_bench.benchmark import (PER_UPDATE, _rss_gb, build_optimizer, in_child, lengths, run_epoch,
                                     summarize_training, updates_of)

# fast batches: padded samples + text tokens (30 s of audio), at most 16 utterances. The waveform encoder has no
# unpadded forward, so on a CPU every padded sample costs compute: small, tight batches.
MAX_TOKENS = 480_000


def hubert_base_args(layers=12):
    """The encoder args (as :func:`emotion_models.waveform.waveform_args` returns them) of hubert_base_ls960.pt."""
    from fairseq.models.hubert.hubert import HubertConfig

    cfg = HubertConfig(label_rate=50.0, encoder_layers=layers)  # every other field: the base release's default
    args = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    args["latent_temp"] = list(args["latent_temp"])
    return {**args, "_name": "hubert", "normalize": False, "sample_rate": SAMPLE_RATE}


def typical_batch(n, seed=0):
    """``n`` (speech, text) lengths of a length-grouped batch: neighbours in length order around the median of
    the pool :func:`lengths` samples (5531 IEMOCAP-like utterances; a random draw of 16 padded to its longest,
    near 20 s in the draw tried, did not fit 23 GB)."""
    speech, text = lengths(5531, seed)  # the whole pool, in random order
    order = np.argsort(speech, kind="stable")
    pick = order[len(order) // 2 - n // 2:][:n]
    return speech[pick], text[pick]


def build_model(layers_speech, layers_text, train_extractor=False, unpadded=False, fast_cpu_dropout=False, seed=0,
                cache_extractor=False):
    """(model, text dictionary): HuBERT base (``layers_speech`` layers) + RoBERTa-large, random weights."""
    from omegaconf import OmegaConf

    from emotion_bench.latency import ROBERTA_LARGE, TEXT_SYMBOLS, dictionary
    from emotion_core.label_spaces import label_space
    from emotion_models import ssl_emotion

    torch.manual_seed(seed)
    text_dict = dictionary(str(i) for i in range(TEXT_SYMBOLS))
    cfg = OmegaConf.structured(ssl_emotion.SSLEmotionConfig(dropout=0.1, attention_dropout=0.1, pooler_dropout=0.1,
                                                            train_feature_extractor=train_extractor,
                                                            unpadded_encoders=unpadded,
                                                            fast_cpu_dropout=fast_cpu_dropout,
                                                            cache_extractor_features=cache_extractor))
    ssl_emotion.ssl_emotion_shallow(cfg)
    cfg.speech_args = hubert_base_args(layers_speech)
    cfg.text_args = dict(ROBERTA_LARGE, encoder_layers=layers_text)
    task = argparse.Namespace(speech_dictionary=None, text_dictionary=text_dict)
    model = ssl_emotion.SSLEmotionModel.build_model(cfg, task)
    model.register_classification_head(label_space("iemocap_binary").head_shape)
    return model, text_dict


def build_dataset(text_dict, speech_frames, text_len, folder, seed=0, keyed=False):
    """The task's split dataset over random int16 audio (``speech_frames`` x 160 samples) and text token rows;
    ``keyed``: rows carry feature keys (for the extractor cache)."""
    from fairseq.data import ListDataset, PrependTokenDataset
    from fairseq.data.indexed_dataset import MMapIndexedDatasetBuilder

    from emotion_tasks import datasets

    rng = np.random.default_rng(seed)
    store = Path(folder) / "audio"
    store.mkdir(exist_ok=True)
    builder = MMapIndexedDatasetBuilder(str(store / "train.bin"), dtype=np.int16)
    for frames in np.minimum(speech_frames, MAX_SPEECH_FRAMES):  # the long-audio policy: at most 20.46 s
        builder.add_item(torch.from_numpy(rng.integers(-3000, 3000, int(frames) * FRAME_SAMPLES, dtype=np.int16)))
    builder.finalize(str(store / "train.idx"))
    rows = [torch.from_numpy(rng.integers(text_dict.nspecial, len(text_dict) - 1, n - 1)) for n in text_len]
    text = PrependTokenDataset(ListDataset(rows, np.array([n - 1 for n in text_len])), text_dict.bos())
    n = len(speech_frames)
    labels = [[int(i == k % 4) for i in range(4)] for k in range(n)]
    return datasets.build_split({"speech": datasets.load_audio(folder, "train"), "text": text}, labels,
                                [f"utt{i}" for i in range(n)], {"text": text_dict.pad()}, seed, "benchmark",
                                feature_keys=list(range(n)) if keyed else None)


def configs(bf16):
    """The waveform training configurations (see the module docstring)."""
    baseline = {"grouped": False, "bf16": False, "optimizer": "adam", "train_extractor": True}
    fast = {"grouped": True, "max_tokens": MAX_TOKENS, "bf16": bf16, "optimizer": "torch_adamw",
            "train_extractor": False, "cache_extractor": True, "unpadded": True, "fast_cpu_dropout": True}
    uncached = dict(fast, cache_extractor=False)
    return {"baseline": baseline, "fast": fast, "fast_uncached": uncached,
            "fast_extractor_trained": dict(uncached, train_extractor=True), "fast_fp32": dict(fast, bf16=False),
            "fast_unbatched": dict(fast, grouped=False)}


def measure(job):
    """Child process: train one epoch (``kind`` train) or one update on one padded batch (``kind`` batch16).

    With the extractor cache, an epoch fills the cache first (``first_epoch_utt_per_s``) and the next is timed."""
    from emotion_core.label_spaces import label_space
    from emotion_criterions.multimodal_emotion import MultimodalEmotionCriterion

    torch.set_num_threads(job["threads"])
    config = job["config"]
    cached = config.get("cache_extractor", False) and job["kind"] == "train"
    model, text_dict = build_model(job["layers_speech"], job["layers_text"], config["train_extractor"],
                                   config.get("unpadded", False), config.get("fast_cpu_dropout", False), job["seed"],
                                   cache_extractor=cached)
    model.train()
    criterion = MultimodalEmotionCriterion(argparse.Namespace(label_space=label_space("iemocap_binary")))
    optimizer = build_optimizer(config["optimizer"], [p for p in model.parameters() if p.requires_grad])
    draw = typical_batch if job["kind"] == "batch16" else lengths
    speech_frames, text_len = draw(job["utterances"], job["seed"])
    with tempfile.TemporaryDirectory() as folder:
        dataset = build_dataset(text_dict, speech_frames, text_len, folder, job["seed"], keyed=cached)
        if job["kind"] == "batch16":  # every utterance in one padded batch
            updates = [[dataset.collater([dataset[i] for i in range(len(dataset))])]]
        else:
            updates = updates_of(dataset, config)
            warm = sorted(updates, key=lambda u: -max(s["ntokens"] for s in u))
            run_epoch(model, criterion, optimizer, [warm[-1]], config, "cpu")  # oneDNN first use, short update
        first = {}
        if cached:
            extractor = model.encoders["speech"].model.feature_extractor
            extractor.clear()  # the warm-up's rows: filled again by the first epoch
            seconds, utts, _ = run_epoch(model, criterion, optimizer, updates, config, "cpu")
            first = {"first_epoch_utt_per_s": utts / seconds}
            filled = extractor.misses
        rss_model = _rss_gb()
        seconds, utts, loss = run_epoch(model, criterion, optimizer, updates, config, "cpu")
        if cached:
            assert extractor.misses == filled, "the timed epoch should read every utterance's features back"
    return {**first, "updates": len(updates), "utt_per_s": utts / seconds, "loss": loss, "seconds": seconds,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "peak_over_model_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20 - rss_model,
            "audio_seconds": float(np.minimum(speech_frames, MAX_SPEECH_FRAMES).sum() * FRAME_SAMPLES / SAMPLE_RATE),
            "longest_seconds": float(min(speech_frames.max(), MAX_SPEECH_FRAMES) * FRAME_SAMPLES / SAMPLE_RATE)}


def latency(threads, bf16, repeats):
    """5 s + a sentence, HuBERT base + RoBERTa-large (12 + 24 layers): fp32 and fairseq's padded forward
    (baseline) against bf16 and the unpadded text encoder (fast)."""
    from emotion_bench.latency import SENTENCES, measure_latency
    from emotion_core.label_spaces import label_space
    from emotion_data.bpe import load_bpe
    from emotion_demo.bpe_training import train_bpe
    from emotion_inference.recognizer import EmotionRecognizer

    torch.set_num_threads(threads)
    model, text_dict = build_model(12, 24)
    with tempfile.TemporaryDirectory() as tmp:  # a small GPT-2-format BPE: ids fall inside RoBERTa's dictionary
        train_bpe(SENTENCES * 4, tmp, vocab_size=400)
        bpe = load_bpe(Path(tmp) / "encoder.json", Path(tmp) / "vocab.bpe")
    rec = EmotionRecognizer(model, label_space("iemocap_binary"), None, text_dict, bpe=bpe)
    out = {}
    for name, use_bf16, unpadded in (("baseline", False, False), ("fast", bf16, True)):
        rec.bf16 = use_bf16
        rec.model.set_unpadded_encoders(unpadded)
        m = measure_latency(rec, 5.0, repeats=repeats, threads=threads)
        out[name] = {"median_s": round(m["median_s"], 3), "min_s": round(m["min_s"], 3),
                     "model_s": round(m["model_median_s"], 3), "encode_s": round(m["encode_median_s"], 3),
                     "cpu_per_thread_s": round(m["cpu_per_thread_s"], 3), "bf16": use_bf16, "unpadded": unpadded}
    return out


def run(job, bf16, repeats):
    """The waveform section of the benchmark's JSON: training rows, 16-utterance peak memory, latency."""
    cfgs = configs(bf16)
    runs = {name: [] for name in cfgs}
    for _ in range(repeats):
        for name, config in cfgs.items():
            runs[name].append(in_child(dict(job, kind="train", config=config), measure))
    train = summarize_training(runs)
    batch16 = {}
    for name in ("baseline", "fast"):
        r = in_child(dict(job, kind="batch16", utterances=PER_UPDATE, config=cfgs[name]), measure)
        batch16[name] = r if "failed" in r else {
            "peak_rss_gb": round(r["peak_rss_gb"], 2), "peak_over_model_gb": round(r["peak_over_model_gb"], 2),
            "update_s": round(r["seconds"], 2), "audio_seconds": round(r["audio_seconds"], 1),
            "longest_seconds": round(r["longest_seconds"], 2)}
    return {"workload": {"speech": "HuBERT base", "layers_speech": job["layers_speech"],
                         "conv_feature_layers": hubert_base_args()["conv_feature_layers"],
                         "layers_text": job["layers_text"], "utterances": job["utterances"],
                         "max_tokens": MAX_TOKENS, "configs": cfgs},
            "train": train, "train_speedup": train["fast"].get("speedup"), "batch16": batch16,
            "latency": latency(job["threads"], bf16, repeats=3 if repeats == 1 else 5)}
