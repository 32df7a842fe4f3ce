"""Waveform speech encoders: wav2vec 2.0, HuBERT and data2vec audio, built by fairseq's own model classes.

:func:`waveform_args` recognises such a checkpoint from its own configuration (legacy ``args`` are
converted to a ``cfg`` by fairseq's loader): the model name ``wav2vec2``, ``hubert`` or
``data2vec_audio`` of a pretraining checkpoint, or a fine-tuned CTC model (``wav2vec_ctc``,
``hubert_ctc``) whose ``w2v_args`` hold the pretraining configuration and whose weights under
``w2v_encoder.w2v_model.`` are the encoder's. It returns the model's configuration as a plain dict
(``_name`` plus the fields of the model's dataclass, and the task's ``normalize`` and
``sample_rate``), which the emotion model stores in its own config, as for Speech-BERT, so that a
fine-tuned checkpoint rebuilds the encoder without the pretrained file.

:class:`WaveformEncoder` builds fairseq's ``Wav2Vec2Model``, ``HubertModel`` or
``Data2VecAudioModel`` from that dict without any task: HuBERT's label embeddings (which need the
pretraining task's dictionaries) and every other pretraining-only module (quantizer, final
projections, data2vec's teacher) are left out, and their weights are set aside when loading.
Features are the model's own ``extract_features`` (no masking) over the padded batch, with the
frame padding mask the model derives from the sample padding mask.
"""
import importlib
import logging
from argparse import Namespace
from contextlib import nullcontext
from dataclasses import fields

import torch
import torch.nn as nn
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from omegaconf import OmegaConf

from emotion_core.constants import MAX_SPEECH_SAMPLES, SAMPLE_RATE
from emotion_fast.cpu_dropout import use_fast_cpu_dropout
from emotion_fast.extractor_cache import use_extractor_cache

logger = logging.getLogger(__name__)

# model name: (module, config class, model class, what it is called in messages)
MODELS = {
    "wav2vec2": ("fairseq.models.wav2vec.wav2vec2", "Wav2Vec2Config", "Wav2Vec2Model", "wav2vec 2.0"),
    "hubert": ("fairseq.models.hubert.hubert", "HubertConfig", "HubertModel", "HuBERT"),
    "data2vec_audio": ("fairseq.examples.data2vec.models.data2vec_audio", "Data2VecAudioConfig",
                       "Data2VecAudioModel", "data2vec audio"),
}
FINE_TUNED = ("wav2vec_ctc", "hubert_ctc")  # fairseq's CTC fine-tuning models of the three
ENCODER_PREFIX = "w2v_encoder.w2v_model."  # where a CTC model keeps its encoder's weights
# weights of modules used only by pretraining (left out of the built encoder)
PRETRAINING_ONLY = ("quantizer.", "project_q.", "final_proj.", "target_glu.", "label_embs_concat", "_ema")
POOLINGS = ("mean", "weighted_layers")
_PRIMITIVES = (str, int, float, bool, type(None))


class WaveformCheckpointError(ValueError):
    """A wav2vec 2.0 / HuBERT / data2vec checkpoint that cannot give an encoder; the message says why."""


def _container(cfg):
    """A config (DictConfig, Namespace or dict) as a plain dict, interpolations resolved."""
    if isinstance(cfg, Namespace):
        cfg = convert_namespace_to_omegaconf(cfg)
    if OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return dict(cfg or {})


def model_name(state):
    """The model name of a loaded checkpoint (``cfg.model._name``, or the legacy ``args.arch``)."""
    cfg = state.get("cfg")
    model = cfg.get("model") if cfg is not None else None
    name = getattr(model, "_name", None) if not isinstance(model, dict) else model.get("_name")
    if name is None and state.get("args") is not None:
        name = getattr(state["args"], "arch", None)
    return name


def config_class(name):
    """The fairseq dataclass of model ``name`` (importing data2vec's, which fairseq keeps in its examples)."""
    module, config, _, _ = MODELS[name]
    return getattr(importlib.import_module(module), config)


