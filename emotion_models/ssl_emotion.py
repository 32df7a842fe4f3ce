"""Model ``ssl_emotion``: Speech-BERT + RoBERTa, jointly fine-tuned, fused, one linear head (paper section 3).

Architectures (each sets ``fusion`` and ``modalities``):
``ssl_emotion_shallow`` (concatenated CLS vectors -> head, the paper's best),
``ssl_emotion_coattn`` (co-attentional fusion), ``ssl_emotion_speech_only``, ``ssl_emotion_text_only``.
The speech encoder is the paper's Speech-BERT over vq-wav2vec tokens, or a wav2vec 2.0, HuBERT or
data2vec audio encoder over 16 kHz waveforms (:mod:`emotion_models.waveform`), whichever
``--speech-checkpoint`` holds. The task registers the head (its width depends on the target type),
as sentence_prediction does.
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
from emotion_models.waveform import POOLINGS, WaveformEncoder, describe, is_waveform

logger = logging.getLogger(__name__)

FUSION_CHOICES = ChoiceEnum(["shallow", "coattn"])
MODALITY_CHOICES = ChoiceEnum(["both", "speech", "text"])
POOLING_CHOICES = ChoiceEnum(list(POOLINGS))


@dataclass
class SSLEmotionConfig(FairseqDataclass):
    speech_checkpoint: Optional[str] = field(
        default=None, metadata={"help": "Speech-BERT checkpoint (PRETRAINED/bert_kmeans/bert_kmeans.pt, reads vq-wav2vec "
                                        "tokens), or a wav2vec 2.0, HuBERT or data2vec audio checkpoint, pretrained or "
                                        "CTC fine-tuned (e.g. PRETRAINED/hubert_base_ls960.pt, reads 16 kHz audio)"})
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
    cache_extractor_features: bool = field(
        default=False, metadata={"help": "waveform speech encoders with the feature extractor frozen (the default): "
                                         "compute each utterance's convolutional features once, alone, and keep "
                                         "them in memory (51 kB per second of audio in bf16), so later epochs skip "
                                         "the extractor, about a fifth of a base-size CPU training step"})
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
    speech_pooling: POOLING_CHOICES = field(
        default="mean", metadata={"help": "waveform speech encoders: the utterance vector is the mean over frames of "
                                          "the last layer (mean) or of a learned softmax-weighted sum of the "
                                          "transformer's input and every layer's output (weighted_layers, SUPERB)"})
    train_feature_extractor: bool = field(
        default=False, metadata={"help": "waveform speech encoders: fine-tune the convolutional feature extractor "
                                         "too (by default it is frozen, as the releases' fine-tuning recipes do)"})
    speech_layerdrop: Optional[float] = field(
        default=None, metadata={"help": "waveform speech encoders: probability of skipping each transformer layer in "
                                        "training (fairseq's encoder_layerdrop; None: the checkpoint's value)"})
    speech_activation_dropout: Optional[float] = field(
        default=None, metadata={"help": "waveform speech encoders: dropout after the feed-forward activation "
                                        "(None: the checkpoint's value)"})
    speech_dropout_input: Optional[float] = field(
        default=None, metadata={"help": "waveform speech encoders: dropout on the feature extractor's output "
                                        "(None: the checkpoint's value)"})
    speech_args: Any = field(
        default=None, metadata={"help": "speech encoder args (Speech-BERT or waveform), stored at build time "
                                        "(do not set)"})
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
        args, state_dict = read_checkpoint(path, modality)
        with open_dict(cfg):
            setattr(cfg, args_key, args)
        logger.info(f"loaded pretrained {modality} encoder from {path}")
    if is_waveform(args):
        return _waveform_encoder(cfg, args, state_dict)
    if getattr(cfg, "cache_extractor_features", False) and modality == "speech":
        raise ValueError("--cache-extractor-features applies to waveform speech encoders (wav2vec 2.0, HuBERT, "
                         "data2vec audio), not to Speech-BERT")
    if dictionary is None:
        raise FileNotFoundError(f"the {modality} encoder (Speech-BERT) reads vq-wav2vec tokens, but the data directory "
                                f"has no {modality}/dict.txt: prepare it with --speech-input tokens (or both)")
    return PretrainedEncoder(args, dictionary, state_dict, cfg.dropout, cfg.attention_dropout, name=modality,
                             checkpoint_activations=getattr(cfg, "checkpoint_activations", False),
                             fast_cpu_dropout=getattr(cfg, "fast_cpu_dropout", False),
                             unpadded=getattr(cfg, "unpadded_encoders", False))


def _waveform_encoder(cfg, args, state_dict):
    """The wav2vec 2.0 / HuBERT / data2vec audio speech encoder with this run's dropouts and pooling."""
    overrides = {"dropout": cfg.dropout, "attention_dropout": cfg.attention_dropout,
                 "activation_dropout": getattr(cfg, "speech_activation_dropout", None),
                 "dropout_input": getattr(cfg, "speech_dropout_input", None),
                 "encoder_layerdrop": getattr(cfg, "speech_layerdrop", None),
                 "checkpoint_activations": getattr(cfg, "checkpoint_activations", False) or None}
    logger.info(f"speech encoder: {describe(args)} over 16 kHz audio, {cfg.speech_pooling} pooling")
    return WaveformEncoder(args, state_dict, overrides, pooling=cfg.speech_pooling,
                           train_feature_extractor=cfg.train_feature_extractor,
                           fast_cpu_dropout=getattr(cfg, "fast_cpu_dropout", False),
                           cache_extractor=getattr(cfg, "cache_extractor_features", False))


