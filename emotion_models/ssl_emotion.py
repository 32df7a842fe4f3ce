"""Model ``ssl_emotion``: Speech-BERT + RoBERTa, jointly fine-tuned, fused, one linear head (paper section 3).

Architectures (each sets ``fusion`` and ``modalities``):
``ssl_emotion_shallow`` (concatenated CLS vectors -> head, the paper's best),
``ssl_emotion_coattn`` (co-attentional fusion), ``ssl_emotion_speech_only``, ``ssl_emotion_text_only``.
The task registers the head (its width depends on the target type), as sentence_prediction does.
"""
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model, register_model_architecture
from omegaconf import open_dict

from emotion_models.encoders import PretrainedEncoder, read_checkpoint
from emotion_fast.feature_cache import FrozenFeatureCache
from emotion_models.fusion import MODALITY_ORDER, EmotionHead, build_fusion

logger = logging.getLogger(__name__)

FUSION_CHOICES = ChoiceEnum(["shallow", "coattn"])
MODALITY_CHOICES = ChoiceEnum(["both", "speech", "text"])


@dataclass
class SSLEmotionConfig(FairseqDataclass):
    speech_checkpoint: Optional[str] = field(
        default=None, metadata={"help": "Speech-BERT checkpoint (PRETRAINED/bert_kmeans/bert_kmeans.pt)"})
    text_checkpoint: Optional[str] = field(
        default=None, metadata={"help": "RoBERTa checkpoint (PRETRAINED/roberta.large/model.pt)"})
    fusion: FUSION_CHOICES = field(default="shallow", metadata={"help": "how the two encoders are fused"})
    modalities: MODALITY_CHOICES = field(default="both", metadata={"help": "encoders used by the model"})
    freeze_ssl: bool = field(
        default=False, metadata={"help": "freeze the pretrained encoders (no gradients, no dropout); "
                                         "only the fusion and the head train"})
    dropout: Optional[float] = field(
        default=0.1, metadata={"help": "dropout inside the encoders and the co-attention (None: pretrained value)"})
    attention_dropout: Optional[float] = field(
        default=0.1, metadata={"help": "attention dropout inside the encoders and the co-attention "
                                       "(None: pretrained value)"})
    pooler_dropout: float = field(default=0.1, metadata={"help": "dropout before the classification head"})
    coattn_heads: int = field(default=16, metadata={"help": "attention heads of each co-attention layer (the "
                                                          "authors' code: 16 by default, 2 in its README's command)"})
    coattn_layernorm: bool = field(
        default=False, metadata={"help": "LayerNorm after each co-attention's residual (Figure 2's Add & Norm); the "
                                         "authors' released code has it commented out"})
    cache_frozen_features: bool = field(
        default=False, metadata={"help": "with --freeze-ssl: run the frozen encoders once per utterance and "
                                         "cache their outputs (keyed by split and sample id), so later epochs "
                                         "only train the fusion and the head; same losses, much faster"})
    checkpoint_activations: bool = field(
        default=False, metadata={"help": "recompute each encoder layer's activations in the backward pass "
                                         "(fairseq's checkpoint_activations): less memory for 2048-token "
                                         "speech inputs and big batches, about a third more compute"})
    fast_cpu_dropout: bool = field(
        default=False, metadata={"help": "training on a CPU: the encoders' self-attention with dropout computed "
                                         "a few heads at a time instead of PyTorch's math kernel (its fused CPU "
                                         "kernels take no dropout), and every encoder dropout mask drawn 4 per "
                                         "64-bit random word (p rounded to 1/65536); same function, about 2x "
                                         "faster fine-tuning. No effect on GPUs or in evaluation"})
    unpadded_encoders: bool = field(
        default=False, metadata={"help": "run the encoders' transformer layers on each batch's real tokens only "
                                         "(packed, attention per utterance) instead of the padded batch; with "
                                         "the shallow fusion the last layer computes only the CLS position. "
                                         "Same function, less compute in training, validation and inference"})
    speech_args: Any = field(
        default=None, metadata={"help": "Speech-BERT args, stored at build time (do not set)"})
    text_args: Any = field(
        default=None, metadata={"help": "RoBERTa args, stored at build time (do not set)"})
    label_space: Any = field(
        default=None, metadata={"help": "target type and labels of the head, stored at build time by the task "
                                        "(do not set)"})


def _used_modalities(cfg):
    return [m for m in MODALITY_ORDER if cfg.modalities in ("both", m)]


def _build_encoder(cfg, modality, dictionary):
    """Encoder of one modality: from the pretrained checkpoint, or from args stored in ``cfg``."""
    args_key, path = f"{modality}_args", getattr(cfg, f"{modality}_checkpoint")
    args, state_dict = getattr(cfg, args_key), None
    if args is None:  # first build: read the pretrained checkpoint and remember its args
        if not path:
            raise ValueError(f"--{modality}-checkpoint is required for --modalities {cfg.modalities}")
        args, state_dict = read_checkpoint(path)
        with open_dict(cfg):
            setattr(cfg, args_key, args)
        logger.info(f"loaded pretrained {modality} encoder from {path}")
    return PretrainedEncoder(args, dictionary, state_dict, cfg.dropout, cfg.attention_dropout, name=modality,
                             checkpoint_activations=getattr(cfg, "checkpoint_activations", False),
                             fast_cpu_dropout=getattr(cfg, "fast_cpu_dropout", False),
                             unpadded=getattr(cfg, "unpadded_encoders", False))


