"""Timeline of a long recording with the full-size models: real-time factor and peak memory.

The recording: utterances of the demo corpus's synthesiser (espeak-ng where installed, else its
numpy voice), drawn at random and joined by pauses of 0.2-2 s (pauses under 0.4 s do not end a
speech region, so some regions run past ``max_segment_s`` and are cut into overlapping windows),
``minutes`` long, written as a 16 kHz 16-bit WAV with an SRT transcript of its utterances. The
model: the released vq-wav2vec, Speech-BERT and RoBERTa-large architectures with random weights,
shallow fusion (:func:`full_size_recognizer`). ``EmotionRecognizer.timeline`` reads the file
(voice activity, then segments a few at a time); the process's peak resident memory is its own
(the benchmark runs this in a fresh process).
"""
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from emotion_core.constants import SAMPLE_RATE


def _srt_time(seconds):
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def long_recording(out_dir, minutes=10.0, seed=0):
    """(wav path, srt path, utterances) of a ``minutes``-long recording of synthesised utterances and pauses."""
    from emotion_demo.synthetic_corpus import build_corpus, read_manifest

    out_dir = Path(out_dir)
    manifest = build_corpus(out_dir / "corpus", num_utterances=60, seed=seed)
    pool = [(sf.read(str(out_dir / "corpus" / r["audio"]), dtype="float32")[0], r["text"])
            for r in read_manifest(manifest)]
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * SAMPLE_RATE)
    wav_path, srt_path = out_dir / "recording.wav", out_dir / "recording.srt"
    cues, position = [], 0
    with sf.SoundFile(str(wav_path), "w", SAMPLE_RATE, 1, subtype="PCM_16") as out:  # written piece by piece
        while position < total:
            pause = int(rng.uniform(0.2, 2.0) * SAMPLE_RATE)
            out.write((0.002 * rng.standard_normal(pause)).astype(np.float32))
            position += pause
            wav, text = pool[rng.integers(len(pool))]
            wav = wav[: total - position]
            out.write(wav)
            cues.append((position / SAMPLE_RATE, (position + len(wav)) / SAMPLE_RATE, text))
            position += len(wav)
    srt_path.write_text("".join(f"{i + 1}\n{_srt_time(a)} --> {_srt_time(b)}\n{t}\n\n"
                                for i, (a, b, t) in enumerate(cues) if b > a), encoding="utf-8")
    return wav_path, srt_path, len(cues)


def measure_timeline(job):
    """RTF and peak memory of a full-size timeline (``job``: minutes, threads, bf16, exact_tokens, seed)."""
    from emotion_bench.latency import full_size_recognizer
    from emotion_data.speech_tokenizer import SpeechTokenizer
    from emotion_inference.transcripts import read_transcript
    from emotion_inference.vad import load_vad
    from emotion_inference.long_audio import LongAudio

    torch.set_num_threads(job["threads"])
    with tempfile.TemporaryDirectory() as tmp:
        wav, srt, utterances = long_recording(tmp, job["minutes"], job["seed"])
        recognizer = full_size_recognizer(bf16=job["bf16"])
        recognizer.tokenizer = SpeechTokenizer(recognizer.tokenizer.model, exact=job["exact_tokens"])
        warm = recognizer.encode(LongAudio(wav).segment(0.0, 5.0), "Hello there.", SAMPLE_RATE)
        recognizer.predict_encoded([warm])  # oneDNN's first-use kernels, and bf16's weight copies
        rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        vad_start = time.perf_counter()
        load_vad("auto").regions(LongAudio(wav).blocks())  # voice activity alone, for its share
        vad_s = time.perf_counter() - vad_start
        start, cpu_start = time.perf_counter(), time.process_time()
        timeline = recognizer.timeline(wav, read_transcript(srt))
        rows = list(timeline.rows)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        duration = timeline.header["duration_s"]
        lengths = [r["end"] - r["start"] for r in rows]
        return {"minutes": job["minutes"], "threads": job["threads"], "bf16": job["bf16"],
                "exact_tokens": job["exact_tokens"], "vad": timeline.header["vad"], "utterances": utterances,
                "segments": len(rows), "predicted": sum(r["prediction"] is not None for r in rows),
                "longest_segment_s": round(max(lengths), 2), "speech_s": round(sum(lengths), 1),
                "wall_s": round(wall, 1), "rtf": round(wall / duration, 4), "vad_rtf": round(vad_s / duration, 4),
                # CPU time per thread: on cores shared with other jobs, what the work takes on idle ones (roughly)
                "cpu_per_thread_rtf": round(cpu / job["threads"] / duration, 4),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
                "rss_after_model_gb": round(rss_model, 2)}