def waveform_args(state, path):
    """(encoder args dict, encoder weights) of a waveform checkpoint loaded by fairseq's loader; None for another model.

    Raises :class:`WaveformCheckpointError` for a fine-tuned checkpoint that does not hold its
    encoder's configuration (it only names the pretraining file, ``w2v_path``).
    """
    name = model_name(state)
    if name not in MODELS and name not in FINE_TUNED:
        return None
    cfg = _container(state["cfg"])
    weights = state["model"]
    if name in FINE_TUNED:
        if cfg["model"].get("w2v_args") is None:
            raise WaveformCheckpointError(
                f"{path}: this fine-tuned {name} checkpoint does not hold its encoder's configuration (no "
                f"w2v_args; it names the pretraining checkpoint {cfg['model'].get('w2v_path')!r}): pass that "
                "pretraining checkpoint as --speech-checkpoint instead")
        cfg = _container(cfg["model"]["w2v_args"])
        weights = {k[len(ENCODER_PREFIX):]: v for k, v in weights.items() if k.startswith(ENCODER_PREFIX)}
        name = cfg["model"].get("_name")
        if name not in MODELS:
            raise WaveformCheckpointError(f"{path}: a fine-tuned CTC checkpoint of a '{name}' encoder; supported "
                                          f"encoders: {', '.join(MODELS)}")
    model, task = cfg["model"], cfg.get("task") or {}
    args = {f.name: _plain(model[f.name]) for f in fields(config_class(name))
            if f.name in model and _storable(model[f.name])}
    args.update(_name=name, normalize=bool(task.get("normalize", model.get("normalize", False))),
                sample_rate=int(task.get("sample_rate", SAMPLE_RATE)))
    if args["sample_rate"] != SAMPLE_RATE:
        raise WaveformCheckpointError(f"{path}: the encoder reads {args['sample_rate']} Hz audio; the data "
                                      f"preparation writes {SAMPLE_RATE} Hz")
    return args, weights


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _storable(value):
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, _PRIMITIVES) for v in value)
    return isinstance(value, _PRIMITIVES) and not (isinstance(value, str) and "${" in value)


def is_waveform(args):
    """Whether stored encoder args describe a waveform encoder (Speech-BERT's have no waveform model name)."""
    return args is not None and args.get("_name") in MODELS


def describe(args):
    """'HuBERT (12 x 768)' and the like, for messages and logs."""
    return f"{MODELS[args['_name']][3]} ({args.get('encoder_layers')} x {args.get('encoder_embed_dim')})"


def normalize_waveforms(source, padding_mask):
    """Each row scaled to zero mean and unit variance over its real samples (fairseq's ``normalize``:
    ``F.layer_norm(wav, wav.shape)`` per utterance); padding stays 0. (B, S) -> (B, S)."""
    real = (~padding_mask).to(source.dtype)  # (B, S)
    count = real.sum(1, keepdim=True).clamp(min=1)
    mean = (source * real).sum(1, keepdim=True) / count
    var = (((source - mean) * real) ** 2).sum(1, keepdim=True) / count
    return (source - mean) / torch.sqrt(var + 1e-5) * real


class LayerWeights(nn.Module):
    """SUPERB's weighted sum of hidden states: softmax-normalised learned weights, one per state."""

    def __init__(self, count):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(count))  # equal weights at the start

    def forward(self, states):
        """(L, B, T, C) -> (B, T, C)."""
        w = torch.softmax(self.weights, dim=0).to(states.dtype)
        return (w.view(-1, 1, 1, 1) * states).sum(0)