@register_model("ssl_emotion", dataclass=SSLEmotionConfig)
class SSLEmotionModel(BaseFairseqModel):
    """Pretrained encoders -> fusion -> head. ``forward`` returns logits shaped by the head."""

    def __init__(self, cfg, encoders, padding_idx):
        super().__init__()
        self.cfg = cfg
        self.encoders = torch.nn.ModuleDict(encoders)
        self.padding_idx = padding_idx  # {modality: pad index of its dictionary}
        dims = {m: enc.embed_dim for m, enc in encoders.items()}
        self.fusion = build_fusion(cfg.fusion, dims, cfg.coattn_heads, cfg.dropout or 0.0,
                                   cfg.attention_dropout or 0.0,
                                   getattr(cfg, "coattn_layernorm", True))  # configs older than the option had it
        self.head = None
        if cfg.freeze_ssl:
            for p in self.encoders.parameters():
                p.requires_grad = False
        self.feature_cache = None  # not a module: never in the state dict
        if getattr(cfg, "cache_frozen_features", False):
            if not cfg.freeze_ssl:
                raise ValueError("--cache-frozen-features needs --freeze-ssl (fine-tuned encoders change "
                                 "their outputs at every update)")
            self.feature_cache = FrozenFeatureCache(cls_only=cfg.fusion == "shallow")

    @classmethod
    def build_model(cls, cfg, task):
        """Build the encoders of the used modalities with the task's dictionaries."""
        dictionaries = {"speech": task.speech_dictionary, "text": task.text_dictionary}
        absent = [m for m in _used_modalities(cfg) if dictionaries[m] is None]
        if absent:
            data = getattr(getattr(task, "cfg", None), "data", "the data directory")
            raise FileNotFoundError(
                f"--arch {getattr(cfg, '_name', None) or getattr(cfg, 'arch', 'ssl_emotion')} uses {absent[0]}, but "
                f"{data} holds no {absent[0]} tokens (no {absent[0]}/dict.txt: prepared with --modalities speech?); "
                "train ssl_emotion_speech_only on it, or prepare the corpus with both modalities")
        encoders = {m: _build_encoder(cfg, m, dictionaries[m]) for m in _used_modalities(cfg)}
        return cls(cfg, encoders, {m: dictionaries[m].pad() for m in encoders})

    def register_classification_head(self, output_shape):
        """Add the head (dropout -> linear) over the fused vector; called by the task."""
        self.head = EmotionHead(self.fusion.output_dim, output_shape, self.cfg.pooler_dropout)

    def train(self, mode=True):
        """Frozen encoders stay in eval mode (no dropout) even while the rest trains."""
        super().train(mode)
        if self.cfg.freeze_ssl:
            self.encoders.eval()
        return self

    def set_unpadded_encoders(self, enabled=True):
        """Switch the encoders to the unpadded forward (``--unpadded-encoders``; same outputs), e.g. for inference."""
        for enc in self.encoders.values():
            enc.set_unpadded(enabled)

    def encoder_max_positions(self):
        """{modality: longest input of its encoder} for the used modalities."""
        return {m: enc.max_positions() for m, enc in self.encoders.items()}

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        """As fairseq's, and forgets cached encoder outputs (they were computed with the old weights)."""
        if self.feature_cache is not None:
            self.feature_cache.clear()
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)

    def forward(self, speech_tokens=None, text_tokens=None, feature_keys=None, **unused):
        """(B, Ts) speech and (B, Tt) text tokens -> logits shaped (B, *head_shape) by the label space.

        ``feature_keys`` (B,) (set by the task with --cache-frozen-features) name each row for the
        frozen-feature cache; without them, or without the cache, the encoders run.
        """
        assert self.head is not None, "the task registers the head (task.build_model)"
        return self.head(self.fused_features(speech_tokens, text_tokens, feature_keys))

    def fused_features(self, speech_tokens=None, text_tokens=None, feature_keys=None):
        """The fusion's output (B, fusion.output_dim), what the head reads: one part per modality
        (``fusion.widths``, in :data:`MODALITY_ORDER`)."""
        tokens = {"speech": speech_tokens, "text": text_tokens}
        if self.feature_cache is not None and feature_keys is not None:
            return self.fusion(self.feature_cache.encode(self.encoders, tokens, self.padding_idx, feature_keys))
        encoded = {}
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.freeze_ssl):
            for m, enc in self.encoders.items():
                features = enc(tokens[m], cls_only=self.fusion.reads_cls_only)  # (B, T, C) or (B, 1, C)
                encoded[m] = (features, tokens[m].eq(self.padding_idx[m]))
        return self.fusion(encoded)  # (B, sum of widths)

    def parameter_counts(self):
        """Total, trainable and new (fusion + head, not pretrained) parameter counts, with breakdown."""
        count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        new = {f"fusion.{name}": count(child) for name, child in self.fusion.named_children()}
        new["head"] = count(self.head) if self.head is not None else 0
        return {"total": count(self), "trainable": sum(p.numel() for p in self.parameters() if p.requires_grad),
                "new": sum(new.values()), "new_breakdown": new,
                **{f"encoder.{m}": count(enc) for m, enc in self.encoders.items()}}


def _arch(name, fusion, modalities):
    @register_model_architecture("ssl_emotion", name)
    def arch(cfg):
        cfg.fusion = fusion  # the architecture defines the fusion and the modalities
        cfg.modalities = modalities

    arch.__name__ = name
    return arch


ssl_emotion_shallow = _arch("ssl_emotion_shallow", "shallow", "both")
ssl_emotion_coattn = _arch("ssl_emotion_coattn", "coattn", "both")
ssl_emotion_speech_only = _arch("ssl_emotion_speech_only", "shallow", "speech")
ssl_emotion_text_only = _arch("ssl_emotion_text_only", "shallow", "text")
