"""Load fairseq checkpoints safely under torch's ``weights_only=True`` (the default since torch 2.6).

:func:`install` (run once by the plugin's entry point) makes every load through fairseq's
``checkpoint_utils.load_checkpoint_to_cpu`` (fine-tuned checkpoints, Speech-BERT, RoBERTa,
vq-wav2vec, restores of ``fairseq-train``) go through three checks, and reports any failure as
:class:`CheckpointLoadError` naming the file:

1. **Pickle globals.** ``weights_only`` stays on; the allowlist holds exactly the non-tensor
   classes fairseq checkpoints contain: legacy ``args`` (:class:`argparse.Namespace`), numpy
   scalars, fairseq 0.9 meters (mapped onto ``fairseq.logging.meters``), the omegaconf config
   broadcast on distributed resume, fairseq's ``_TensorPlaceholder`` and fairseq's ``Dictionary``
   (the ``task_state`` of fine-tuned CTC checkpoints: lists of symbols and counts). Any other global (a
   ``__reduce__`` calling ``os.system``) is refused by torch before it runs.
2. **Configuration strings.** fairseq evaluates some configuration strings with ``eval`` when it
   builds a model; every such field, at any depth of the checkpoint, must be a literal of the
   expected shape (:mod:`emotion_core.config_guard`) before fairseq upgrades or builds anything.
3. **Content.** The file must hold a fairseq checkpoint (a dict with ``model`` and ``args`` or
   ``cfg``), and every floating-point weight must be finite.

:func:`install` also makes fairseq's copies of a saved checkpoint (``checkpoint_last.pt``,
``checkpoint_best.pt``) atomic, so that a run killed during the copy leaves the previous file intact.
"""
import argparse
import functools
import pickle
import typing

import numpy as np
import torch
from fairseq import checkpoint_utils
from fairseq.file_io import PathManager
from fairseq.logging import meters
from omegaconf import OmegaConf

from emotion_core.config_guard import unsafe_fields
from emotion_core.files import atomic_copy


class CheckpointLoadError(RuntimeError):
    """A checkpoint file that cannot be loaded safely; the message names the file and the cause."""


def _numpy_globals():
    """numpy scalars and arrays, as pickled by numpy 1.x (``numpy.core``) and 2.x (``numpy._core``)."""
    multiarray = np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in (
        "float16", "float32", "float64", "int8", "int16", "int32", "int64",
        "uint8", "uint16", "uint32", "uint64", "bool")]
    found = [np.dtype, np.ndarray, multiarray.scalar, multiarray._reconstruct, *dtype_classes]
    renamed = [(multiarray.scalar, "numpy._core.multiarray.scalar"),
               (multiarray._reconstruct, "numpy._core.multiarray._reconstruct")]
    return found + renamed


def _legacy_meter_globals():
    """fairseq's meters, also under 0.9's ``fairseq.meters`` name (now ``fairseq.logging.meters``)."""
    classes = [meters.AverageMeter, meters.TimeMeter, meters.StopwatchMeter]
    return classes + [(cls, f"fairseq.meters.{cls.__name__}") for cls in classes]


def _omegaconf_globals():
    """The classes of a pickled omegaconf ``DictConfig`` (broadcast to other ranks on resume)."""
    import collections

    from omegaconf import base, dictconfig, listconfig, nodes

    return [dictconfig.DictConfig, listconfig.ListConfig, base.ContainerMetadata, base.Metadata,
            nodes.AnyNode, nodes.StringNode, nodes.IntegerNode, nodes.FloatNode, nodes.BooleanNode,
            nodes.EnumNode, nodes.ValueNode, collections.defaultdict, dict, list, int, str, float,
            bool, typing.Any]


def _broadcast_globals():
    """fairseq's placeholder for the tensors split off a state broadcast from rank 0 (resume, rank > 0)."""
    from fairseq.distributed.utils import _TensorPlaceholder

    return [_TensorPlaceholder]


def _task_state_globals():
    """fairseq's ``Dictionary``, kept in the ``task_state`` of audio fine-tuning and HuBERT checkpoints.

    Unpickled as an object whose attributes are set from plain lists, dicts, strings and ints (its
    class defines no ``__setstate__`` or ``__reduce__``): no code of the file runs.
    """
    from fairseq.data import Dictionary

    return [Dictionary]


SAFE_GLOBALS = [argparse.Namespace, *_numpy_globals(), *_legacy_meter_globals(), *_omegaconf_globals(),
                *_broadcast_globals(), *_task_state_globals()]


