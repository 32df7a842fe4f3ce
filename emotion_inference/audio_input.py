"""Audio given to the inference API: a wav path or an array at any rate, checked and made float32 mono 16 kHz.

The array path applies the operations that :func:`emotion_data.audio.load_audio` applies to a
file (integer PCM scaled as soundfile scales integer files, channels averaged, soxr resampling),
so an array and the file it was read from give the same samples.
"""
import math
from pathlib import Path

import numpy as np

from emotion_data.audio import load_audio, mono_16k

MAX_CHANNELS = 64  # an array with more "channels" than this is taken for a (channels, samples) mistake
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4000, 384000  # Hz accepted with an array (telephone to studio rates)


def check_sample_rate(sample_rate, what="audio"):
    """``sample_rate`` as an int in [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]; ValueError for anything else."""
    if isinstance(sample_rate, (bool, np.bool_)) or not isinstance(sample_rate, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what}: sample_rate must be a number of samples per second, got {sample_rate!r}")
    if not math.isfinite(float(sample_rate)) or float(sample_rate) != int(sample_rate):
        raise ValueError(f"{what}: sample_rate must be a whole number of Hz, got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= int(sample_rate) <= MAX_SAMPLE_RATE:
        raise ValueError(f"{what}: sample_rate {sample_rate!r} Hz is outside [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}]")
    return int(sample_rate)


def pcm_to_float(data, what="audio"):
    """An audio array as float32 in [-1, 1), integer PCM scaled as soundfile reads integer files.

    Signed integers are divided by 2**(bits-1); unsigned ones (8-bit WAV is unsigned) are centred
    first, (x - 2**(bits-1)) / 2**(bits-1), so that silence (128 for uint8) is 0.
    """
    if np.issubdtype(data.dtype, np.signedinteger):
        return data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    if np.issubdtype(data.dtype, np.unsignedinteger):
        half = float(2 ** (8 * data.dtype.itemsize - 1))
        return (data.astype(np.float64) - half).astype(np.float32) / half
    if np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float32, copy=False)
    raise ValueError(f"{what}: audio samples must be integer PCM or floats, got dtype {data.dtype}")


def to_mono_16k(audio, sample_rate=None, what="audio"):
    """A wav path or an array at any rate and channel count -> float32 mono 16 kHz, as data preparation.

    Paths go through :func:`emotion_data.audio.load_audio` (``sample_rate`` must then be None).
    Arrays are ``(samples,)`` or ``(samples, channels)`` (soundfile's layout) of integer PCM (scaled
    by :func:`pcm_to_float`) or floats; ``sample_rate`` is a whole number of Hz in
    [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]. Channels are averaged, then soxr resamples, the very
    operations ``load_audio`` applies to a file. Raises ValueError (an
    :class:`~emotion_data.audio.AudioError` for files) for empty, silent or non-finite audio.
    """
    if isinstance(audio, (str, Path)):
        if sample_rate is not None:
            raise ValueError(f"{audio}: sample_rate is read from the file; pass it only with an array")
        return load_audio(audio)
    if isinstance(audio, (bytes, bytearray)):
        raise ValueError(f"{what}: got {type(audio).__name__}; pass a wav path or a decoded array "
                         "(e.g. soundfile.read(io.BytesIO(data)))")
    if sample_rate is None:
        raise ValueError(f"{what}: sample_rate is required when the audio is an array")
    sample_rate = check_sample_rate(sample_rate, what)
    data = np.asarray(audio)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] > MAX_CHANNELS:
        raise ValueError(f"{what}: expected an array of shape (samples,) or (samples, channels), got "
                         f"{data.shape} (transpose a (channels, samples) array)")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"{what}: empty audio (shape {data.shape}: no samples or no channels)")
    wav, problem = mono_16k(pcm_to_float(data, what), sample_rate)
    if problem and problem.startswith("silent"):
        problem += "; the speech encoder would see no speech, so no emotion can be read from it"
    if problem:
        raise ValueError(f"{what}: {problem}")
    return wav