@register_model("ssl_emotion", dataclass=SSLEmotionConfig)
class SSLEmotionModel(BaseFairseqModel):
    """Pretrained encoders -> fusion -> head. ``forward`` returns logits shaped by the head."""

    def __init__(self, cfg, encoders):
        super().__init__()
        self.cfg = cfg
        self.encoders = torch.nn.ModuleDict(encoders)
        dims = {m: enc.embed_dim for m, enc in encoders.items()}
        self.fusion = build_fusion(cfg.fusion, dims, cfg.coattn_heads, cfg.dropout or 0.0,
                                   cfg.attention_dropout or 0.0,
                                   getattr(cfg, "coattn_layernorm", True))  # configs older than the option had it
        self.head = None
        if cfg.freeze_ssl:
            for enc in self.encoders.values():
                enc.freeze()
        self.feature_cache = None  # not a module: never in the state dict
        if getattr(cfg, "cache_frozen_features", False):
            if not cfg.freeze_ssl:
                raise ValueError("--cache-frozen-features needs --freeze-ssl (fine-tuned encoders change "
                                 "their outputs at every update)")
            if any(getattr(enc, "layer_weights", None) is not None for enc in self.encoders.values()):
                raise ValueError("--cache-frozen-features cannot cache --speech-pooling weighted_layers: its layer "
                                 "weights train, so the utterance vectors change at every update")
            self.feature_cache = FrozenFeatureCache(summary_only=self.fusion.reads_summary_only)

    @classmethod
    def build_model(cls, cfg, task):
        """Build the encoders of the used modalities with the task's dictionaries (None: the data has none;
        a waveform speech encoder needs no dictionary)."""
        dictionaries = {"speech": task.speech_dictionary, "text": task.text_dictionary}
        if "text" in _used_modalities(cfg) and dictionaries["text"] is None:
            data = getattr(getattr(task, "cfg", None), "data", "the data directory")
            raise FileNotFoundError(
                f"--arch {getattr(cfg, '_name', None) or getattr(cfg, 'arch', 'ssl_emotion')} uses text, but "
                f"{data} holds no text tokens (no text/dict.txt: prepared with --modalities speech?); "
                "train ssl_emotion_speech_only on it, or prepare the corpus with both modalities")
        encoders = {m: _build_encoder(cfg, m, dictionaries[m]) for m in _used_modalities(cfg)}
        return cls(cfg, encoders)

    def register_classification_head(self, output_shape):
        """Add the head (dropout -> linear) over the fused vector; called by the task."""
        self.head = EmotionHead(self.fusion.output_dim, output_shape, self.cfg.pooler_dropout)

    def train(self, mode=True):
        """Frozen encoders stay in eval mode (no dropout) even while the rest trains."""
        super().train(mode)
        if self.cfg.freeze_ssl:
            self.encoders.eval()
        return self

    @property
    def uses_feature_keys(self):
        """Whether a cache of the model reads ``net_input["feature_keys"]`` (the task then provides them)."""
        return self.feature_cache is not None or any(e.caches_extractor for e in self.encoders.values())

    def set_unpadded_encoders(self, enabled=True):
        """Switch the encoders to the unpadded forward (``--unpadded-encoders``; same outputs), e.g. for inference."""
        for enc in self.encoders.values():
            enc.set_unpadded(enabled)

    def encoder_max_positions(self):
        """{modality: longest input of its encoder} for the used modalities (tokens, or samples of audio)."""
        return {m: enc.max_positions() for m, enc in self.encoders.items()}

    @property
    def speech_input(self):
        """What the speech encoder reads: "waveform" (16 kHz samples), "tokens" (vq-wav2vec), None (no speech)."""
        if "speech" not in self.encoders:
            return None
        return "waveform" if isinstance(self.encoders["speech"], WaveformEncoder) else "tokens"

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        """As fairseq's, and forgets cached encoder and extractor outputs (they were computed with the old weights)."""
        if self.feature_cache is not None:
            self.feature_cache.clear()
        for enc in self.encoders.values():
            if enc.caches_extractor:
                enc.model.feature_extractor.clear()
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)

    def forward(self, speech_tokens=None, text_tokens=None, speech_source=None, speech_padding_mask=None,
                feature_keys=None, **unused):
        """Inputs of the used encoders -> logits shaped (B, *head_shape) by the label space.

        ``speech_tokens`` (B, Ts) for Speech-BERT, or ``speech_source`` (B, S) 16 kHz samples and
        ``speech_padding_mask`` (B, S) for a waveform encoder; ``text_tokens`` (B, Tt).
        ``feature_keys`` (B,) (set by the task with --cache-frozen-features or --cache-extractor-features)
        name each row for the frozen-feature or extractor cache; without them, or without a cache, the
        encoders run in full.
        """
        assert self.head is not None, "the task registers the head (task.build_model)"
        return self.head(self.fused_features(speech_tokens, text_tokens, speech_source, speech_padding_mask,
                                             feature_keys))

    def fused_features(self, speech_tokens=None, text_tokens=None, speech_source=None, speech_padding_mask=None,
                       feature_keys=None):
        """The fusion's output (B, fusion.output_dim), what the head reads: one part per modality
        (``fusion.widths``, in :data:`MODALITY_ORDER`)."""
        given = {"speech_tokens": speech_tokens, "text_tokens": text_tokens, "speech_source": speech_source,
                 "speech_padding_mask": speech_padding_mask}
        inputs = {m: tuple(given[k] for k in enc.input_keys) for m, enc in self.encoders.items()}
        if self.feature_cache is not None and feature_keys is not None:
            return self.fusion(self.feature_cache.encode(self.encoders, inputs, feature_keys))
        keyed = {m: {"feature_keys": feature_keys} for m, enc in self.encoders.items() if enc.caches_extractor}
        encoded = {m: enc.encode(*inputs[m], summary_only=self.fusion.reads_summary_only, **keyed.get(m, {}))
                   for m, enc in self.encoders.items()}  # {m: (summary, sequence, padding mask)}; frozen: no autograd
        return self.fusion(encoded)  # (B, sum of widths)

    def parameter_counts(self):
        """Total, trainable and new (fusion + head, not pretrained) parameter counts, with breakdown."""
        count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        new = {f"fusion.{name}": count(child) for name, child in self.fusion.named_children()}
        for m, enc in self.encoders.items():
            if getattr(enc, "layer_weights", None) is not None:
                new[f"encoder.{m}.layer_weights"] = count(enc.layer_weights)
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