class HiddenStates:
    """The transformer's input and every layer's output during one forward (hooks on fairseq's layers).

    A layer skipped by layer drop passes its input on, so its state repeats the previous one; the
    last state is the encoder's final output (after its final LayerNorm where the model has one).
    """

    def __init__(self, layers):
        self.layers, self.inputs, self.outputs, self.handles = layers, {}, {}, []

    def __enter__(self):
        for i, layer in enumerate(self.layers):
            self.handles.append(layer.register_forward_pre_hook(
                lambda module, args, i=i: self.inputs.setdefault(i, args[0])))
            self.handles.append(layer.register_forward_hook(
                lambda module, args, output, i=i: self.outputs.__setitem__(i, output[0])))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def stack(self, final):
        """(L + 1, B, T, C) states; ``final`` (B, T, C) is the encoder's output."""
        T = final.size(1)
        first = min(self.inputs) if self.inputs else None
        state = final if first is None else self.inputs[first][:T].transpose(0, 1)  # (T', B, C) -> (B, T, C)
        states = [state]
        for i in range(len(self.layers) - 1):
            if i in self.outputs:
                state = self.outputs[i][:T].transpose(0, 1)
            states.append(state)
        states.append(final)
        return torch.stack(states)


class WaveformEncoder(nn.Module):
    """A wav2vec 2.0, HuBERT or data2vec audio encoder over 16 kHz waveforms, without pretraining modules.

    Args:
        args: encoder args dict (:func:`waveform_args`).
        state_dict: pretrained weights (None when a fine-tuned checkpoint will provide them).
        overrides: model config values replacing the checkpoint's (dropouts, ``encoder_layerdrop``,
            ``checkpoint_activations``); None values keep the checkpoint's.
        pooling: ``mean`` (the last layer's frames, padding masked) or ``weighted_layers``
            (SUPERB: a learned softmax-weighted sum of the transformer's input and every layer's
            output, then the mean over frames).
        train_feature_extractor: let the convolutional feature extractor learn (by default it
            is frozen, as the releases' fine-tuning recipes do: ``feature_grad_mult`` 0).
        fast_cpu_dropout: dropouts and self-attention through :mod:`emotion_fast.cpu_dropout` (CPU training).
        cache_extractor: keep each utterance's feature extractor output (:mod:`emotion_fast.extractor_cache`),
            for the rows :meth:`encode` is given feature keys for; needs the extractor frozen.
    """

    def __init__(self, args, state_dict=None, overrides=None, pooling="mean", train_feature_extractor=False,
                 name="speech", fast_cpu_dropout=False, cache_extractor=False):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"speech pooling must be one of {POOLINGS}, got {pooling!r}")
        args = OmegaConf.to_container(args) if OmegaConf.is_config(args) else dict(args)
        self.kind = args["_name"]
        cfg_class = config_class(self.kind)
        values = {k: v for k, v in args.items() if k in {f.name for f in fields(cfg_class)}}
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        values["feature_grad_mult"] = 1.0 if train_feature_extractor else 0.0  # 0: the extractor runs under no_grad
        cfg = cfg_class(**values)
        self.model = self._build(cfg, args)
        self.model.remove_pretraining_modules()
        if state_dict is not None:
            self._load(state_dict, name)
        if not train_feature_extractor:
            self.model.feature_extractor.requires_grad_(False)
        self.model.mask_emb.requires_grad_(False)  # used by pretraining's masking only
        if fast_cpu_dropout:
            use_fast_cpu_dropout(self.model)
        if cache_extractor:
            if train_feature_extractor:
                raise ValueError("--cache-extractor-features needs the feature extractor frozen: its outputs change "
                                 "at every update with --train-feature-extractor")
            use_extractor_cache(self.model.feature_extractor)
        self.caches_extractor = cache_extractor
        self.input_keys = ("speech_source", "speech_padding_mask")  # what the model's forward passes to encode()
        self.frozen = False
        self.normalize = bool(args.get("normalize", False))
        self.embed_dim = cfg.encoder_embed_dim
        self.pooling = pooling
        self.layer_weights = LayerWeights(cfg.encoder_layers + 1) if pooling == "weighted_layers" else None

    def _build(self, cfg, args):
        module, _, model_class, _ = MODELS[self.kind]
        model_class = getattr(importlib.import_module(module), model_class)
        if self.kind == "hubert":  # the task config gives the sample rate; no dictionary: no label embeddings
            from fairseq.tasks.hubert_pretraining import HubertPretrainingConfig

            task_cfg = HubertPretrainingConfig(sample_rate=args.get("sample_rate", SAMPLE_RATE),
                                               label_rate=cfg.label_rate)
            return model_class(cfg, task_cfg, [None])
        return model_class(cfg)

    def _load(self, state_dict, name):
        """Load the encoder's weights strictly; weights of pretraining-only modules are set aside."""
        kept = {k: v for k, v in state_dict.items() if not k.startswith(PRETRAINING_ONLY)}
        try:
            self.model.load_state_dict(kept, strict=True)
        except RuntimeError as err:  # missing, unexpected or differently shaped weights
            details = "; ".join(line.strip() for line in str(err).splitlines()[1:4])
            raise WaveformCheckpointError(f"{name}: the checkpoint's {MODELS[self.kind][3]} weights do not fit the "
                                          f"model its configuration describes ({details})") from None

    def freeze(self):
        """No gradients for the pretrained weights (:meth:`encode` runs them without autograd); layer weights still learn."""
        self.model.requires_grad_(False)
        self.frozen = True

    def input_lengths(self, source, padding_mask):
        """(B,) real samples of each right-padded row."""
        return (~padding_mask).sum(1)

    def set_unpadded(self, enabled=True):
        """No effect: waveform encoders always run fairseq's forward, padding masked (see docs/model.md)."""

    def max_positions(self):
        """Longest input in samples: the long-audio policy's 20.46 s (MAX_SPEECH_SAMPLES)."""
        return MAX_SPEECH_SAMPLES

    def forward(self, source, padding_mask=None):
        """(B, S) 16 kHz samples, (B, S) padding mask -> last-layer features (B, T, C), frame padding mask (B, T)."""
        features, frame_padding, _ = self._extract(source, padding_mask, states=False)
        return features, frame_padding

    def _extract(self, source, padding_mask, states, feature_keys=None):
        if padding_mask is None:
            padding_mask = torch.zeros_like(source, dtype=torch.bool)
        if self.normalize:
            source = normalize_waveforms(source, padding_mask)
        cached = self.caches_extractor and feature_keys is not None
        rows = (self.model.feature_extractor.rows(feature_keys, self.input_lengths(source, padding_mask)) if cached
                else nullcontext())
        with HiddenStates(self.model.encoder.layers if states else []) as hidden, rows:
            out = self.model.extract_features(source, padding_mask, mask=False)
        features, frame_padding = (out["x"], out["padding_mask"]) if isinstance(out, dict) else out  # HuBERT: tuple
        if frame_padding is None:  # wav2vec 2.0 / data2vec give None when no sample is padding
            frame_padding = torch.zeros(features.shape[:2], dtype=torch.bool, device=features.device)
        return features, frame_padding, hidden.stack(features) if states else None

    def encode(self, source, padding_mask=None, summary_only=False, feature_keys=None):
        """(summary (B, C), frames (B, T, C), frame padding mask (B, T)) of a batch of waveforms.

        The summary is the mean over real frames of the last layer's features, or of the
        layers' weighted sum (``weighted_layers``), which is then also the frame sequence. The
        frames are computed either way, so ``summary_only`` changes nothing here. ``feature_keys``
        (B,) name the rows for the extractor cache (``cache_extractor``; ignored without it).
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features, frame_padding, states = self._extract(source, padding_mask,
                                                            states=self.layer_weights is not None,
                                                            feature_keys=feature_keys)
        if states is not None:
            features = self.layer_weights(states)  # (B, T, C)
        real = (~frame_padding).unsqueeze(-1).to(features.dtype)  # (B, T, 1)
        summary = (features * real).sum(1) / real.sum(1).clamp(min=1)  # (B, C)
        return summary, features, frame_padding
