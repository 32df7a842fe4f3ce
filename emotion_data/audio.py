"""Read speech audio as float32 mono 16 kHz with soundfile and soxr (never torchaudio).

Audio files (wav, flac, ...) are read with soundfile; the audio track of ``.mp4`` clips (MELD's
video clips) is decoded with PyAV, whose wheel ships its own FFmpeg libraries (no system ffmpeg).
Both then go through the same cut, downmix and resampling.

>>> wav = load_audio("Ses01F_impro01_F000.wav", start=0.5, end=2.0)  # doctest: +SKIP
>>> wav.dtype, wav.ndim
(dtype('float32'), 1)
"""
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from emotion_core.constants import SAMPLE_RATE, SILENCE_PEAK

END_TOLERANCE_S = 0.05  # annotations may end this far past the audio (rounding of segment times)
VIDEO_SUFFIXES = (".mp4",)  # containers whose audio track is decoded with PyAV


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


def _decode_audio_track(path):
    """The first audio track of a video container as ``(samples, channels)`` float32, and its rate."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(path, "no audio track in the clip")
            stream = container.streams.audio[0]
            to_float = av.AudioResampler(format="fltp")  # planar float32; rate and channels unchanged
            chunks = [f.to_ndarray() for frame in container.decode(stream) for f in to_float.resample(frame)]
            chunks += [f.to_ndarray() for f in to_float.resample(None)]  # (channels, samples) each
            sr = stream.codec_context.sample_rate
    except av.FFmpegError as err:
        raise AudioError(path, f"undecodable clip ({err.strerror or err})") from err
    if not chunks:
        return np.zeros((0, 1), dtype=np.float32), sr
    return np.concatenate(chunks, axis=1).T, sr  # (samples, channels)


def _read(path):
    """``(samples, channels)`` float32 and the sampling rate of an audio file or a video clip's audio track."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _decode_audio_track(path)
    try:
        return sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError or TypeError
        raise AudioError(path, f"unreadable audio ({err})") from err


def audio_duration(path):
    """Duration in seconds from the file's header (no decoding); None when it cannot be read."""
    try:
        if Path(path).suffix.lower() in VIDEO_SUFFIXES:
            with av.open(str(path)) as container:
                return container.duration / av.time_base if container.duration else None
        return sf.info(str(path)).duration
    except Exception:  # unreadable: reported when the audio is loaded
        return None


def load_audio_with_info(path, start=None, end=None):
    """Read ``path`` (optionally the segment ``start``..``end`` in seconds) as float32 mono 16 kHz.

    ``path`` is an audio file soundfile reads, or an ``.mp4`` clip whose first audio track is
    decoded (:data:`VIDEO_SUFFIXES`). Channels are averaged and other sampling rates resampled with soxr. The segment is cut at the
    original rate, before resampling. Returns ``(wav, AudioInfo)``; raises :class:`AudioError` when
    the file is missing, unreadable (or a clip undecodable), empty or silent, or the segment lies
    outside the audio.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    data, sr = _read(path)  # (samples, channels)
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

    wav, problem = mono_16k(data, sr)
    if problem:
        raise AudioError(path, problem)
    return wav, info


def mono_16k(data, sample_rate):
    """(samples, channels) float samples -> ((samples,) float32 mono at 16 kHz, the problem that makes
    them unusable: non-finite or silent samples, else None)."""
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sample_rate != SAMPLE_RATE:
        wav = soxr.resample(wav, sample_rate, SAMPLE_RATE)
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if not np.isfinite(peak):
        return wav, "audio holds NaN or infinite samples"
    if peak < SILENCE_PEAK:
        return wav, f"silent audio (peak {peak:.1e} < {SILENCE_PEAK:.0e})"
    return wav, None


def load_audio(path, start=None, end=None):
    """Read ``path`` as float32 mono 16 kHz samples; see :func:`load_audio_with_info`."""
    return load_audio_with_info(path, start, end)[0]
