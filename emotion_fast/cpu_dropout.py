"""Dropout in the encoders made fast for CPU training (``--fast-cpu-dropout``).

Two costs of the paper's dropout (0.1) on a CPU:

- PyTorch's fused CPU attention kernels take no dropout, so fairseq's ``MultiheadAttention`` ends
  in SDPA's math kernel: whole (B x heads, T, T) float32 tensors written and read many times. For
  the 2048-token speech inputs that is most of a training step. :class:`ChunkedDropoutAttention`
  computes the same function, ``softmax(q k^T / sqrt(d) + padding) * keep / (1 - p) @ v``, a few
  heads at a time so that each pass stays in the cache: scores and softmax in float32 (from the
  inputs' bf16 values under autocast), probabilities stored in the compute dtype for the matmul
  with ``v`` as a flash kernel does, and a backward that recomputes nothing, forms the score
  gradient in float32 and uses ``rowsum(grad_out * out)`` for the softmax term as flash attention does.
- ``F.dropout`` draws one float Bernoulli sample per element. :func:`keep_mask` makes four keep
  decisions per 64-bit random word, so ``p`` is rounded to a multiple of 1/65536 (0.1 -> 0.100006)
  and the kept values are scaled by the exact inverse keep rate. The words come from numpy's SFC64
  generator, 2-3x faster than torch's mt19937 on a CPU, seeded by one draw of torch's
  generator: fairseq's ``--seed`` fixes the masks and activation checkpointing replays them.
  :class:`MaskDropout` (fairseq's dropout), :class:`MaskTorchDropout` (``nn.Dropout``, which
  fairseq's wav2vec 2.0, HuBERT and data2vec layers use) and the attention use it.

:func:`use_fast_cpu_dropout` switches a module's dropouts and self-attention layers to
these; they keep fairseq's own forward everywhere else (evaluation, no dropout, GPUs, whose fused
attention kernels take dropout, and any other kind of attention call).
"""
import numpy as np
import torch
from torch import nn
from fairseq.modules import FairseqDropout, MultiheadAttention

MASK_LEVELS = 2 ** 16  # each keep decision is one 16-bit random draw
MASK_WORDS = 2 ** 18  # random 64-bit words drawn at a time: 2 MB, compared while in the cache
CHUNK_ELEMENTS = 2 ** 20  # scores per chunk: 4 MB in float32, a core's L2


