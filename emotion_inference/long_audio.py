"""A recording longer than an utterance, read in pieces: 16 kHz blocks for voice activity, segments to predict.

A file (a path, or an open binary file such as an upload) is never read whole: :meth:`blocks`
streams it through soundfile and soxr's streaming resampler, and :meth:`segment` seeks to one
segment, cut at the file's own rate, downmixed and resampled, the operations
:func:`emotion_data.audio.load_audio` applies to ``start..end`` of a file. An array is converted
once (:func:`~emotion_inference.audio_input.to_mono_16k`) and sliced.
"""
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from emotion_core.constants import SAMPLE_RATE
from emotion_data.audio import AudioError
from emotion_inference.audio_input import to_mono_16k

BLOCK_S = 20.0  # seconds of audio read at a time


class LongAudio:
    """A recording given as a wav path, an open binary file, or an array with its ``sample_rate``."""

    def __init__(self, audio, sample_rate=None, name=None):
        self.wav = self.file = None
        if isinstance(audio, (str, Path)) or hasattr(audio, "read"):
            if sample_rate is not None:
                raise ValueError(f"{audio}: sample_rate is read from the file; pass it only with an array")
            self.name = str(name or (audio if isinstance(audio, (str, Path)) else "uploaded audio"))
            if isinstance(audio, (str, Path)) and not Path(audio).is_file():
                raise AudioError(audio, "file not found")
            try:
                self.file = sf.SoundFile(audio if hasattr(audio, "read") else str(audio))
            except Exception as err:  # soundfile raises LibsndfileError, RuntimeError or TypeError
                raise AudioError(self.name, f"unreadable audio ({err})") from err
            self.sample_rate, self.frames = self.file.samplerate, self.file.frames
            if self.frames <= 0:
                raise AudioError(self.name, "empty audio (0 samples)")
        else:
            self.name = name or "audio array"
            self.wav = to_mono_16k(audio, sample_rate, self.name)  # (samples,) float32 16 kHz
            self.sample_rate, self.frames = SAMPLE_RATE, len(self.wav)

    @property
    def duration(self):
        """Seconds of audio."""
        return self.frames / self.sample_rate

    def _read(self, start_frame, frames):
        """``frames`` frames from ``start_frame`` of the file, averaged over channels: (n,) float32."""
        self.file.seek(start_frame)
        data = self.file.read(frames, dtype="float32", always_2d=True)  # (n, channels)
        return data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]

    def blocks(self, block_s=BLOCK_S):
        """The whole recording as float32 mono 16 kHz blocks of about ``block_s`` seconds."""
        if self.wav is not None:
            step = int(block_s * SAMPLE_RATE)
            for start in range(0, len(self.wav), step):
                yield self.wav[start:start + step]
            return
        step = int(block_s * self.sample_rate)
        stream = None if self.sample_rate == SAMPLE_RATE else soxr.ResampleStream(
            self.sample_rate, SAMPLE_RATE, 1, dtype="float32")
        for start in range(0, self.frames, step):
            block = self._read(start, min(step, self.frames - start))
            if not np.isfinite(block).all():
                raise AudioError(self.name, "audio holds NaN or infinite samples near "
                                            f"{start / self.sample_rate:.1f} s")
            last = start + step >= self.frames
            yield block if stream is None else stream.resample_chunk(block, last=last)

    def segment(self, start, end):
        """Samples ``start..end`` (seconds) as float32 mono 16 kHz, cut at the recording's own rate."""
        first = int(round(start * self.sample_rate))
        last = min(int(round(end * self.sample_rate)), self.frames)
        if self.wav is not None:
            return self.wav[first:last]
        wav = self._read(first, last - first)
        if self.sample_rate != SAMPLE_RATE:
            wav = soxr.resample(wav, self.sample_rate, SAMPLE_RATE)
        return np.ascontiguousarray(wav, dtype=np.float32)
