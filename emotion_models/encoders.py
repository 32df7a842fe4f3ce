"""Speech-BERT and RoBERTa encoders, built by fairseq's own ``RobertaModel`` from checkpoint files.

Both released models are fairseq RoBERTa (masked LM) checkpoints: the 2019 releases store a
legacy ``args`` Namespace (and ``decoder.*`` parameter names, upgraded by fairseq on load), newer
ones a ``cfg``. :func:`read_checkpoint` returns the encoder's arguments as a plain dict of
primitive values, which the emotion model stores in its own config (as ``wav2vec2_asr`` stores
``w2v_args``) so that a fine-tuned checkpoint rebuilds the encoder without the pretrained file.
A speech checkpoint may also be a wav2vec 2.0, HuBERT or data2vec audio one
(:mod:`emotion_models.waveform`): its args then name the waveform model (``_name``).
"""
import logging
from argparse import Namespace

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq import checkpoint_utils
from fairseq.models import ARCH_CONFIG_REGISTRY
from fairseq.models.roberta import RobertaEncoder, RobertaModel
from fairseq.modules.gelu import gelu as fairseq_gelu
from omegaconf import OmegaConf

from emotion_fast.cpu_dropout import use_fast_cpu_dropout
from emotion_fast.unpadded import check_supported, encode_unpadded
from emotion_models.waveform import MODELS as WAVEFORM_MODELS, model_name, waveform_args

logger = logging.getLogger(__name__)

_PRIMITIVES = (str, int, float, bool, type(None))


def _storable(value):
    """True for values an OmegaConf config can hold and a checkpoint's cfg can round-trip."""
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, _PRIMITIVES) for v in value)
    return isinstance(value, _PRIMITIVES) and not (isinstance(value, str) and "${" in value)


def _training_only_keys():
    """Names of fairseq's training/run options (not model settings), left out of stored args."""
    from fairseq.dataclass.configs import FairseqConfig

    keys = {"data", "task", "criterion", "optimizer", "lr_scheduler", "scoring", "tokenizer", "bpe", "_name"}
    for group in FairseqConfig.__dataclass_fields__.values():
        if hasattr(group.type, "__dataclass_fields__"):
            keys.update(group.type.__dataclass_fields__)
    return keys


def encoder_args_dict(model_args):
    """The primitive-valued model fields of a checkpoint's args (Namespace, DictConfig or dict)."""
    if isinstance(model_args, Namespace):
        items = vars(model_args)
    elif OmegaConf.is_config(model_args):
        items = OmegaConf.to_container(model_args, resolve=True)
    else:
        items = dict(model_args)
    skip = _training_only_keys() - {"arch"}
    args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in items.items() if _storable(v) and k not in skip}
    if args.get("max_positions") is None:  # as RobertaModel.build_model does
        args["max_positions"] = args.get("tokens_per_sample", 512)
    return args


def read_checkpoint(path, modality="text"):
    """Load a pretrained encoder checkpoint: returns (encoder args dict, model state dict).

    A fairseq RoBERTa checkpoint (Speech-BERT, RoBERTa); for ``modality="speech"`` also a wav2vec 2.0,
    HuBERT or data2vec audio checkpoint, detected from the checkpoint itself (:func:`waveform_args`).
    """
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    if modality == "speech":
        waveform = waveform_args(state, path)
        if waveform is not None:
            return waveform
    elif model_name(state) in WAVEFORM_MODELS:
        raise ValueError(f"{path} is a {WAVEFORM_MODELS[model_name(state)][3]} speech checkpoint: "
                         f"--{modality}-checkpoint needs a RoBERTa checkpoint")
    model_args = state.get("args")
    if model_args is None:
        model_args = state["cfg"]["model"]
    return encoder_args_dict(model_args), state["model"]


def _namespace(args, dropout=None, attention_dropout=None, checkpoint_activations=False):
    """Encoder args as the Namespace RobertaEncoder expects, arch defaults filled, dropouts overridden."""
    ns = Namespace(**(OmegaConf.to_container(args) if OmegaConf.is_config(args) else dict(args)))
    if checkpoint_activations:  # fairseq's TransformerEncoder wraps each layer in checkpoint_wrapper
        ns.checkpoint_activations = True
    if dropout is not None:
        ns.dropout = dropout
    if attention_dropout is not None:
        ns.attention_dropout = attention_dropout
    arch = getattr(ns, "arch", None) or getattr(ns, "_name", None)
    if arch in ARCH_CONFIG_REGISTRY and ARCH_CONFIG_REGISTRY[arch].__module__.startswith("fairseq.models.roberta"):
        ARCH_CONFIG_REGISTRY[arch](ns)  # fills any field the checkpoint predates (e.g. roberta_large dims)
    return ns


def use_native_gelu(encoder):
    """Replace fairseq's ``gelu`` (float32 round trip) by torch's in every layer of ``encoder``.

    Same numbers, forward and backward, in float32 and bfloat16 (torch's bf16 GELU kernels compute
    in float32), without two full-size copies of the FFN activations per layer under autocast.
    """
    for layer in encoder.modules():
        if getattr(layer, "activation_fn", None) is fairseq_gelu:
            layer.activation_fn = F.gelu
    return encoder


