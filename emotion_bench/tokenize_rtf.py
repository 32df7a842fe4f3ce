"""Real-time factor of speech tokenization with the full-size vq-wav2vec k-means architecture.

Random weights (the timing does not depend on them), random 3-10 s utterances, ``--threads`` torch
threads. Prints JSON: rtf (wall seconds per audio second, fastest of ``--repeat`` passes; on busy
shared cores also read the CPU seconds per audio second), seconds_audio, the split into
feature extractor and quantizer (one pass), the speedup of the exact quantizer over fairseq's
forward_idx, and with ``--fast-tokenizer`` (matrix-product convolutions) the frames whose token
differs from fairseq's featurize. With ``--mp4`` each utterance is read from an mp4 clip as MELD
distributes them (48 kHz stereo AAC beside a video track) inside the timed passes: decoding,
downmix and resampling (``emotion_data.audio.load_audio``) count, as in data preparation.

    python scripts/measure_tokenize_rtf.py --seconds 30 --threads 2 [--mp4]   (or python -m emotion_bench.tokenize_rtf)
"""
import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr
import torch

from emotion_bench.clips import write_clip
from emotion_data.audio import load_audio
from emotion_data.speech_tokenizer import SpeechTokenizer
from emotion_demo.vq_wav2vec_standin import build_model, release_args


def utterances(total_s, seed, sample_rate=16000):
    """Random-length (3-10 s) noise utterances adding up to about ``total_s`` seconds."""
    rng = np.random.default_rng(seed)
    wavs, left = [], total_s
    while left > 0:
        dur = min(rng.uniform(3, 10), max(left, 3))
        wavs.append((0.1 * rng.standard_normal(int(dur * sample_rate))).astype(np.float32))
        left -= dur
    return wavs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="audio to tokenize, in seconds")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and audio")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the fastest counts (shared CPUs)")
    parser.add_argument("--fast-tokenizer", action="store_true",
                        help="time the matrix-product feature extractor (SpeechTokenizer(exact=False))")
    parser.add_argument("--mp4", action="store_true",
                        help="read each utterance from an mp4 clip (MELD's format) inside the timed passes")
    args = parser.parse_args()

    logging.getLogger("fairseq.models.wav2vec.wav2vec").setLevel(logging.WARNING)  # no model printout
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = build_model(release_args())
    tok = SpeechTokenizer(model, exact=not args.fast_tokenizer)
    wavs = utterances(args.seconds, args.seed)
    clip_dir = tempfile.TemporaryDirectory()
    inputs, read = wavs, np.asarray
    if args.mp4:
        inputs = [write_clip(Path(clip_dir.name) / f"dia0_utt{i}.mp4", soxr.resample(w, 16000, 48000), 48000)
                  for i, w in enumerate(wavs)]
        read = load_audio
    tok.indices(read(inputs[0]))  # warm-up

    t_feat = t_fast = t_fairseq = 0.0
    passes, cpu = [], []
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        for item in inputs:
            tok.indices(read(item))
        passes.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    total = min(passes)
    start = time.perf_counter()
    for item in inputs:
        read(item)
    t_read = time.perf_counter() - start
    clip_dir.cleanup()
    identical, differing, frames = True, 0, 0
    with torch.inference_mode():  # split the time, and check identity with fairseq's quantizer
        for wav in wavs:
            t0 = time.perf_counter()
            features = tok.features(torch.from_numpy(wav)[None])
            t1 = time.perf_counter()
            fast = tok._quantize(features)
            t2 = time.perf_counter()
            ref = model.vector_quantizer.forward_idx(features)[1].squeeze(0)
            t3 = time.perf_counter()
            fairseq = model.vector_quantizer.forward_idx(model.feature_extractor(torch.from_numpy(wav)[None]))[1]
            t_feat, t_fast, t_fairseq = t_feat + t1 - t0, t_fast + t2 - t1, t_fairseq + t3 - t2
            identical &= torch.equal(fast, ref)
            differing += (fast != fairseq.squeeze(0)).any(1).sum().item()
            frames += len(fast)

    seconds_audio = sum(len(w) for w in wavs) / 16000
    print(json.dumps({
        "rtf": round(total / seconds_audio, 4),
        "rtf_passes": [round(t / seconds_audio, 4) for t in passes],
        "cpu_seconds_per_audio_second": round(min(cpu) / seconds_audio, 4),  # all threads together
        "seconds_audio": round(seconds_audio, 2),
        "utterances": len(wavs),
        "threads": args.threads,
        "mp4": args.mp4,
        "read_rtf": round(t_read / seconds_audio, 4),  # reading the audio alone (mp4: decode, downmix, resample)
        "feature_extractor_rtf": round(t_feat / seconds_audio, 4),
        "quantizer_rtf": round(t_fast / seconds_audio, 4),
        "fairseq_quantizer_rtf": round(t_fairseq / seconds_audio, 4),
        "fast_vs_fairseq_quantizer_speedup": round(t_fairseq / t_fast, 1),
        "quantizer_identical_to_fairseq": bool(identical),
        "exact_features": tok.exact,
        "frames_differing_from_fairseq": differing,
        "frames": frames,
        "params": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
