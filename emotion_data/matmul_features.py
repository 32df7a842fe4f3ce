"""vq-wav2vec's convolutional feature extractor as matrix products on time-major frames (opt-in).

fairseq's ``ConvFeatureExtractionModel`` runs each block (Conv1d -> Dropout -> Fp32GroupNorm(1, C)
-> activation) on a (1, C, T) tensor, and torch's oneDNN convolution reaches about 85 GFLOPS on two
AVX-512 cores where a float32 matrix product reaches 140-150. :class:`MatmulFeatureExtractor`
computes the same function with the frames in rows: a strided convolution with kernel k and stride
s reads the input as rows of s frames, so it is ceil(k / s) matrix products of shifted row views
(no im2col copy); the group norm, the activation, skip connections and log compression follow as
fairseq's. Float32 throughout, but the summation order differs from oneDNN's, so features differ
by float rounding (about 1e-6 relative) and a k-means token whose two nearest codewords are that
close can change: measured, 1 or 2 frames in 3,267 (``BENCHMARKS.md``). Data preparation keeps fairseq's
convolutions; the recognizer uses this only when asked (``exact_tokens=False``).
"""
import math

import torch
import torch.nn.functional as F
from fairseq.modules import Fp32GroupNorm
from torch import nn


def _tap_blocks(conv):
    """Conv1d weight (Cout, Cin, k) -> ceil(k / s) matrices (s * Cin, Cout), zero taps beyond k."""
    cout, cin, k = conv.weight.shape
    stride = conv.stride[0]
    blocks = math.ceil(k / stride)
    weight = F.pad(conv.weight.detach(), (0, blocks * stride - k))  # (Cout, Cin, blocks * s)
    weight = weight.view(cout, cin, blocks, stride).permute(2, 3, 1, 0)  # (blocks, s, Cin, Cout)
    return [w.reshape(stride * cin, cout).contiguous() for w in weight]


def _check_block(index, block):
    """The block must be fairseq's Conv1d (no bias, padding, dilation, groups) -> Dropout -> GroupNorm(1)."""
    conv, _, norm, _ = block
    plain = (isinstance(conv, nn.Conv1d) and conv.bias is None and conv.padding == (0,)
             and conv.dilation == (1,) and conv.groups == 1)
    if not plain or not isinstance(norm, Fp32GroupNorm) or norm.num_groups != 1:
        raise ValueError(f"feature extractor block {index} is not fairseq's vq-wav2vec block "
                         f"(Conv1d without bias/padding/dilation/groups, Fp32GroupNorm(1, C)): {block}")


class MatmulFeatureExtractor(nn.Module):
    """Drop-in for ``model.feature_extractor`` at inference: (1, samples) -> (1, C, frames).

    The weights are read once, at construction: build it from the final (eval-mode) model.
    """

    def __init__(self, extractor):
        super().__init__()
        for index, block in enumerate(extractor.conv_layers):
            _check_block(index, block)
        self.extractor = extractor
        self.taps = [_tap_blocks(block[0]) for block in extractor.conv_layers]

    @staticmethod
    def _group_norm(x, norm):
        """Fp32GroupNorm(1, C) of time-major x (T, C): one mean and variance over all of x.

        From float32 column sums of x and x * x (multi-threaded, where torch.var_mean over all
        elements runs on one thread), combined in float64.
        """
        n = x.numel()
        mean = x.sum(0).double().sum() / n
        var = ((x * x).sum(0).double().sum() / n - mean * mean).clamp_min(0)
        mean, rstd = mean.float(), torch.rsqrt(var + norm.eps).float()
        if norm.weight is None:
            return (x - mean) * rstd
        scale = norm.weight * rstd
        return torch.addcmul(norm.bias - mean * scale, x, scale)

    def _conv(self, x, taps, conv):
        """Conv1d of time-major x (L, Cin) -> (T, Cout) as len(taps) products of shifted row views."""
        stride, kernel = conv.stride[0], conv.kernel_size[0]
        frames = (x.shape[0] - kernel) // stride + 1
        if frames <= 0:
            raise RuntimeError(f"input of {x.shape[0]} frames is shorter than the kernel ({kernel})")
        rows = frames + len(taps) - 1
        if rows * stride > x.shape[0]:  # the last row reads past the input only with zero taps
            x = F.pad(x, (0, 0, 0, rows * stride - x.shape[0]))
        x = x[: rows * stride].reshape(rows, -1)  # (rows, s * Cin), a view
        out = x[:frames] @ taps[0]
        for shift, tap in enumerate(taps[1:], start=1):
            out = torch.addmm(out, x[shift: shift + frames], tap)
        return out

    def forward(self, wav):
        if wav.shape[0] != 1:
            raise ValueError(f"one utterance at a time (batch of {wav.shape[0]})")
        ex = self.extractor
        x = wav.view(-1, 1)  # (samples, 1)
        for block, taps in zip(ex.conv_layers, self.taps):
            conv, _, norm, activation = block
            residual = x
            x = activation(self._group_norm(self._conv(x, taps, conv), norm))
            if ex.skip_connections and x.shape[1] == residual.shape[1]:
                residual = residual[:: residual.shape[0] // x.shape[0]][: x.shape[0]]
                x = (x + residual) * ex.residual_scale
        if ex.log_compression:
            x = (x.abs() + 1).log()
        return x.t().unsqueeze(0)
