"""Fusion of the encoders' outputs (paper section 3.2) and the classification head.

Every fusion takes ``{modality: (summary (B, C), sequence (B, T, C), padding_mask (B, T))}`` and
returns one (B, output_dim) vector per utterance: one part per modality, concatenated in
:data:`MODALITY_ORDER` (``widths`` gives each part's width; ``output_dim`` is their sum, computed
from the encoders' widths). The summary is a token encoder's CLS vector (the sequence's position 0)
or a waveform encoder's mean over its frames. ``reads_summary_only`` says whether a fusion reads
nothing but the summaries (then the encoders may return None for the sequence and its mask).
"""
import torch
import torch.nn as nn
from fairseq.modules import LayerNorm, MultiheadAttention

MODALITY_ORDER = ("speech", "text")  # concatenation order of the CLS vectors


class ShallowFusion(nn.Module):
    """Concatenate the summary (CLS) vectors of the modalities: no parameters (section 3.2.1)."""

    reads_summary_only = True  # the encoders may leave out their sequences

    def __init__(self, dims):
        super().__init__()
        self.modalities = [m for m in MODALITY_ORDER if m in dims]
        self.widths = {m: dims[m] for m in self.modalities}  # the fused vector's parts, in order
        self.output_dim = sum(self.widths.values())

    def forward(self, encoded):
        return torch.cat([encoded[m][0] for m in self.modalities], dim=-1)  # (B, sum C)


def bert_init(module):
    """BERT's initialisation, as the original code's co-attention: weights normal(0, 0.02), biases 0."""
    for param_name, param in module.named_parameters():
        if param_name.endswith("bias"):
            nn.init.zeros_(param)
        elif param.dim() > 1:
            nn.init.normal_(param, mean=0.0, std=0.02)


class CrossAttention(nn.Module):
    """One modality's CLS vector attends to the other modality's whole sequence; residual + dropout.

    The query comes from the CLS vector (width ``query_dim``), keys and values from every
    position of the other sequence (width ``kv_dim``), padding masked. As the authors' released code:
    no feed-forward block, BERT's initialisation, and no LayerNorm after the residual unless
    ``layer_norm`` (Figure 2's Add & Norm).
    """

    def __init__(self, query_dim, kv_dim, heads, dropout, attention_dropout, layer_norm=False):
        super().__init__()
        self.attn = MultiheadAttention(query_dim, heads, kdim=kv_dim, vdim=kv_dim,
                                       dropout=attention_dropout, encoder_decoder_attention=True)
        bert_init(self.attn)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = LayerNorm(query_dim) if layer_norm else nn.Identity()

    def forward(self, cls, other, other_padding_mask):
        query = cls.unsqueeze(0)  # (1, B, Cq): fairseq attention is time-first
        kv = other.transpose(0, 1)  # (T, B, Ckv)
        attended, _ = self.attn(query, kv, kv, key_padding_mask=other_padding_mask, need_weights=False)
        return self.layer_norm(cls + self.dropout(attended.squeeze(0)))  # (B, Cq)


class CoAttentionFusion(nn.Module):
    """Co-attentional fusion (section 3.2.2, Figure 2): one cross-attention layer per direction.

    The speech CLS (or a waveform encoder's mean) queries the text sequence and the text CLS queries
    the speech sequence (Speech-BERT's tokens, or a waveform encoder's frames); the two updated
    summary vectors are concatenated (speech first).
    """

    reads_summary_only = False  # keys and values come from whole sequences

    def __init__(self, dims, heads, dropout, attention_dropout, layer_norm=False):
        super().__init__()
        assert set(dims) == set(MODALITY_ORDER), "co-attention needs both modalities (--modalities both)"
        self.speech_to_text = CrossAttention(dims["speech"], dims["text"], heads, dropout, attention_dropout, layer_norm)
        self.text_to_speech = CrossAttention(dims["text"], dims["speech"], heads, dropout, attention_dropout, layer_norm)
        self.widths = {"speech": dims["speech"], "text": dims["text"]}  # the fused vector's parts, in order
        self.output_dim = dims["speech"] + dims["text"]

    def forward(self, encoded):
        (speech_cls, speech, speech_pad), (text_cls, text, text_pad) = encoded["speech"], encoded["text"]
        speech_cls = self.speech_to_text(speech_cls, text, text_pad)  # (B, Cs)
        text_cls = self.text_to_speech(text_cls, speech, speech_pad)  # (B, Ct)
        return torch.cat([speech_cls, text_cls], dim=-1)  # (B, Cs + Ct)


class EmotionHead(nn.Module):
    """Dropout -> one linear layer, reshaped to ``output_shape`` per utterance.

    ``output_shape`` comes from the label space: (K, 2) per_class_binary (two logits per class),
    (K,) categorical, () regression, (D,) dimensional.
    """

    def __init__(self, input_dim, output_shape, pooler_dropout):
        super().__init__()
        self.output_shape = tuple(output_shape)
        num_outputs = 1
        for size in self.output_shape:
            num_outputs *= size
        self.dropout = nn.Dropout(pooler_dropout)
        self.out_proj = nn.Linear(input_dim, num_outputs)

    def forward(self, x):
        x = self.out_proj(self.dropout(x))  # (B, num_outputs)
        return x.view(x.size(0), *self.output_shape)


def build_fusion(kind, dims, heads, dropout, attention_dropout, layer_norm=False):
    """``shallow`` (also for a single modality) or ``coattn`` over encoders of widths ``dims``."""
    if kind == "coattn":
        return CoAttentionFusion(dims, heads, dropout, attention_dropout, layer_norm)
    if kind == "shallow":
        return ShallowFusion(dims)
    raise ValueError(f"unknown fusion {kind!r}: build_fusion knows shallow and coattn")
