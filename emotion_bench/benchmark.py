"""Baseline vs fast: training throughput, frozen-SSL epochs, tokenization RTF, latency; the cost of safe loading;
the waveform speech path (HuBERT base); the service and timelines.

    python scripts/benchmark.py [--device cpu|cuda] [--layers-speech N --layers-text N] [--quick]
    (or python -m emotion_bench.benchmark)

Prints one JSON object. Every figure is measured for the *baseline* (the paper's recipe: batch
size 1 with gradients of 16 utterances accumulated per update, fp32, fairseq's default attention,
no length grouping) and the *fast* configuration (the project's best for the device: length-grouped
batches bounded by --max-tokens, bf16 autocast where supported, fused AdamW, --unpadded-encoders,
on a CPU --fast-cpu-dropout) in the same run, interleaved when repeated. ``fast_padded`` is fast
without --unpadded-encoders, ``fast_fairseq_dropout`` fast without --fast-cpu-dropout;
``fast_attention_dropout0`` drops the encoders' attention dropout (a regularization change), the
bound PyTorch's CPU flash-attention kernel (no dropout) gives. For tokenization and latency the
CPU fast configuration computes vq-wav2vec's convolutions as matrix products (tokens equal
fairseq's except at float-rounding ties; the count of differing frames is printed), and
``exact`` / ``fast_exact_tokens`` keep fairseq's convolutions.

Workload: the ssl_emotion model (shallow fusion, iemocap_binary head) built through the project's
code from in-memory args with random weights, Speech-BERT 768 x 12 heads / ffn 3072 (2048
positions) and RoBERTa-large 1024 x 16 heads / ffn 4096 at the stated depths; utterances with an
IEMOCAP-like length distribution (speech tokens mean ~450, max 2048; text mean ~20, max 128),
batched by the task's dataset code (emotion_tasks.datasets.build_split) and fairseq's
batch_by_size; the project's criterion; optimizer steps through fairseq's optimizer API (baseline:
fairseq's ``adam``; fast: the project's ``torch_adamw``, PyTorch's fused AdamW), the paper's
Adam settings (lr 1e-5, betas 0.9/0.98, eps 1e-6, weight decay 0.1).
Each training configuration runs in a fresh process (peak memory = that process's peak).

``serve``: the HTTP service's overhead over the Python API for one demo-size request, and its
memory under 8 concurrent clients x 50 requests (emotion_bench/serve_bench.py). ``timeline``: the
real-time factor and peak memory of a timeline of a ``--timeline-minutes`` recording with the
full-size models on the CPU, in a fresh process, in the fast configuration (emotion_bench/timeline_bench.py).
The ``waveform`` section measures the path of wav2vec 2.0 / HuBERT speech encoders at the releases' base
size (HuBERT base, 12 x 768, 7 convolutions; see :mod:`emotion_bench.waveform`): training throughput
baseline vs fast, peak memory of a 16-utterance batch, single-utterance latency with RoBERTa-large.
"""
import argparse
import json
import multiprocessing
import os
import platform
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

PER_UPDATE = 16  # paper: effective batch 16 (batch size 1 x update-freq 16 in the original code)
SPEECH_MEAN, SPEECH_MAX, TEXT_MEAN, TEXT_MAX = 450, 2048, 20, 128


def lengths(n, seed=0, pool=5531):
    """``n`` (speech, text) token counts (with <s>) spread over the quantiles of an IEMOCAP-sized pool.

    Log-normal lengths (sigma 0.6) with the stated means, clipped to the maxima; taking evenly
    spaced quantiles keeps the longest utterance (2048 tokens: truncated audio) in every sample.
    """
    rng = np.random.default_rng(seed)
    speech = np.clip(rng.lognormal(np.log(SPEECH_MEAN) - 0.18, 0.6, pool), 40, SPEECH_MAX).astype(int)
    text = np.clip(rng.lognormal(np.log(TEXT_MEAN) - 0.18, 0.6, pool), 3, TEXT_MAX).astype(int)
    pick = np.linspace(0, pool - 1, n).round().astype(int)
    speech, text = np.sort(speech)[pick], np.sort(text)[pick][rng.permutation(n)]
    speech[-1] = SPEECH_MAX
    order = rng.permutation(n)  # the dataset's row order (not sorted)
    return speech[order], text[order]


