"""Single-utterance latency of EmotionRecognizer.predict with the full-size architectures, random weights.

    python scripts/measure_latency.py   (or python -m emotion_bench.latency) [--seconds 5] [--threads 2] [--repeats 5] [--bf16] [--compare-bf16]

Builds, in memory, the released vq-wav2vec k-means architecture (``release_args()``), Speech-BERT
12 x 768 (2048 positions, a "g0-g1" dictionary of all 320 x 320 tokens) and RoBERTa-large
24 x 1024 (512 positions, 50,260 BPE symbols), fused by ``--arch`` (default the paper's shallow
fusion, iemocap_binary head), all with random weights; then times audio array -> probabilities
for a ``--seconds`` utterance (see :func:`measure_latency`) and prints one
JSON object. ``--compare-bf16`` also times bf16 autocast and reports the largest probability
difference to fp32 on the same inputs.
"""
import argparse
import json
import logging
import math
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from fairseq.data import Dictionary
from omegaconf import OmegaConf

from emotion_core.constants import SAMPLE_RATE
from emotion_data.bpe import load_bpe
from emotion_demo.bpe_training import train_bpe
from emotion_data.speech_tokenizer import SpeechTokenizer
from emotion_demo.vq_wav2vec_standin import build_model as build_wav2vec, release_args, standin_args
from emotion_inference.recognizer import EmotionRecognizer
from emotion_models.ssl_emotion import SSLEmotionConfig, SSLEmotionModel
from emotion_models import ssl_emotion
from emotion_core.label_spaces import label_space

SPEECH_BERT = dict(arch="roberta_base", encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072,
                   encoder_attention_heads=12, max_positions=2048)  # Speech-BERT (bert_kmeans.pt)
ROBERTA_LARGE = dict(arch="roberta_large", encoder_layers=24, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
                     encoder_attention_heads=16, max_positions=512)  # roberta.large/model.pt
TEXT_SYMBOLS = 50260  # GPT-2 BPE ids in roberta.large/dict.txt
SENTENCES = ["I really did not expect to see you here today.", "Why would you do that to me?",
             "That is the best news I have heard in years!", "Leave me alone, I am tired of this."]


def measure_latency(recognizer, seconds=5.0, text="I really did not expect to see you here today.",
                    repeats=5, warmup=2, threads=None, seed=0):
    """Single-utterance latency of ``recognizer``, audio array to probabilities (``encode`` + ``predict_encoded``).

    A ``seconds``-long synthetic 16 kHz utterance (noise-modulated tone, not silent) is predicted
    ``warmup`` times untimed (oneDNN builds its kernels on first use), then ``repeats`` times.
    ``threads`` sets ``torch.set_num_threads`` first. Returns the median and minimum wall time in
    seconds, every run, the median of each stage (speech + text tokenization; model), and the
    median process CPU time: on a machine shared with other jobs, ``cpu_s / threads`` estimates the
    wall time the same work takes on idle cores.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wav = (0.3 * np.sin(2 * math.pi * 220 * t) * (1 + np.sin(2 * math.pi * 3 * t))
           + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    runs, stages, cpu = [], [], []
    for i in range(warmup + repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        encoded = recognizer.encode(wav, text, SAMPLE_RATE)
        t1 = time.perf_counter()
        recognizer.predict_encoded([encoded])
        t2, c2 = time.perf_counter(), time.process_time()
        if i >= warmup:
            runs.append(t2 - t0)
            stages.append((t1 - t0, t2 - t1))
            cpu.append(c2 - c0)
    return {"median_s": float(np.median(runs)), "min_s": float(min(runs)), "runs_s": runs,
            "encode_median_s": float(np.median([s[0] for s in stages])),
            "model_median_s": float(np.median([s[1] for s in stages])),
            "cpu_s": float(np.median(cpu)), "cpu_per_thread_s": float(np.median(cpu)) / torch.get_num_threads(),
            "speech_positions": 0 if encoded.speech is None else len(encoded.speech),
            "text_positions": 0 if encoded.text is None else len(encoded.text),
            "threads": torch.get_num_threads(), "bf16": recognizer.bf16}


def dictionary(symbols):
    """A fairseq Dictionary of ``symbols`` + ``<mask>``, as the task builds it."""
    d = Dictionary()
    for s in symbols:
        d.add_symbol(s)
    d.add_symbol("<mask>")
    return d


DEMO_SPEECH = dict(arch="roberta_base", encoder_layers=2, encoder_embed_dim=48, encoder_ffn_embed_dim=96,
                   encoder_attention_heads=4, max_positions=2048)  # the small demo's Speech-BERT stand-in
DEMO_TEXT = dict(arch="roberta_base", encoder_layers=2, encoder_embed_dim=64, encoder_ffn_embed_dim=128,
                 encoder_attention_heads=4, max_positions=512)  # the small demo's RoBERTa stand-in


def full_size_recognizer(arch="ssl_emotion_shallow", target_type="iemocap_binary", bf16=False, seed=0):
    """EmotionRecognizer with the full-size architectures and random weights (nothing read from disk)."""
    return random_recognizer(release_args(), SPEECH_BERT, ROBERTA_LARGE, arch, target_type, bf16, seed)


def demo_size_recognizer(arch="ssl_emotion_shallow", target_type="iemocap_binary", seed=0):
    """EmotionRecognizer with the small demo's stand-in sizes and random weights (the service benchmark)."""
    return random_recognizer(standin_args(), DEMO_SPEECH, DEMO_TEXT, arch, target_type, False, seed)


