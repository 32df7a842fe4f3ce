"""vq-wav2vec's convolutional feature extractor as matrix products on time-major frames (opt-in).

fairseq's ``ConvFeatureExtractionModel`` runs each block (Conv1d -> Dropout -> Fp32GroupNorm(1, C)
-> activation) on a (1, C, T) tensor with torch's oneDNN convolution and a one-thread group norm.
:class:`MatmulFeatureExtractor` computes the same function with the frames in rows:

- a strided convolution with kernel k and stride s reads the input as rows of s frames, so it is
  ceil(k / s) matrix products of shifted row views (no im2col copy); with two such taps (every
  strided layer of the release) it takes 3 products per 2 output rows (Winograd's F(2, 2));
- block 0 reads the waveform: its group norm's mean and variance follow from the patches' sums
  and Gram matrix, so the normalized convolution is one product with scaled weights and a bias,
  and it is computed a few thousand frames at a time, each piece consumed by block 1's
  convolution while it is in the cache (block 0's whole output is the largest tensor);
- the other group norms, the activations, skip connections and log compression follow fairseq.

Float32 throughout, but the summation order differs from oneDNN's, so features differ by float
rounding (about 1e-6 relative) and a k-means token whose two nearest codewords are that close can
change: measured, 0 to 2 frames in 3,267 (``BENCHMARKS.md``). Data preparation keeps fairseq's
convolutions; the recognizer uses this only when asked (``exact_tokens=False``).
"""
import math

import torch
import torch.nn.functional as F
from fairseq.modules import Fp32GroupNorm
from torch import nn

CHUNK_FRAMES = 1024  # block-1 output frames per piece of block 0's output (8 MB at the release's size)


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


def _rows(x, stride, rows):
    """Time-major x (L, C) as (rows, stride * C) rows of ``stride`` frames, zero frames past its end."""
    if rows * stride > x.shape[0]:  # the last row reads past the input only with zero taps
        x = F.pad(x, (0, 0, 0, rows * stride - x.shape[0]))
    return x[: rows * stride].reshape(rows, -1)


def _conv_rows(x, taps, tap_sum, out):
    """out[t] = sum_j x[t + j] @ taps[j] for t < len(out), written into ``out`` (T, Cout).

    Two taps take 3 products per 2 rows (Winograd F(2, 2)): with m = x[2i + 1] @ (w0 + w1),
    out[2i] = m + (x[2i] - x[2i + 1]) @ w0 and out[2i + 1] = m + (x[2i + 2] - x[2i + 1]) @ w1.
    """
    frames = out.shape[0]
    if len(taps) != 2:
        torch.mm(x[:frames], taps[0], out=out)
        for shift, tap in enumerate(taps[1:], start=1):
            out.addmm_(x[shift: shift + frames], tap)
        return out
    w0, w1 = taps
    pairs = frames // 2
    even, mid, after = x[0:2 * pairs:2], x[1:2 * pairs:2], x[2:2 * pairs + 1:2]
    shared = mid @ tap_sum
    pair_rows = out[:2 * pairs].view(pairs, 2, out.shape[1])
    torch.addmm(shared, even - mid, w0, out=pair_rows[:, 0])
    torch.addmm(shared, after - mid, w1, out=pair_rows[:, 1])
    if frames % 2:
        torch.addmm(x[frames - 1:frames] @ w0, x[frames:frames + 1], w1, out=out[-1:])
    return out


class _FirstBlock:
    """Block 0 of one waveform, normalized by its exact statistics, computed for any range of frames."""

    def __init__(self, samples, block, weight):
        conv, _, norm, self.activation = block
        kernel, stride = conv.kernel_size[0], conv.stride[0]
        if samples.shape[0] < kernel:
            raise RuntimeError(f"input of {samples.shape[0]} samples is shorter than the kernel ({kernel})")
        self.patches = samples.unfold(0, kernel, stride)  # (T, k), overlapping rows of the waveform
        p64, w64 = self.patches.double(), weight.double()
        n = self.patches.shape[0] * weight.shape[1]
        mean = p64.sum(0) @ w64.sum(1) / n  # of patches @ weight, over all frames and channels
        var = (((p64.t() @ p64) * (w64 @ w64.t())).sum() / n - mean * mean).clamp_min(0)
        scale = torch.rsqrt(var + norm.eps)
        if norm.weight is not None:
            scale = norm.weight.double() * scale  # (Cout,)
        shift = -mean * scale if norm.bias is None else norm.bias.double() - mean * scale
        self.weight, self.bias = (w64 * scale).float(), shift.expand(weight.shape[1]).float()
        self.frames = self.patches.shape[0]

    def __call__(self, start, end):
        """The block's output frames [start, end) (time-major, activation applied)."""
        return self.activation(torch.addmm(self.bias, self.patches[start:end], self.weight))


