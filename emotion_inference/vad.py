"""Speech regions of a recording, streamed in blocks: silero-vad, or an energy detector when it is absent.

* ``silero``: the ONNX model that the ``silero-vad`` package ships inside itself
  (``silero_vad/data/silero_vad.onnx``; nothing is downloaded), run with onnxruntime on one thread,
  one 32 ms window at a time with its recurrent state and 64-sample context carried across blocks
  (what the package's ``OnnxWrapper`` does); the package's own
  ``get_speech_timestamps_from_probs`` turns the window probabilities into regions.
* ``energy``: a window is speech when its level is ``margin_db`` above the recording's noise floor
  (its 10th-percentile window level) and above -60 dBFS; runs of speech windows closer than
  ``min_silence_s`` are joined, shorter than ``min_speech_s`` dropped, and padded by ``pad_s``.

Both keep one number per 32 ms window (about 19,000 for 10 minutes), never the audio.
Regions are in seconds, as pyannote's ``Segment``: ``Region(start, end)``.
"""
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emotion_core.constants import SAMPLE_RATE

WINDOW = 512  # samples per decision at 16 kHz (32 ms), silero's window
CONTEXT = 64  # samples of the previous window silero's ONNX model reads before each window
VAD_CHOICES = ("auto", "silero", "energy")


@dataclass(frozen=True)
class Region:
    """A stretch of a recording, in seconds."""

    start: float
    end: float

    @property
    def duration(self):
        return self.end - self.start


@dataclass(frozen=True)
class VadSettings:
    """How speech windows become regions (shared by both detectors)."""

    threshold: float = 0.5  # silero: speech probability to start a region (it ends below threshold - 0.15)
    min_speech_s: float = 0.25  # shorter regions are dropped
    min_silence_s: float = 0.4  # shorter pauses do not end a region (pauses between words)
    pad_s: float = 0.1  # added before and after each region
    margin_db: float = 15.0  # energy: level above the noise floor that counts as speech


def silero_model_path():
    """The ONNX model inside the installed ``silero-vad`` package, or None when the package is absent.

    The package is located without importing it: importing ``silero_vad`` sets torch's thread count to 1.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"
    return path if path.is_file() else None


def silero_available():
    """Whether silero-vad's packaged model and onnxruntime can both be used."""
    return silero_model_path() is not None and importlib.util.find_spec("onnxruntime") is not None


def _silero_timestamps_from_probs():
    """silero-vad's ``get_speech_timestamps_from_probs``, imported without changing torch's threads."""
    threads = torch.get_num_threads()
    try:
        from silero_vad.utils_vad import get_speech_timestamps_from_probs
    finally:
        torch.set_num_threads(threads)  # silero_vad/model.py calls torch.set_num_threads(1) on import
    return get_speech_timestamps_from_probs


class _Windows:
    """Cuts a stream of blocks into whole WINDOW-sample windows (the last one zero-padded)."""

    def __init__(self):
        self.rest = np.zeros(0, dtype=np.float32)
        self.samples = 0

    def feed(self, block):
        """Windows (n, WINDOW) completed by ``block``."""
        self.samples += len(block)
        data = np.concatenate([self.rest, np.asarray(block, dtype=np.float32)])
        n = len(data) // WINDOW
        self.rest = data[n * WINDOW:]
        return data[: n * WINDOW].reshape(n, WINDOW)

    def finish(self):
        if not len(self.rest):
            return np.zeros((0, WINDOW), dtype=np.float32)
        return np.pad(self.rest, (0, WINDOW - len(self.rest)))[None]


class SileroVad:
    """silero-vad's packaged ONNX model; one session shared by every stream (each keeps its own state)."""

    name = "silero"

    def __init__(self, settings=VadSettings()):
        import onnxruntime

        path = silero_model_path()
        if path is None:
            raise ValueError("silero-vad is not installed (pip install silero-vad onnxruntime); use vad='energy'")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # a window is far too small to split
        self.session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                                    providers=["CPUExecutionProvider"])
        self.settings = settings
        self.to_timestamps = _silero_timestamps_from_probs()

    def regions(self, blocks):
        """Speech regions of a recording given as 16 kHz mono float32 blocks of any length."""
        windows, probs = _Windows(), []
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros((1, CONTEXT), dtype=np.float32)
        rate = np.array(SAMPLE_RATE, dtype=np.int64)

        def run(chunk):
            nonlocal state, context
            for window in chunk:
                x = np.concatenate([context, window[None]], axis=1)  # (1, CONTEXT + WINDOW)
                out, state = self.session.run(None, {"input": x, "state": state, "sr": rate})
                context = x[:, -CONTEXT:]
                probs.append(float(out[0, 0]))

        for block in blocks:
            run(windows.feed(block))
        run(windows.finish())
        s = self.settings
        stamps = self.to_timestamps(probs, sampling_rate=SAMPLE_RATE, threshold=s.threshold,
                                    min_speech_duration_ms=1000 * s.min_speech_s,
                                    min_silence_duration_ms=1000 * s.min_silence_s, speech_pad_ms=1000 * s.pad_s,
                                    audio_length_samples=windows.samples)
        return [Region(t["start"] / SAMPLE_RATE, t["end"] / SAMPLE_RATE) for t in stamps]


class EnergyVad:
    """Window levels against the recording's noise floor (the fallback without silero-vad)."""

    name = "energy"
    FLOOR_DB = -60.0  # a window quieter than this is never speech

    def __init__(self, settings=VadSettings()):
        self.settings = settings

    def regions(self, blocks):
        """Speech regions of a recording given as 16 kHz mono float32 blocks of any length."""
        windows, levels = _Windows(), []
        for block in [*blocks, None]:
            chunk = windows.finish() if block is None else windows.feed(block)
            rms = np.sqrt(np.mean(chunk.astype(np.float64) ** 2, axis=1) + 1e-20)  # (n,)
            levels.extend(20 * np.log10(rms))
        if not levels:
            return []
        levels = np.asarray(levels)
        s, step = self.settings, WINDOW / SAMPLE_RATE
        speech = (levels > np.percentile(levels, 10) + s.margin_db) & (levels > self.FLOOR_DB)
        runs, start = [], None  # [first, last + 1) window indices of speech
        for i, flag in enumerate([*speech, False]):
            if flag and start is None:
                start = i
            elif not flag and start is not None:
                if runs and (start - runs[-1][1]) * step < s.min_silence_s:
                    runs[-1] = (runs[-1][0], i)  # a short pause: the same region
                else:
                    runs.append((start, i))
                start = None
        duration = windows.samples / SAMPLE_RATE
        return [Region(max(0.0, a * step - s.pad_s), min(duration, b * step + s.pad_s))
                for a, b in runs if (b - a) * step >= s.min_speech_s]


def load_vad(kind="auto", settings=VadSettings()):
    """A detector: ``silero`` (error when absent), ``energy``, or ``auto`` (silero when installed)."""
    if kind not in VAD_CHOICES:
        raise ValueError(f"vad must be one of {VAD_CHOICES}, got {kind!r}")
    if kind == "silero" or (kind == "auto" and silero_available()):
        return SileroVad(settings)
    return EnergyVad(settings)