# ------------------------------------------------------------------------------------- content checks
def check_structure(state):
    """Raise CheckpointLoadError (message without the file) unless ``state`` is a fairseq checkpoint."""
    if not isinstance(state, dict):
        raise CheckpointLoadError(f"holds a {type(state).__name__}, not a fairseq checkpoint (a dict with "
                                  "'model' and 'args' or 'cfg', as fairseq-train writes it)")
    if "model" not in state:
        kind = ("a bare state dict" if state and all(isinstance(v, torch.Tensor) for v in state.values())
                else f"a dict with keys {sorted(map(str, state))[:8]}")
        raise CheckpointLoadError(f"holds {kind}, not a fairseq checkpoint: it lacks 'model' (and 'args' or "
                                  "'cfg'); save models with fairseq-train, or wrap the weights as "
                                  "{'model': state_dict, 'cfg': ...}")
    if not isinstance(state["model"], dict) or not all(_is_weights(v) for v in state["model"].values()):
        raise CheckpointLoadError("its 'model' entry is not a dict of tensors")
    if state.get("args") is None and state.get("cfg") is None:
        raise CheckpointLoadError("has weights but neither 'args' nor 'cfg': the model it belongs to is unknown")
    history = state.get("optimizer_history")
    if history is None and not {"best_loss", "optimizer"} <= set(state):
        raise CheckpointLoadError("lacks 'optimizer_history' (every fairseq checkpoint has one; older ones "
                                  "'best_loss' and 'optimizer')")
    if history is not None and (not isinstance(history, list) or not history
                                or not all(isinstance(h, dict) for h in history)):
        raise CheckpointLoadError("its 'optimizer_history' is not a non-empty list of dicts")
    if not isinstance(state.get("extra_state", {} if "epoch" in state else None), dict):
        raise CheckpointLoadError("lacks the dict 'extra_state' that every fairseq checkpoint has")


def check_config_strings(state):
    """Raise CheckpointLoadError naming every field fairseq would ``eval`` that is not a safe literal."""
    content = {k: v for k, v in state.items() if k not in ("model", "last_optimizer_state")}
    if OmegaConf.is_config(content.get("cfg")):
        content["cfg"] = OmegaConf.to_container(content["cfg"], resolve=False)
    problems = unsafe_fields(content)
    if problems:
        listed = "; ".join(f"{path}: {reason}" for path, reason in problems[:5])
        raise CheckpointLoadError(
            f"refused: {len(problems)} configuration field(s) that fairseq evaluates as Python code are not "
            f"literals of the expected shape, so the model was not built and nothing in them ran ({listed})")


def _is_weights(value):
    """A tensor, or a dict of tensors (data2vec keeps its EMA teacher's weights as ``model["_ema"]``)."""
    if isinstance(value, dict):
        return all(isinstance(v, torch.Tensor) for v in value.values())
    return isinstance(value, torch.Tensor)


def _flat(weights, prefix=""):
    """(name, tensor) of every tensor in a state dict, nested dicts included."""
    for name, value in weights.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def check_finite(weights):
    """Raise CheckpointLoadError naming the first weights that hold NaN or infinite values."""
    for name, tensor in _flat(weights):
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        if torch.isfinite(torch.sum(tensor, dtype=torch.float32)):
            continue  # a finite sum means finite values; an overflowing sum is checked value by value
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise CheckpointLoadError(f"weight {name} holds {bad} non-finite value(s) (NaN or inf) of "
                                      f"{tensor.numel()}: the model would predict NaN; use an earlier checkpoint")


def _checked_upgrade(upgrade):
    """fairseq's ``_upgrade_state_dict``, run only on a state that passed every check."""

    @functools.wraps(upgrade)
    def _upgrade_state_dict(state):
        check_structure(state)
        check_config_strings(state)
        check_finite(state["model"])
        return upgrade(state)

    _upgrade_state_dict._emotion_checked = True
    return _upgrade_state_dict


# ------------------------------------------------------------------------------------- loading
def _with_file_errors(load):
    """Wrap fairseq's loader so that every failure names the checkpoint file."""

    @functools.wraps(load)
    def load_checkpoint_to_cpu(path, *args, **kwargs):
        try:
            return load(path, *args, **kwargs)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except CheckpointLoadError as err:
            raise CheckpointLoadError(f"{path}: {err}") from err
        except pickle.UnpicklingError as err:
            reason = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), None)
            if reason is None:  # not a refused global: a damaged pickle (e.g. "Unsupported operand")
                raise CheckpointLoadError(
                    f"{path}: not a readable fairseq checkpoint (corrupt or truncated?): {err}") from err
            raise CheckpointLoadError(
                f"{path}: refused to load this checkpoint: its pickle references a global that "
                f"fairseq checkpoints never hold, so nothing in it was run ({reason})") from err
        except Exception as err:  # noqa: BLE001  (any other failure: the file is not a usable checkpoint)
            raise CheckpointLoadError(f"{path}: not a readable fairseq checkpoint (corrupt or truncated?): "
                                      f"{type(err).__name__}: {err}") from err

    load_checkpoint_to_cpu._emotion_safe = True
    return load_checkpoint_to_cpu


def _atomic_copy(copy):
    """fairseq's ``PathManager.copy`` for local files made atomic (temporary file + rename)."""

    def atomic(src_path, dst_path, overwrite=False):
        if PathManager.path_requires_pathmanager(src_path) or PathManager.path_requires_pathmanager(dst_path):
            return copy(src_path, dst_path, overwrite)
        return atomic_copy(src_path, dst_path)

    atomic._emotion_atomic = True
    return staticmethod(atomic)


def install():
    """Allowlist fairseq's checkpoint classes, check every loaded checkpoint, copy checkpoints atomically; idempotent."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    if not getattr(checkpoint_utils._upgrade_state_dict, "_emotion_checked", False):
        checkpoint_utils._upgrade_state_dict = _checked_upgrade(checkpoint_utils._upgrade_state_dict)
    if not getattr(checkpoint_utils.load_checkpoint_to_cpu, "_emotion_safe", False):
        checkpoint_utils.load_checkpoint_to_cpu = _with_file_errors(checkpoint_utils.load_checkpoint_to_cpu)
    if not getattr(PathManager.copy, "_emotion_atomic", False):
        PathManager.copy = _atomic_copy(PathManager.copy)
