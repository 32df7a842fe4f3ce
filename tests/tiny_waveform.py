"""Tiny random wav2vec 2.0, HuBERT and data2vec audio checkpoints in the releases' formats, made by fairseq's own classes.

:func:`save_pretraining` writes a pretraining checkpoint as fairseq-train writes it (``cfg``: model and
task groups; HuBERT's weights include its label embeddings, data2vec's its EMA teacher's as the dict
``_ema``), or,
with ``legacy=True``, as the 2020 wav2vec 2.0 releases (one flat ``args`` Namespace, no ``cfg``).
:func:`save_ctc` writes a fine-tuned CTC checkpoint (``wav2vec_ctc`` / ``hubert_ctc``: the encoder's
pretraining config in ``model.w2v_args``, its weights under ``w2v_encoder.w2v_model.``, a CTC
projection, the target dictionary in ``task_state``). :func:`reference_model` builds fairseq's own
model from such a file, as fairseq's loaders do, to compare features with.
"""
import argparse

import torch
from fairseq import checkpoint_utils
from fairseq.data import Dictionary
from omegaconf import OmegaConf

from emotion_models.waveform import ENCODER_PREFIX, MODELS, config_class

CONV = "[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] * 2"  # the releases' strides: 20 ms frames
DIMS = dict(encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4,
            conv_feature_layers=CONV, conv_pos=8, conv_pos_groups=4, dropout=0.0, attention_dropout=0.0,
            encoder_layerdrop=0.0)
EXTRA = {"wav2vec2": dict(final_dim=16, latent_vars=8, latent_groups=2, quantize_targets=True),
         "hubert": dict(final_dim=16, label_rate=50.0, untie_final_proj=True),
         "data2vec_audio": dict(ema_anneal_end_step=1000, max_update=1000)}
TASKS = {"wav2vec2": "audio_pretraining", "hubert": "hubert_pretraining", "data2vec_audio": "audio_pretraining"}
HISTORY = [{"criterion_name": "X", "optimizer_name": "FairseqAdam", "lr_scheduler_state": {"best": 1.0},
            "num_updates": 10}]
KM_CLUSTERS = 20


def model_cfg(kind, **overrides):
    """The model group of a checkpoint's cfg: every field of the model's dataclass, as a plain dict."""
    cfg = OmegaConf.structured(config_class(kind)(**{**DIMS, **EXTRA[kind], **overrides}))
    cfg._name = kind
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def task_cfg(kind, normalize=False):
    task = {"_name": TASKS[kind], "data": "/gone/manifests", "normalize": normalize, "sample_rate": 16000}
    if kind == "hubert":  # the release's task names label files that are not there
        task.update(label_dir="/gone/labels", labels=["km"], label_rate=50.0)
    return task


def _build(kind, model):
    module, _, model_class, _ = MODELS[kind]
    import importlib

    cls = getattr(importlib.import_module(module), model_class)
    cfg = config_class(kind)(**{k: v for k, v in model.items() if k != "_name"})
    if kind == "hubert":
        from fairseq.tasks.hubert_pretraining import HubertPretrainingConfig

        km = Dictionary()
        for k in range(KM_CLUSTERS):
            km.add_symbol(str(k))
        return cls(cfg, HubertPretrainingConfig(label_rate=model["label_rate"]), [km])
    return cls(cfg)


def save_pretraining(path, kind, legacy=False, normalize=False, seed=0, **overrides):
    """A random pretraining checkpoint of ``kind`` at ``path`` (see the module docstring); returns the path."""
    torch.manual_seed(seed)
    model = model_cfg(kind, **overrides)
    built = _build(kind, model)
    weights = built.state_dict()
    if kind == "data2vec_audio":  # the EMA teacher's fp32 weights, saved as data2vec saves them (a dict)
        weights["_ema"] = {k: v.clone() for k, v in built.encoder.state_dict().items() if not k.startswith("pos_conv")}
    cfg = {"model": model, "task": task_cfg(kind, normalize), "criterion": {"_name": "wav2vec"},
           "optimizer": {"_name": "adam", "adam_betas": "(0.9,0.98)"}, "lr_scheduler": {"_name": "polynomial_decay"},
           "common": {"seed": seed}}
    state = {"model": weights, "optimizer_history": HISTORY, "extra_state": {"train_iterator": {"epoch": 2}}}
    if legacy:
        flat = {k: v for group in cfg.values() for k, v in group.items() if k != "_name"}
        flat.update(arch=kind, task=TASKS[kind], criterion="wav2vec", optimizer="adam",
                    lr_scheduler="polynomial_decay")
        state["args"] = argparse.Namespace(**flat)
    else:
        state.update(args=None, cfg=cfg)
    torch.save(state, str(path))
    return path


def save_ctc(path, kind, seed=0, with_args=True):
    """A fine-tuned CTC checkpoint of a ``kind`` encoder at ``path`` (``with_args=False``: only ``w2v_path``)."""
    torch.manual_seed(seed)
    model = model_cfg(kind)
    encoder = _build(kind, model)
    encoder.remove_pretraining_modules()
    weights = {ENCODER_PREFIX + k: v for k, v in encoder.state_dict().items()}
    weights.update({"w2v_encoder.proj.weight": torch.randn(30, DIMS["encoder_embed_dim"]),
                    "w2v_encoder.proj.bias": torch.zeros(30)})
    w2v_args = {"model": model, "task": task_cfg(kind), "criterion": None, "lr_scheduler": None} if with_args else None
    ctc = "hubert_ctc" if kind == "hubert" else "wav2vec_ctc"
    letters = Dictionary()
    for c in "abcdefghijklmnopqrstuvwxyz|":
        letters.add_symbol(c)
    torch.save({"args": None, "model": weights, "optimizer_history": HISTORY, "extra_state": {},
                "cfg": {"model": {"_name": ctc, "w2v_path": "/gone/pretrained.pt", "w2v_args": w2v_args,
                                  "normalize": False, "dropout": 0.0},
                        "task": {"_name": "audio_finetuning", "normalize": False, "labels": "ltr"}},
                "task_state": {"target_dictionary": letters}}, str(path))
    return path


def reference_model(path):
    """fairseq's own model of a saved pretraining or CTC checkpoint, its pretraining modules removed (eval mode)."""
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
    group, weights = state["cfg"]["model"], state["model"]
    ctc = group._name.endswith("_ctc")
    if ctc:
        group = group.w2v_args.model
        weights = {k[len(ENCODER_PREFIX):]: v for k, v in weights.items() if k.startswith(ENCODER_PREFIX)}
    model = _build(group._name, OmegaConf.to_container(group, resolve=True))
    if group._name == "data2vec_audio":  # as fairseq's Wav2VecEncoder: the teacher is not loaded
        model.ema = None
        weights = {k: v for k, v in weights.items() if k != "_ema"}
    if ctc:  # fine-tuning saved the encoder without its pretraining modules
        model.remove_pretraining_modules()
        model.load_state_dict(weights, strict=True)
    else:
        model.load_state_dict(weights, strict=True)
        model.remove_pretraining_modules()
    return model.eval()
