"""MFCC features in numpy, as HuBERT's first iteration clusters them (no torchaudio).

HuBERT's first pretraining iteration predicts k-means clusters of MFCC frames (fairseq's
``examples/hubert/simple_kmeans/dump_mfcc_feature.py``: Kaldi MFCCs at 100 frames per second,
13 coefficients with deltas and delta-deltas, 39 in all). :func:`mfcc` computes the same kind of
features with numpy: 25 ms Povey windows every 10 ms (edges snipped, as Kaldi), pre-emphasis 0.97,
a 512-point power spectrum, 23 triangular mel filters over 20 Hz-8 kHz, their log, the first 13
DCT-II coefficients with Kaldi's cepstral lifter 22, then 5-frame deltas twice. The numbers are
close to Kaldi's, not identical (no dithering, no energy coefficient); they only need to cluster.

>>> feats = mfcc(np.zeros(16000, dtype=np.float32) + 0.01)  # doctest: +SKIP
>>> feats.shape
(98, 39)
"""
import numpy as np

SAMPLE_RATE = 16000
WINDOW, HOP = 400, 160  # samples: 25 ms windows every 10 ms (100 frames per second)
N_FFT, N_MELS, N_CEPS, LIFTER = 512, 23, 13, 22
LOW_HZ, HIGH_HZ = 20.0, 8000.0
FRAME_RATE = SAMPLE_RATE // HOP  # label rate of the frames: 100 per second


def frame_count(samples):
    """Frames of a ``samples``-long signal (Kaldi's snip-edges: whole windows only)."""
    return 0 if samples < WINDOW else 1 + (samples - WINDOW) // HOP


def _mel(hz):
    return 1127.0 * np.log(1.0 + hz / 700.0)


def _mel_filters():
    """(N_MELS, N_FFT // 2 + 1) triangular filters, equally spaced on Kaldi's mel scale."""
    bins = np.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT
    edges = np.linspace(_mel(LOW_HZ), _mel(HIGH_HZ), N_MELS + 2)
    mel = _mel(bins)[None, :]  # (1, F)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (N_MELS, 1) each
    return np.clip(np.minimum((mel - left) / (centre - left), (right - mel) / (right - centre)), 0.0, None)


def _dct():
    """(N_CEPS, N_MELS) orthonormal DCT-II rows, times Kaldi's cepstral lifter."""
    n = np.arange(N_MELS)
    rows = np.cos(np.pi / N_MELS * (n[None, :] + 0.5) * np.arange(N_CEPS)[:, None]) * np.sqrt(2.0 / N_MELS)
    rows[0] /= np.sqrt(2.0)
    lifter = 1.0 + 0.5 * LIFTER * np.sin(np.pi * np.arange(N_CEPS) / LIFTER)
    return rows * lifter[:, None]


FILTERS, DCT = _mel_filters(), _dct()


def deltas(x, width=2):
    """Regression deltas over +-``width`` frames, edges repeated (torchaudio's compute_deltas): (T, D)."""
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    weights = np.arange(1, width + 1)
    total = sum(w * (padded[width + w: width + w + len(x)] - padded[width - w: width - w + len(x)]) for w in weights)
    return total / (2.0 * float((weights ** 2).sum()))


def mfcc(wav):
    """(T, 39) MFCCs with deltas and delta-deltas of a 16 kHz float waveform; T = :func:`frame_count`."""
    wav = np.asarray(wav, dtype=np.float64)
    count = frame_count(len(wav))
    if count == 0:
        return np.zeros((0, 3 * N_CEPS))
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(count)[:, None]
    frames = wav[index]  # (T, WINDOW)
    frames = frames - frames.mean(axis=1, keepdims=True)  # DC offset, per frame
    frames = np.concatenate([frames[:, :1] * (1 - 0.97), frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    frames = frames * np.hanning(WINDOW) ** 0.85  # Povey's window
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2  # (T, N_FFT // 2 + 1)
    logmel = np.log(np.maximum(power @ FILTERS.T, np.finfo(np.float64).eps))  # (T, N_MELS)
    ceps = logmel @ DCT.T  # (T, N_CEPS)
    first = deltas(ceps)
    return np.concatenate([ceps, first, deltas(first)], axis=1).astype(np.float32)