def build_model(layers_speech, layers_text, freeze=False, cache=False, attention_dropout=0.1,
                checkpoint_activations=False, fast_cpu_dropout=False, unpadded=False, seed=0):
    """(model, dictionaries) built by SSLEmotionModel.build_model from in-memory encoder args, random weights."""
    from omegaconf import OmegaConf

    from emotion_models import ssl_emotion
    from emotion_core.label_spaces import label_space
    from emotion_bench.latency import ROBERTA_LARGE, SPEECH_BERT, TEXT_SYMBOLS, dictionary

    torch.manual_seed(seed)
    dicts = {"speech": dictionary(f"{a}-{b}" for a in range(320) for b in range(320)),
             "text": dictionary(str(i) for i in range(TEXT_SYMBOLS))}
    cfg = OmegaConf.structured(ssl_emotion.SSLEmotionConfig(
        dropout=0.1, attention_dropout=attention_dropout, pooler_dropout=0.1, freeze_ssl=freeze,
        cache_frozen_features=cache, checkpoint_activations=checkpoint_activations,
        fast_cpu_dropout=fast_cpu_dropout, unpadded_encoders=unpadded))
    ssl_emotion.ssl_emotion_shallow(cfg)
    cfg.speech_args = dict(SPEECH_BERT, encoder_layers=layers_speech)
    cfg.text_args = dict(ROBERTA_LARGE, encoder_layers=layers_text)
    task = argparse.Namespace(speech_dictionary=dicts["speech"], text_dictionary=dicts["text"])
    model = ssl_emotion.SSLEmotionModel.build_model(cfg, task)
    model.register_classification_head(label_space("iemocap_binary").head_shape)
    return model, dicts


def build_dataset(dicts, speech_len, text_len, keys=False, seed=0):
    """The task's split dataset (sorted by length) over random token rows of the given lengths."""
    from fairseq.data import ListDataset, PrependTokenDataset

    from emotion_fast.feature_cache import feature_keys
    from emotion_tasks import datasets

    rng = np.random.default_rng(seed)
    tokens = {}
    for m, lens in (("speech", speech_len), ("text", text_len)):
        d = dicts[m]
        rows = [torch.from_numpy(rng.integers(d.nspecial, len(d) - 1, n - 1)) for n in lens]  # + <s> below
        tokens[m] = PrependTokenDataset(ListDataset(rows, np.array([n - 1 for n in lens])), d.bos())
    n = len(speech_len)
    labels = [[int(i == k % 4) for i in range(4)] for k in range(n)]
    return datasets.build_split(tokens, labels, [f"utt{i}" for i in range(n)], {m: d.pad() for m, d in dicts.items()},
                                seed, "benchmark", feature_keys=feature_keys(0, n) if keys else None)


def updates_of(dataset, config):
    """List of updates, each a list of collated samples.

    baseline: rows in dataset order (unsorted), one per sample, PER_UPDATE samples per update.
    fast: fairseq's batch_by_size over the length-sorted order (--max-tokens, --batch-size PER_UPDATE),
    one batch per update.
    """
    if config["grouped"]:
        batches = dataset.batch_by_size(dataset.ordered_indices(), max_tokens=config["max_tokens"],
                                        max_sentences=PER_UPDATE)
        return [[dataset.collater([dataset[int(i)] for i in b])] for b in batches]
    rows = [dataset.collater([dataset[i]]) for i in range(len(dataset))]
    return [rows[i:i + PER_UPDATE] for i in range(0, len(rows), PER_UPDATE)]


def _to(sample, device):
    from fairseq import utils

    return utils.move_to_cuda(sample) if device == "cuda" else sample


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _rss_gb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 2 ** 20