def _contiguous_input(layer, args):
    return (args[0].contiguous(),) + args[1:]


def use_contiguous_layers(encoder):
    """Give the first transformer layer a contiguous (T, B, C) input, so every layer works on contiguous tensors.

    fairseq's encoder transposes (B, T, C) to (T, B, C) as a view, and the residual additions keep
    that layout through every layer. A linear layer on such a view with B > 1 does not fold into one
    matrix product without gradients: PyTorch broadcasts the weight to (T, C_out, C_in) instead, about
    50x slower under CPU bf16 autocast and 2x in float32 (evaluation, inference and frozen encoders).
    One copy of the embeddings avoids it; the numbers are unchanged.
    """
    encoder.sentence_encoder.layers[0].register_forward_pre_hook(_contiguous_input)
    return encoder


class PretrainedEncoder(nn.Module):
    """A fairseq RoBERTa encoder (Speech-BERT or RoBERTa) without its LM head.

    Args:
        args: encoder args dict (see :func:`read_checkpoint`).
        dictionary: the task's dictionary of this modality (``dict.txt`` + ``<mask>``).
        state_dict: pretrained weights to load (None when a fine-tuned checkpoint will provide them).
        dropout, attention_dropout: overrides of the pretrained values (None keeps them).
        checkpoint_activations: recompute layer activations in the backward pass (saves memory).
        fast_cpu_dropout: dropout and attention dropout through :mod:`emotion_fast.cpu_dropout` (CPU training).
        unpadded: run the layers on the real tokens only (:mod:`emotion_fast.unpadded`).
    """

    caches_extractor = False  # no convolutional feature extractor (see WaveformEncoder)

    def __init__(self, args, dictionary, state_dict=None, dropout=None, attention_dropout=None, name="encoder",
                 checkpoint_activations=False, fast_cpu_dropout=False, unpadded=False):
        super().__init__()
        self.input_keys = (f"{name}_tokens",)  # what the model's forward passes to encode()
        self.frozen = False
        ns = _namespace(args, dropout, attention_dropout, checkpoint_activations)
        roberta = RobertaModel(ns, RobertaEncoder(ns, dictionary))
        if state_dict is not None:
            self._check_vocab(state_dict, dictionary, name)
            roberta.load_state_dict(state_dict, strict=True)
        roberta.encoder.lm_head = None  # the LM head is not used for emotion recognition
        use_native_gelu(roberta.encoder)
        use_contiguous_layers(roberta.encoder)
        if fast_cpu_dropout:
            use_fast_cpu_dropout(roberta.encoder)
        self.encoder = roberta.encoder  # fairseq.models.roberta.RobertaEncoder
        self.embed_dim = ns.encoder_embed_dim
        self.padding_idx = dictionary.pad()
        self.set_unpadded(unpadded)

    def set_unpadded(self, enabled=True):
        """Run :meth:`forward` through :func:`encode_unpadded` (same function) or fairseq's padded forward."""
        if enabled:
            check_supported(self.encoder.sentence_encoder)
        self.unpadded = enabled

    @staticmethod
    def _check_vocab(state_dict, dictionary, name):
        key = next((k for k in state_dict if k.endswith("sentence_encoder.embed_tokens.weight")), None)
        if key is not None and state_dict[key].size(0) != len(dictionary):
            raise ValueError(
                f"{name}: the data directory's dictionary has {len(dictionary)} symbols (with <mask>) but "
                f"the pretrained checkpoint has {state_dict[key].size(0)} embeddings; copy the checkpoint's "
                "dict.txt into the data directory (scripts/prepare_data.py does) and binarize with it")

    def max_positions(self):
        """Longest input (with <s> and </s>) the learned positional embeddings cover."""
        return self.encoder.max_positions()

    def forward(self, src_tokens, cls_only=False):
        """(B, T) tokens -> (B, T, C) last-layer features; features[:, 0] is the CLS (<s>) vector.

        With ``cls_only`` only the CLS vectors are returned, (B, 1, C) (the unpadded forward then
        skips the last layer's other positions).
        """
        if self.unpadded:
            return encode_unpadded(self.encoder.sentence_encoder, src_tokens, cls_only)
        features, _ = self.encoder.extract_features(src_tokens)
        return features[:, :1] if cls_only else features

    def freeze(self):
        """No gradients for the pretrained weights: :meth:`encode` then runs without autograd."""
        self.requires_grad_(False)
        self.frozen = True

    def input_lengths(self, src_tokens):
        """(B,) tokens of each right-padded row."""
        return src_tokens.ne(self.padding_idx).sum(1)

    def encode(self, src_tokens, summary_only=False):
        """(summary (B, C), sequence (B, T, C), padding mask (B, T)): the CLS vector and every position.

        With ``summary_only`` the sequence and its mask are None (see :meth:`forward`'s ``cls_only``).
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features = self(src_tokens, cls_only=summary_only)  # (B, T, C) or (B, 1, C)
        if summary_only:
            return features[:, 0], None, None
        return features[:, 0], features, src_tokens.eq(self.padding_idx)
