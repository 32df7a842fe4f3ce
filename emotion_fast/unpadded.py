"""Encoders on real tokens only (``--unpadded-encoders``).

fairseq's encoder runs every transformer layer on the padded (T, B, C) batch: the padding
positions of a length-grouped batch go through every linear layer and the attention too. This
forward packs a batch's real tokens into one (N, C) matrix instead. The projections, the
feed-forward blocks, the norms and the dropouts see only real tokens, as one large matrix product
each, and the self-attention runs per utterance over its own length.

With ``cls_only`` (the shallow fusion reads nothing but the CLS vector) the last layer computes
keys and values for every token, and the query, the attention output, the feed-forward block and
the norms only at the CLS position: the other positions' outputs would be thrown away.

The layers' own modules do the work (same parameters; fairseq's dropout modules, or those of
:mod:`emotion_fast.cpu_dropout` with ``--fast-cpu-dropout``), so the function is fairseq's:
tests compare the features and every gradient with fairseq's forward. Padding positions of the
returned (B, T, C) features are zeros (fairseq's are computed and meaningless; every consumer
masks them).
"""
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from emotion_fast.cpu_dropout import ChunkedDropoutAttention, dropout_attention


def check_supported(sentence_encoder):
    """Raise ValueError for encoder layers whose attention options this forward does not reproduce."""
    for i, layer in enumerate(sentence_encoder.layers):
        if layer.self_attn.bias_k is not None or layer.self_attn.add_zero_attn:
            raise ValueError(f"unpadded encoders: encoder layer {i} uses add_bias_kv or add_zero_attn, which "
                             "the unpadded forward does not implement; leave --unpadded-encoders off "
                             "(EmotionRecognizer: unpadded=False)")


def _heads(x, heads):
    """(T, C) -> (heads, T, head_dim), a view."""
    return x.view(x.size(0), heads, -1).transpose(0, 1)


def _attention(attn, q, k, v, spans, single_query):
    """Self-attention of each utterance over its own tokens: packed (Nq, C) scaled q, (N, C) k, v -> (Nq, C).

    ``spans`` holds each utterance's (start, length) in k and v; q holds the same rows, or with
    ``single_query`` one row (the CLS position) per utterance.
    """
    p = attn.dropout_module.p if (attn.training or attn.dropout_module.apply_during_inference) else 0.0
    chunked = isinstance(attn, ChunkedDropoutAttention) and attn.training and p > 0 and q.device.type == "cpu"
    out = []
    for i, (start, length) in enumerate(spans):
        rows = slice(i, i + 1) if single_query else slice(start, start + length)
        qi, ki, vi = (_heads(x, attn.num_heads) for x in (q[rows], k[start:start + length], v[start:start + length]))
        if chunked and not single_query:
            oi = dropout_attention(qi, ki, vi, None, p, attn.num_heads)  # (heads, T, head_dim)
        else:  # q is scaled already; 4-d inputs, or PyTorch's CPU SDPA takes its slow math kernel
            oi = F.scaled_dot_product_attention(qi[None], ki[None], vi[None], dropout_p=p, scale=1.0)[0]
        out.append(oi.transpose(0, 1).reshape(-1, attn.embed_dim))
    return torch.cat(out)


def _layer(layer, x, spans, query_rows):
    """fairseq's ``TransformerEncoderLayerBase.forward`` on packed tokens ``x`` (N, C).

    Returns (N, C), or with ``query_rows`` (one row index per utterance) only those rows (B, C).
    """
    attn = layer.self_attn
    residual = x if query_rows is None else x[query_rows]
    h = layer.self_attn_layer_norm(x) if layer.normalize_before else x
    q = attn.q_proj(h if query_rows is None else h[query_rows]) * attn.scaling
    x = _attention(attn, q, attn.k_proj(h), attn.v_proj(h), spans, query_rows is not None)
    x = layer.residual_connection(layer.dropout_module(attn.out_proj(x)), residual)
    if not layer.normalize_before:
        x = layer.self_attn_layer_norm(x)
    residual = x
    if layer.normalize_before:
        x = layer.final_layer_norm(x)
    x = layer.fc2(layer.activation_dropout_module(layer.activation_fn(layer.fc1(x))))
    x = layer.residual_connection(layer.dropout_module(x), residual)
    if not layer.normalize_before:
        x = layer.final_layer_norm(x)
    return x


def encode_unpadded(sentence_encoder, src_tokens, cls_only=False):
    """fairseq ``TransformerEncoder`` features of (B, T) tokens, computed on the real tokens only.

    Returns (B, T, C) features (zeros at padding), or with ``cls_only`` the (B, 1, C) features of
    each utterance's first token (the CLS vector, <s>). Layers built with
    ``--checkpoint-activations`` are recomputed in the backward pass, as fairseq's wrapper does.
    """
    real = src_tokens.ne(sentence_encoder.padding_idx)  # (B, T)
    lengths = real.sum(1)
    x, _ = sentence_encoder.forward_embedding(src_tokens)  # (B, T, C)
    packed = x[real]  # (N, C): each utterance's real tokens in order
    starts = torch.cumsum(lengths, 0) - lengths
    spans = list(zip(starts.tolist(), lengths.tolist()))
    cls_rows = starts + real.long().argmax(1)  # first real token of each utterance (right or left padding)
    layers = sentence_encoder.layers
    for i, layer in enumerate(layers):
        query_rows = cls_rows if cls_only and i == len(layers) - 1 else None
        if hasattr(layer, "precheckpoint_forward") and torch.is_grad_enabled():  # fairseq's checkpoint_wrapper
            packed = checkpoint(_layer, layer, packed, spans, query_rows, use_reentrant=False)
        else:
            packed = _layer(layer, packed, spans, query_rows)
    if cls_only and not layers:
        packed = packed[cls_rows]
    if sentence_encoder.layer_norm is not None:
        packed = sentence_encoder.layer_norm(packed)
    if cls_only:
        return packed.unsqueeze(1)  # (B, 1, C)
    features = packed.new_zeros(x.shape)
    features[real] = packed
    return features  # (B, T, C)