def random_recognizer(wav2vec_args, speech_args, text_args, arch, target_type, bf16, seed):
    """EmotionRecognizer of the given architectures with random weights (nothing read from disk)."""
    torch.manual_seed(seed)
    wav2vec = build_wav2vec(wav2vec_args)
    speech_dict = dictionary(f"{a}-{b}" for a in range(320) for b in range(320))
    text_dict = dictionary(str(i) for i in range(TEXT_SYMBOLS))
    cfg = OmegaConf.structured(SSLEmotionConfig(dropout=0.0, attention_dropout=0.0, pooler_dropout=0.0))
    getattr(ssl_emotion, arch)(cfg)
    cfg.speech_args, cfg.text_args = speech_args, text_args
    task = argparse.Namespace(speech_dictionary=speech_dict, text_dictionary=text_dict)
    model = SSLEmotionModel.build_model(cfg, task)
    space = label_space(target_type)
    model.register_classification_head(space.head_shape)
    with tempfile.TemporaryDirectory() as tmp:  # a small GPT-2-format BPE: ids fall inside the 50,260
        train_bpe(SENTENCES * 4, tmp, vocab_size=400)
        bpe = load_bpe(Path(tmp) / "encoder.json", Path(tmp) / "vocab.bpe")
    return EmotionRecognizer(model, space, speech_dict, text_dict, SpeechTokenizer(wav2vec), bpe, bf16=bf16)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="utterance duration")
    p.add_argument("--threads", type=int, default=2, help="torch threads (the goal is stated for 2 CPU cores)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (after 2 warm-up runs)")
    p.add_argument("--arch", default="ssl_emotion_shallow", help="ssl_emotion architecture")
    p.add_argument("--bf16", action="store_true", help="time bf16 autocast instead of fp32")
    p.add_argument("--compare-bf16", action="store_true", help="time both and report their largest difference")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    rec = full_size_recognizer(args.arch, bf16=args.bf16)
    result = {"machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
              "seconds": args.seconds, "arch": args.arch,
              "latency": measure_latency(rec, args.seconds, repeats=args.repeats, threads=args.threads)}
    if args.compare_bf16:
        rng = np.random.default_rng(1)
        wav = (0.1 * rng.standard_normal(int(args.seconds * 16000))).astype(np.float32)
        encoded = [rec.encode(wav, s, 16000) for s in SENTENCES]
        rec.bf16 = False
        fp32 = rec.predict_encoded(encoded)
        rec.bf16 = True
        bf16 = rec.predict_encoded(encoded)
        result["bf16_max_abs_diff"] = max(abs(a[e] - b[e]) for a, b in zip(fp32, bf16) for e in a)
        result["latency_bf16"] = measure_latency(rec, args.seconds, repeats=args.repeats, threads=args.threads)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