class MatmulFeatureExtractor(nn.Module):
    """Drop-in for ``model.feature_extractor`` at inference: (1, samples) -> (1, C, frames).

    The weights are read once, at construction: build it from the final (eval-mode) model.
    """

    def __init__(self, extractor):
        super().__init__()
        for index, block in enumerate(extractor.conv_layers):
            _check_block(index, block)
        first = extractor.conv_layers[0][0]
        if first.in_channels != 1:
            raise ValueError(f"feature extractor block 0 reads {first.in_channels} channels, not a waveform")
        self.extractor = extractor
        self.first_weight = first.weight.detach()[:, 0].t().contiguous()  # (k, Cout)
        self.taps = [_tap_blocks(block[0]) for block in extractor.conv_layers]
        self.tap_sums = [taps[0] + taps[1] if len(taps) == 2 else None for taps in self.taps]

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

    def _frames(self, index, length):
        """Output frames of block ``index`` for ``length`` input frames; an error if there are none."""
        conv = self.extractor.conv_layers[index][0]
        frames = (length - conv.kernel_size[0]) // conv.stride[0] + 1
        if frames <= 0:
            raise RuntimeError(f"input of {length} frames is shorter than the kernel ({conv.kernel_size[0]})")
        return frames

    def _conv(self, x, index):
        """Block ``index``'s convolution of time-major x (L, Cin) -> (T, Cout)."""
        taps, conv = self.taps[index], self.extractor.conv_layers[index][0]
        frames = self._frames(index, x.shape[0])
        out = x.new_empty(frames, conv.out_channels)
        return _conv_rows(_rows(x, conv.stride[0], frames + len(taps) - 1), taps, self.tap_sums[index], out)

    def _conv_of_first_block(self, first):
        """Block 1's convolution of block 0's output, which is made ``CHUNK_FRAMES`` outputs' worth at a time."""
        taps, conv = self.taps[1], self.extractor.conv_layers[1][0]
        stride, reach = conv.stride[0], len(taps) - 1  # each output row reads `reach` rows more
        frames = self._frames(1, first.frames)
        out = first.weight.new_empty(frames, conv.out_channels)
        for start in range(0, frames, CHUNK_FRAMES):
            end = min(start + CHUNK_FRAMES, frames)
            piece = first(start * stride, (end + reach) * stride)
            _conv_rows(_rows(piece, stride, end - start + reach), taps, self.tap_sums[1], out[start:end])
        return out

    def _finish_block(self, index, y, residual):
        """Block ``index``'s group norm and activation of its convolution output y, then its skip connection."""
        ex = self.extractor
        _, _, norm, activation = ex.conv_layers[index]
        x = activation(self._group_norm(y, norm))
        if ex.skip_connections and x.shape[1] == residual.shape[1]:
            residual = residual[:: residual.shape[0] // x.shape[0]][: x.shape[0]]
            x = (x + residual) * ex.residual_scale
        return x

    def forward(self, wav):
        if wav.shape[0] != 1:
            raise ValueError(f"one utterance at a time (batch of {wav.shape[0]})")
        ex = self.extractor
        first = _FirstBlock(wav.view(-1), ex.conv_layers[0], self.first_weight)
        if ex.skip_connections or len(ex.conv_layers) == 1:  # block 1 adds block 0's whole output
            x, start = first(0, first.frames), 1
        else:
            x, start = self._finish_block(1, self._conv_of_first_block(first), None), 2
        for index in range(start, len(ex.conv_layers)):
            x = self._finish_block(index, self._conv(x, index), x)
        if ex.log_compression:
            x = (x.abs() + 1).log()
        return x.t().unsqueeze(0)
