"""Load fairseq checkpoints under torch's ``weights_only=True`` (the default since torch 2.6).

Instead of switching ``weights_only`` off, :func:`install` allowlists exactly the non-tensor
classes that fairseq checkpoints hold:

* legacy checkpoints (fairseq <= 0.10, e.g. the vq-wav2vec and RoBERTa releases): ``args`` is an
  :class:`argparse.Namespace`; ``extra_state``/``optimizer_history`` may hold numpy scalars and,
  from fairseq 0.9, ``fairseq.meters`` objects (mapped onto today's ``fairseq.logging.meters``);
* new checkpoints (fairseq 0.12): ``cfg`` is a plain container and needs nothing more;
* the omegaconf ``DictConfig`` that distributed training broadcasts from rank 0 on resume, and
  fairseq's ``_TensorPlaceholder`` that stands for the tensors split off that broadcast.

Any other global in a pickle (for example a ``__reduce__`` that calls ``os.system``) is refused
by torch before it runs; :func:`install` also makes fairseq's ``load_checkpoint_to_cpu`` report
such refusals, and corrupt or truncated files, as :class:`CheckpointLoadError` naming the file.
"""
import argparse
import functools
import pickle
import typing

import numpy as np
import torch
from fairseq import checkpoint_utils
from fairseq.logging import meters


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


SAFE_GLOBALS = [argparse.Namespace, *_numpy_globals(), *_legacy_meter_globals(), *_omegaconf_globals(),
                *_broadcast_globals()]


def _with_file_errors(load):
    """Wrap fairseq's loader so that every failure names the checkpoint file."""

    @functools.wraps(load)
    def load_checkpoint_to_cpu(path, *args, **kwargs):
        try:
            return load(path, *args, **kwargs)
        except pickle.UnpicklingError as err:
            reason = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), None)
            if reason is None:  # not a refused global: a damaged pickle (e.g. "Unsupported operand")
                raise CheckpointLoadError(
                    f"{path}: not a readable fairseq checkpoint (corrupt or truncated?): {err}") from err
            raise CheckpointLoadError(
                f"{path}: refused to load this checkpoint: its pickle references a global that "
                f"fairseq checkpoints never hold, so nothing in it was run ({reason})") from err
        except (RuntimeError, EOFError, ValueError, OSError) as err:  # OSError: a zip cut short
            if isinstance(err, (CheckpointLoadError, FileNotFoundError)):
                raise
            raise CheckpointLoadError(
                f"{path}: not a readable fairseq checkpoint (corrupt or truncated?): {err}") from err

    load_checkpoint_to_cpu._emotion_safe = True
    return load_checkpoint_to_cpu


def install():
    """Allowlist fairseq's checkpoint classes for ``weights_only`` loading; idempotent."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    if not getattr(checkpoint_utils.load_checkpoint_to_cpu, "_emotion_safe", False):
        checkpoint_utils.load_checkpoint_to_cpu = _with_file_errors(checkpoint_utils.load_checkpoint_to_cpu)
