"""Read speech audio as float32 mono 16 kHz with soundfile and soxr (never torchaudio).

>>> wav = load_audio("Ses01F_impro01_F000.wav", start=0.5, end=2.0)  # doctest: +SKIP
>>> wav.dtype, wav.ndim
(dtype('float32'), 1)
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from emotion_core.constants import SAMPLE_RATE, SILENCE_PEAK

END_TOLERANCE_S = 0.05  # annotations may end this far past the audio (rounding of segment times)


class AudioError(ValueError):
    """An audio file (or a segment of it) that cannot be used; the message names the file and problem."""

    def __init__(self, path, problem):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class AudioInfo:
    """What the file held before conversion: lets callers count resampled or downmixed files."""

    sample_rate: int  # original sampling rate in Hz
    channels: int  # original number of channels
    duration: float  # original duration in seconds (whole file, not the segment)


def load_audio_with_info(path, start=None, end=None):
    """Read ``path`` (optionally the segment ``start``..``end`` in seconds) as float32 mono 16 kHz.

    Channels are averaged and other sampling rates resampled with soxr. The segment is cut at the
    original rate, before resampling. Returns ``(wav, AudioInfo)``; raises :class:`AudioError` when
    the file is missing, unreadable, empty or silent, or the segment lies outside the audio.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError or TypeError
        raise AudioError(path, f"unreadable audio ({err})") from err
    info = AudioInfo(sample_rate=sr, channels=data.shape[1], duration=data.shape[0] / sr)
    if data.shape[0] == 0:
        raise AudioError(path, "empty audio (0 samples)")

    if start is not None or end is not None:
        t0 = 0.0 if start is None else float(start)
        t1 = info.duration if end is None else float(end)
        if t0 < 0 or t0 >= info.duration or t1 > info.duration + END_TOLERANCE_S or t0 >= t1:
            raise AudioError(path, f"segment {t0:.3f}-{t1:.3f} s outside the audio "
                                   f"(duration {info.duration:.3f} s)")
        data = data[int(round(t0 * sr)):int(round(t1 * sr))]
        if data.shape[0] == 0:
            raise AudioError(path, f"segment {t0:.3f}-{t1:.3f} s holds no sample")

    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]  # (samples,)
    if sr != SAMPLE_RATE:
        wav = soxr.resample(wav, sr, SAMPLE_RATE)
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if not np.isfinite(peak):
        raise AudioError(path, "audio holds NaN or infinite samples")
    if peak < SILENCE_PEAK:
        raise AudioError(path, f"silent audio (peak {peak:.1e} < {SILENCE_PEAK:.0e})")
    return wav, info


def load_audio(path, start=None, end=None):
    """Read ``path`` as float32 mono 16 kHz samples; see :func:`load_audio_with_info`."""
    return load_audio_with_info(path, start, end)[0]