def run_epoch(model, criterion, optimizer, updates, config, device):
    """One pass over ``updates``; returns (seconds, utterances, summed loss)."""
    _sync(device)
    start, utts, total = time.perf_counter(), 0, 0.0
    for samples in updates:
        n = sum(s["nsentences"] for s in samples)
        for sample in samples:
            sample = _to(sample, device)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=config["bf16"]):
                loss, _, _ = criterion(model, sample)
                if optimizer is not None:
                    (loss / n).backward()  # = fairseq's sum, then grads x 1 / sample size
            total += float(loss.detach())
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad()
        utts += n
    _sync(device)
    return time.perf_counter() - start, utts, total


def build_optimizer(name, params):
    """fairseq's ``adam`` or the project's ``torch_adamw`` with the paper's settings, through fairseq's registry."""
    from fairseq.optim import OPTIMIZER_DATACLASS_REGISTRY, OPTIMIZER_REGISTRY
    from omegaconf import OmegaConf

    import emotion_fast.torch_adamw  # noqa: F401  (registers torch_adamw)

    settings = dict(lr=[1e-5], adam_betas="(0.9, 0.98)", adam_eps=1e-6, weight_decay=0.1)
    if name == "adam":
        settings.update(tpu=False, use_old_adam=False, fp16_adam_stats=False)
    cfg = OmegaConf.structured(OPTIMIZER_DATACLASS_REGISTRY[name](**settings))
    return OPTIMIZER_REGISTRY[name](cfg, params)