def keep_mask(shape, p):
    """CPU bool mask, False (dropped) with probability ``round(p * 65536) / 65536``; returns (mask, 1 / keep rate).

    The decisions are 16-bit draws of an SFC64 stream seeded from torch's default generator.
    """
    dropped = round(p * MASK_LEVELS)
    keep = torch.empty(shape, dtype=torch.bool)
    flat = keep.numpy().reshape(-1)
    bits = np.random.SFC64(int(torch.randint(2 ** 62, ())))
    threshold = np.int16(dropped - MASK_LEVELS // 2)
    for start in range(0, flat.size, 4 * MASK_WORDS):
        out = flat[start:start + 4 * MASK_WORDS]
        draws = bits.random_raw((out.size + 3) // 4).view(np.int16)[:out.size]
        np.greater_equal(draws, threshold, out=out)
    return keep, MASK_LEVELS / (MASK_LEVELS - dropped)


def _chunks(n, t):
    """Slices of the N = batch x heads axis, each holding about CHUNK_ELEMENTS scores."""
    step = max(1, CHUNK_ELEMENTS // (t * t))
    return [slice(i, i + step) for i in range(0, n, step)]


class _DropoutAttention(torch.autograd.Function):
    """(N, T, d) scaled q, k, v, (N, 1, T) float32 padding bias, (N, T, T) keep mask -> (N, T, d).

    ``out = scale * (softmax(q k^T + bias) * keep) @ v``. Saved for the backward: q, k, v, out, the
    probabilities (in v's dtype) and the mask. As in flash attention, the softmax gradient uses
    ``rowsum(grad_out * out)`` for ``rowsum(grad_probs * probs)``. The mask multiplies as uint8
    (the bool's bytes): several times faster than ``masked_fill`` on a CPU.
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, keep, scale):
        with torch.autocast(q.device.type, enabled=False):  # the dtypes are chosen here
            n, t, _ = q.shape
            keep = keep.view(torch.uint8)
            q_float, k_float = q.float(), k.float()
            out = torch.empty_like(v)
            probs = torch.empty(n, t, t, dtype=v.dtype, device=v.device)
            for rows in _chunks(n, t):
                scores = torch.baddbmm(bias[rows], q_float[rows], k_float[rows].transpose(1, 2))
                probs[rows] = torch.softmax(scores, dim=-1)
                torch.bmm(probs[rows] * keep[rows], v[rows], out=out[rows])
            out.mul_(scale)
            ctx.save_for_backward(q, k, v, out, probs, keep)
            ctx.scale = scale
            return out

    @staticmethod
    def backward(ctx, grad_out):
        with torch.autocast(grad_out.device.type, enabled=False):
            q, k, v, out, probs, keep = ctx.saved_tensors
            grad_float = grad_out.float()  # may be grad_out itself: never written to
            delta = (grad_float * out.float()).sum(-1, keepdim=True)  # (N, T, 1)
            grad_float = grad_float * ctx.scale
            grad_out, v_float = grad_float.to(v.dtype), v.float()
            grad_q, grad_k, grad_v = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
            for rows in _chunks(*q.shape[:2]):
                p = probs[rows]
                torch.bmm((p * keep[rows]).transpose(1, 2), grad_out[rows], out=grad_v[rows])
                grad_scores = torch.bmm(grad_float[rows], v_float[rows].transpose(1, 2))
                grad_scores.mul_(keep[rows]).sub_(delta[rows]).mul_(p)  # float32
                grad_scores = grad_scores.to(q.dtype)
                torch.bmm(grad_scores, k[rows], out=grad_q[rows])
                torch.bmm(grad_scores.transpose(1, 2), q[rows], out=grad_k[rows])
            return grad_q, grad_k, grad_v, None, None, None


def dropout_attention(q, k, v, key_padding_mask, p, heads):
    """Attention of (B * heads, T, d) scaled ``q`` over ``k``/``v`` with dropout ``p`` on its probabilities.

    ``key_padding_mask`` (B, T) is True at padding (or None). Autograd flows to q, k and v.
    """
    n, t, _ = q.shape
    bias = torch.zeros(n, 1, t, device=q.device)
    if key_padding_mask is not None:
        bias.masked_fill_(key_padding_mask.bool().repeat_interleave(heads, dim=0).unsqueeze(1), float("-inf"))
    keep, scale = keep_mask((n, t, t), p)
    return _DropoutAttention.apply(q, k, v, bias, keep, scale)


class ChunkedDropoutAttention(MultiheadAttention):
    """fairseq's ``MultiheadAttention`` (same parameters) whose CPU training self-attention is chunked."""

    def forward(self, query, key, value, key_padding_mask=None, incremental_state=None, need_weights=True,
                static_kv=False, attn_mask=None, before_softmax=False, need_head_weights=False):
        p = self.dropout_module.p
        plain_self_attention = (
            self.self_attention and key is query and value is query and attn_mask is None
            and incremental_state is None and not (need_weights or need_head_weights or before_softmax)
            and self.bias_k is None and not self.add_zero_attn)
        if not (self.training and p > 0 and query.device.type == "cpu" and plain_self_attention):
            return super().forward(query, key, value, key_padding_mask, incremental_state, need_weights,
                                   static_kv, attn_mask, before_softmax, need_head_weights)
        length, batch, _ = query.shape

        def heads(x):  # (T, B, C) -> (B * heads, T, head_dim), as fairseq orders them
            return x.contiguous().view(length, batch * self.num_heads, self.head_dim).transpose(0, 1)

        q = heads(self.q_proj(query) * self.scaling)
        out = dropout_attention(q, heads(self.k_proj(query)), heads(self.v_proj(query)), key_padding_mask,
                                p, self.num_heads)
        out = out.transpose(0, 1).reshape(length, batch, self.embed_dim)
        return self.out_proj(out), None


class MaskDropout(FairseqDropout):
    """fairseq's dropout; in CPU training its mask comes from :func:`keep_mask` (3x faster than ``F.dropout``)."""

    def forward(self, x, inplace=False):
        if not (self.p > 0 and self.training and x.device.type == "cpu"):
            return super().forward(x, inplace)
        return mask_dropout(x, self.p)


class MaskTorchDropout(nn.Dropout):
    """``nn.Dropout``; in CPU training its mask comes from :func:`keep_mask`."""

    def forward(self, x):
        if not (self.p > 0 and self.training and x.device.type == "cpu"):
            return super().forward(x)
        return mask_dropout(x, self.p)


def mask_dropout(x, p):
    """``x`` with entries dropped by a :func:`keep_mask` and the kept ones scaled by the inverse keep rate."""
    keep, scale = keep_mask(x.shape, p)
    return torch.mul(x, keep.view(torch.uint8)).mul_(scale)


def use_fast_cpu_dropout(module):
    """Switch the dropouts (fairseq's and ``nn.Dropout``) and self-attention layers inside ``module`` to the classes above.

    Both are subclasses that add no state, so parameters and state dicts are unchanged.
    """
    for layer in module.modules():
        if type(layer) is MultiheadAttention and layer.self_attention:
            layer.__class__ = ChunkedDropoutAttention
        elif type(layer) is FairseqDropout:
            layer.__class__ = MaskDropout
        elif type(layer) is nn.Dropout and not layer.inplace:
            layer.__class__ = MaskTorchDropout
    return module