def measure_training(job):
    """Child process: train (or, frozen, run epochs) with one configuration; returns its figures."""
    from emotion_core.label_spaces import label_space
    from emotion_criterions.multimodal_emotion import MultimodalEmotionCriterion

    torch.set_num_threads(job["threads"])
    config, device = job["config"], job["device"]
    frozen = job["kind"] == "frozen"
    model, dicts = build_model(job["layers_speech"], job["layers_text"], freeze=frozen,
                               cache=frozen and config.get("cache", False),
                               attention_dropout=config.get("attention_dropout", 0.1),
                               checkpoint_activations=config.get("checkpoint_activations", False),
                               fast_cpu_dropout=config.get("fast_cpu_dropout", False),
                               unpadded=config.get("unpadded", False))
    model = model.to(device).train()
    dataset = build_dataset(dicts, *lengths(job["utterances"], job["seed"]), keys=frozen and config.get("cache"))
    updates = updates_of(dataset, config)
    criterion = MultimodalEmotionCriterion(argparse.Namespace(label_space=label_space("iemocap_binary")))
    optimizer = build_optimizer(config["optimizer"], [p for p in model.parameters() if p.requires_grad])
    rss_model = _rss_gb()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = {"updates": len(updates), "samples": sum(len(u) for u in updates)}
    if frozen:
        epochs = [run_epoch(model, criterion, optimizer, updates, config, device) for _ in range(job["epochs"])]
        result.update(first_epoch_s=epochs[0][0], later_epoch_s=float(np.median([e[0] for e in epochs[1:]])),
                      utterances=epochs[0][1], losses=[e[2] for e in epochs])
    else:
        warm = sorted(updates, key=lambda u: -max(s["net_input"]["speech_tokens"].size(1) for s in u))
        run_epoch(model, criterion, optimizer, [warm[0], warm[-1]], config, device)  # oneDNN/cuDNN first-use
        seconds, utts, loss = run_epoch(model, criterion, optimizer, updates, config, device)
        result.update(seconds=seconds, utterances=utts, utt_per_s=utts / seconds, loss=loss)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    result["peak_over_model_gb"] = result["peak_rss_gb"] - rss_model  # activations, gradients, Adam state
    if device == "cuda":
        result["peak_cuda_gb"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return result


def _send_result(target, job, connection):
    connection.send(target(job))


def in_child(job, target=measure_training):
    """Run ``target(job)`` in a fresh process (clean peak memory, no state between configs).

    A process that dies (the out-of-memory killer, a crash, an exception) gives ``{"failed": why}``
    instead of a result, so that the other configurations are still measured and reported.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_send_result, args=(target, job, sender))
    process.start()
    sender.close()  # the child holds the only sending end: its death ends recv() with EOFError
    try:
        result = receiver.recv()
    except EOFError:
        result = None
    process.join()
    if result is None:
        code = process.exitcode
        why = f"exit status {code}" if code >= 0 else f"killed by signal {-code}"
        if code == -signal.SIGKILL:
            why += " (most often the kernel's out-of-memory killer)"
        result = {"failed": f"the measuring process died: {why}"}
    brief = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()
             if isinstance(v, (float, str))}
    print(f"[benchmark] {job['kind']} {job['config']}: {brief}", file=sys.stderr, flush=True)  # progress
    return result


def summarize_training(runs):
    """Per configuration: the median throughput, the ratios to the baseline, peak memory.

    ``runs`` maps each configuration to its results, one per interleaved repeat. A configuration
    with a failed repeat is reported as ``{"failed": why}``; ratios need a baseline that ran.
    """
    train = {}
    for name, rs in runs.items():
        failed = [r["failed"] for r in rs if "failed" in r]
        if failed:
            train[name] = {"failed": failed[0]}
            continue
        train[name] = {"utt_per_s": round(float(np.median([r["utt_per_s"] for r in rs])), 3),
                       "utt_per_s_runs": [round(r["utt_per_s"], 3) for r in rs],
                       "updates": rs[0]["updates"], "peak_rss_gb": round(max(r["peak_rss_gb"] for r in rs), 2),
                       "peak_over_model_gb": round(max(r["peak_over_model_gb"] for r in rs), 2),
                       "first_loss": round(rs[0]["loss"], 3)}
        if "peak_cuda_gb" in rs[0]:
            train[name]["peak_cuda_gb"] = round(max(r["peak_cuda_gb"] for r in rs), 2)
        if "first_epoch_utt_per_s" in rs[0]:  # a cache filled in a first epoch (see emotion_bench.waveform)
            train[name]["first_epoch_utt_per_s"] = round(float(np.median([r["first_epoch_utt_per_s"] for r in rs])), 3)
    if "failed" in train["baseline"]:
        return train
    base = train["baseline"]["utt_per_s"]
    for name, summary in train.items():
        if "failed" in summary:
            continue
        summary["speedup"] = round(summary["utt_per_s"] / base, 2)
        if "first_epoch_utt_per_s" in summary:
            summary["first_epoch_speedup"] = round(summary["first_epoch_utt_per_s"] / base, 2)
        # ratio per interleaved repeat (same load), then median
        summary["speedup_runs"] = [round(a["utt_per_s"] / b["utt_per_s"], 2)
                                   for a, b in zip(runs[name], runs["baseline"])]
        # best run over best run: the least disturbed measurement of each (shared or virtual cores)
        summary["speedup_best"] = round(max(r["utt_per_s"] for r in runs[name])
                                        / max(r["utt_per_s"] for r in runs["baseline"]), 2)
    return train


def summarize_frozen(base, fast):
    """Frozen-SSL epoch costs: recomputing the encoders (baseline) against the feature cache (fast)."""
    failed = [r["failed"] for r in (base, fast) if "failed" in r]
    if failed:
        return {"failed": failed[0]}
    recompute = base["later_epoch_s"]
    return {
        "speedup": round(recompute / fast["later_epoch_s"], 1),
        "baseline_recompute_epoch_s": round(recompute, 3),
        "fast_fill_epoch_s": round(fast["first_epoch_s"], 3),  # batched recompute + filling the cache
        "fast_cached_epoch_s": round(fast["later_epoch_s"], 4),
        "cached_vs_batched_recompute": round(fast["first_epoch_s"] / fast["later_epoch_s"], 1),
        "speedup_over_10_epochs": round(10 * recompute / (fast["first_epoch_s"] + 9 * fast["later_epoch_s"]), 1),
        "utterances": base["utterances"],
        "peak_over_model_gb": {"baseline": round(base["peak_over_model_gb"], 2),
                               "fast": round(fast["peak_over_model_gb"], 2)}}


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (None where there is none): kernels differ by vendor."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), None)
    except OSError:
        return None


def configs(device, bf16, quick=False):
    """Training configurations: the paper's baseline and the fast ones for ``device``.

    ``fast_checkpoint_activations`` (left out with --quick) shows what recomputing the layers costs
    and saves; it is not part of ``fast`` on a CPU, where memory is not what limits the batch.
    """
    baseline = {"grouped": False, "bf16": False, "optimizer": "adam"}
    fast = {"grouped": True, "max_tokens": 8192 if device == "cpu" else 32768, "bf16": bf16,
            "optimizer": "torch_adamw", "fast_cpu_dropout": device == "cpu", "unpadded": True}
    out = {"baseline": baseline, "fast": fast, "fast_attention_dropout0": dict(fast, attention_dropout=0.0),
           "fast_padded": dict(fast, unpadded=False)}  # what --unpadded-encoders buys
    if device == "cpu":  # what --fast-cpu-dropout buys: fast with fairseq's dropout and attention
        out["fast_fairseq_dropout"] = dict(fast, fast_cpu_dropout=False)
    if not quick:
        out["fast_checkpoint_activations"] = dict(fast, checkpoint_activations=True)
    return out


def tokenize_rtf(seconds, threads, device, seed=0):
    """vq-wav2vec (released architecture, random weights) RTF: fairseq's featurize vs the project's tokenizer.

    baseline: fairseq's feature extractor and ``forward_idx``; exact: the tokenizer's bit-exact
    quantizer; fast: also the matrix-product feature extractor on CPU (``exact=False``), with the
    fraction of frames whose token differs from fairseq's; exact_mp4: what data preparation does for
    MELD, the same audio read from mp4 clips (48 kHz stereo AAC beside a video track: decoded,
    downmixed and resampled by ``load_audio``) then the exact tokenizer; mp4_decode: the reading alone.
    """
    import logging
    import tempfile

    import soxr

    from emotion_bench.clips import write_clip
    from emotion_data.audio import load_audio
    from emotion_data.speech_tokenizer import SpeechTokenizer
    from emotion_demo.vq_wav2vec_standin import build_model as build_wav2vec, release_args
    from emotion_bench.tokenize_rtf import utterances

    logging.getLogger("fairseq.models.wav2vec.wav2vec").setLevel(logging.WARNING)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build_wav2vec(release_args())
    exact = SpeechTokenizer(model, device=device)
    fast = SpeechTokenizer(model, device=device, exact=device != "cpu")
    wavs = utterances(seconds, seed)
    audio_s = sum(len(w) for w in wavs) / 16000

    def fairseq_path(wav):  # fairseq's examples/wav2vec featurize: features, then forward_idx
        x = torch.from_numpy(wav)[None].to(device)
        return model.vector_quantizer.forward_idx(model.feature_extractor(x))[1].squeeze(0)

    clip_dir = tempfile.TemporaryDirectory()
    clips = [write_clip(Path(clip_dir.name) / f"dia0_utt{i}.mp4", soxr.resample(w, 16000, 48000), 48000)
             for i, w in enumerate(wavs)]
    paths = {"baseline": (fairseq_path, wavs), "exact": (exact.indices, wavs), "fast": (fast.indices, wavs),
             "exact_mp4": (lambda clip: exact.indices(load_audio(clip)), clips), "mp4_decode": (load_audio, clips)}
    with torch.inference_mode(), clip_dir:
        for fn, inputs in paths.values():  # warm-up
            fn(inputs[0])
        times = {name: [] for name in paths}
        for _ in range(2):  # interleaved passes; the faster counts (shared cores)
            for name, (fn, inputs) in paths.items():
                _sync(device)
                start = time.perf_counter()
                for item in inputs:
                    fn(item)
                _sync(device)
                times[name].append(time.perf_counter() - start)
        pairs = [(fast.indices(wav), fairseq_path(wav).cpu()) for wav in wavs]
    differing = sum((ours != ref).any(1).sum().item() for ours, ref in pairs)
    return {k: round(min(v) / audio_s, 4) for k, v in times.items()} | {
        "seconds_audio": round(audio_s, 1), "fast_exact": fast.exact,
        "fast_frames_differing": differing, "frames": sum(len(ref) for _, ref in pairs)}


def latency(threads, device, bf16, repeats):
    """Single-utterance (5 s + a sentence) latency, full-size models (12 + 24 layers), baseline vs fast.

    baseline: fp32, fairseq's padded encoder forward and convolutions; fast: bf16 where supported,
    unpadded encoders, and on CPU the matrix-product feature extractor (``fast_exact_tokens``
    keeps fairseq's convolutions).
    """
    from emotion_data.speech_tokenizer import SpeechTokenizer
    from emotion_bench.latency import full_size_recognizer, measure_latency

    torch.set_num_threads(threads)
    rec = full_size_recognizer()
    if device == "cuda":
        rec.model.to(device)
        rec.device = torch.device(device)
    wav2vec = rec.tokenizer.model
    configs = {"baseline": (False, False, True), "fast_exact_tokens": (bf16, True, True),
               "fast": (bf16, True, device != "cpu")}  # name: (bf16, unpadded, exact tokens)
    out = {}
    for name, (use_bf16, unpadded, exact) in configs.items():
        rec.bf16 = use_bf16
        rec.model.set_unpadded_encoders(unpadded)
        rec.tokenizer = SpeechTokenizer(wav2vec, device=device, exact=exact)
        m = measure_latency(rec, 5.0, repeats=repeats, threads=threads)
        out[name] = {"median_s": round(m["median_s"], 3), "min_s": round(m["min_s"], 3),
                     "model_s": round(m["model_median_s"], 3), "encode_s": round(m["encode_median_s"], 3),
                     "cpu_per_thread_s": round(m["cpu_per_thread_s"], 3), "bf16": use_bf16,
                     "unpadded": unpadded, "exact_tokens": exact}
    return out


def bf16_supported(device):
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def failed_sections(out):
    """Names of the measurements of the benchmark's JSON whose process died."""
    wave = out.get("waveform") or {}
    sections = {**(out.get("train") or {}), "frozen": out.get("frozen"), "timeline": out.get("timeline"),
                **{f"waveform {k}": v for k, v in (wave.get("train") or {}).items()},
                **{f"waveform batch16 {k}": v for k, v in (wave.get("batch16") or {}).items()}}
    return [name for name, summary in sections.items() if "failed" in (summary or {})]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--layers-speech", type=int, default=None, help="Speech-BERT depth (default: 2 on CPU, 12 on CUDA)")
    p.add_argument("--layers-text", type=int, default=None, help="RoBERTa depth (default: 2 on CPU, 24 on CUDA)")
    p.add_argument("--utterances", type=int, default=None, help="training utterances per measurement "
                                                                "(default 64, --quick 32; CUDA 512)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved repeats of the training figures "
                                                             "(default 2, --quick 1)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (goals are stated for 2 CPU cores)")
    p.add_argument("--quick", action="store_true", help="fewer utterances, repeats and audio")
    p.add_argument("--timeline-minutes", type=float, default=None, help="recording of the timeline figure "
                                                                        "(default 10, --quick 2)")
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["train", "frozen", "tokenize", "latency", "checkpoint_load", "waveform", "serve",
                            "timeline"],
                   help="sections to leave out (their keys are null)")
    p.add_argument("--waveform-layers", type=int, default=12,
                   help="HuBERT depth of the waveform section (default 12: the base release)")
    p.add_argument("--waveform-utterances", type=int, default=None,
                   help="training utterances of the waveform section (default 16, --quick 8)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device")
    full = device == "cuda"
    ls = args.layers_speech or (12 if full else 2)
    lt = args.layers_text or (24 if full else 2)
    n = args.utterances or (512 if full else (32 if args.quick else 64))
    repeats = args.repeats or (1 if args.quick else 2)
    bf16 = bf16_supported(device)
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    started = time.time()
    job = {"device": device, "threads": args.threads, "layers_speech": ls, "layers_text": lt,
           "utterances": n, "seed": args.seed}
    sp, tx = lengths(n, args.seed)
    out = {"train_speedup": None, "frozen_epoch_speedup": None, "tokenize_rtf": None, "latency_s": None,
           "waveform_train_speedup": None, "waveform_latency_s": None,
           "serve_overhead_ms": None, "serve_rss_growth": None, "timeline_rtf": None, "timeline_peak_rss_gb": None,
           "machine": {"device": device, "cpu": platform.processor() or platform.machine(), "cpu_model": cpu_model(),
                       "cpu_count": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
                       "bf16_supported": bf16,
                       "gpu": torch.cuda.get_device_name() if device == "cuda" else None},
           "workload": {"layers_speech": ls, "layers_text": lt, "speech_dim": 768, "text_dim": 1024,
                        "utterances": n, "speech_tokens_mean": float(sp.mean()), "speech_tokens_max": int(sp.max()),
                        "text_tokens_mean": float(tx.mean()), "text_tokens_max": int(tx.max()),
                        "arch": "ssl_emotion_shallow", "per_update": PER_UPDATE, "repeats": repeats}}
    cfgs = configs(device, bf16, args.quick)
    out["configs"] = cfgs
    if "train" not in args.skip:
        runs = {k: [] for k in cfgs}
        for _ in range(repeats):
            for name, config in cfgs.items():
                runs[name].append(in_child(dict(job, kind="train", config=config)))
        train = summarize_training(runs)
        out["train"] = train
        out["train_speedup"] = train["fast"].get("speedup")
        out["train_speedup_best"] = train["fast"].get("speedup_best")
        out["train_speedup_attention_dropout0"] = train["fast_attention_dropout0"].get("speedup")
    if "frozen" not in args.skip:
        base = in_child(dict(job, kind="frozen", config=cfgs["baseline"], epochs=2))
        fast = in_child(dict(job, kind="frozen", config=dict(cfgs["fast"], cache=True), epochs=3))
        out["frozen"] = summarize_frozen(base, fast)
        out["frozen_epoch_speedup"] = out["frozen"].get("speedup")
    if "tokenize" not in args.skip:
        rtf = tokenize_rtf(10.0 if args.quick else 30.0, args.threads, device, args.seed)
        out["tokenize"] = rtf
        out["tokenize_rtf"] = rtf["fast"]
    if "latency" not in args.skip:
        lat = latency(args.threads, device, bf16, repeats=3 if args.quick else 5)
        out["latency"] = lat
        out["latency_s"] = lat["fast"]["median_s"]
    if "waveform" not in args.skip:
        from emotion_bench import waveform

        wjob = dict(job, layers_speech=args.waveform_layers,
                    utterances=args.waveform_utterances or (8 if args.quick else PER_UPDATE))
        out["waveform"] = waveform.run(wjob, bf16, repeats)
        out["waveform_train_speedup"] = out["waveform"]["train_speedup"]
        out["waveform_latency_s"] = out["waveform"]["latency"]["fast"]["median_s"]
    if "checkpoint_load" not in args.skip:
        from emotion_bench.checkpoint_load import measure

        with tempfile.TemporaryDirectory() as tmp:
            out["checkpoint_load"] = measure(tmp, repeats=3 if args.quick else 5)
    if "serve" not in args.skip:
        from emotion_bench.serve_bench import measure_service

        serve = measure_service(threads=1, repeats=20 if args.quick else 40)  # why one thread: serve_bench.py
        out["serve"] = serve
        out["serve_overhead_ms"] = serve["overhead_median_ms"]
        out["serve_rss_growth"] = serve["soak"]["rss_growth"]
    if "timeline" not in args.skip:
        from emotion_bench.timeline_bench import measure_timeline

        minutes = args.timeline_minutes or (2.0 if args.quick else 10.0)
        config = {"bf16": bf16_supported("cpu"), "exact_tokens": False}  # the CPU fast configuration of latency
        timeline = in_child(dict(kind="timeline", config=config, minutes=minutes, threads=args.threads,
                                 seed=args.seed, **config), target=measure_timeline)
        out["timeline"] = timeline
        out["timeline_rtf"] = timeline.get("rtf")
        out["timeline_peak_rss_gb"] = timeline.get("peak_rss_gb")
    out["load_average"] = {"start": [round(x, 2) for x in load_start],
                           "end": [round(x, 2) for x in os.getloadavg()]}
    out["wall_s"] = round(time.time() - started, 1)
    print(json.dumps(out, indent=1))
    failed = failed_sections(out)
    if failed:
        sys.exit(f"benchmark: {', '.join(failed)} failed (see the JSON)")


if __name__ == "__main__":
    main()
