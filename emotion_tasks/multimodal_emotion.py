"""Task ``multimodal_emotion``: speech (tokens or 16 kHz audio) + text tokens -> emotion targets (paper section 3).

Reads a prepared data directory (``speech/`` and/or ``audio/``, ``text/``, ``label/``, ``ids/``,
``labels.json``; see docs/model.md; a speech-only directory has no ``text/`` and trains
``ssl_emotion_speech_only``), builds the ``ssl_emotion`` model and registers its head, whose shape
comes from the label space (``--target-type`` over the data's labels, :mod:`emotion_core.label_spaces`).
The labels are stored in the task's config, so a checkpoint carries its class or dimension names.
The speech side is what the built model's speech encoder reads: Speech-BERT's vq-wav2vec tokens, or
the audio for a wav2vec 2.0 / HuBERT / data2vec encoder. Inputs are truncated to each encoder's
positions (tokens, or samples: the long-audio policy's 20.46 s), which the task takes from the built
model (fairseq-train and fairseq-validate build the model before loading any split).
"""
import contextlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from fairseq.data import Dictionary
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.distributed import utils as distributed_utils
from fairseq.logging import metrics
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II, MISSING, OmegaConf, open_dict

from emotion_core.files import AtomicFile, check_output_path
from emotion_core.label_spaces import ACCEPTED_TARGET_TYPES, label_space
from emotion_core.labels import LabelError, read_labels
from emotion_fast.feature_cache import feature_keys
from emotion_tasks import datasets

logger = logging.getLogger(__name__)


@dataclass
class MultimodalEmotionConfig(FairseqDataclass):
    data: str = field(default=MISSING, metadata={"help": "prepared data directory (speech/ and/or audio/, text/, label/, "
                                                         "ids/)"})
    target_type: ChoiceEnum(list(ACCEPTED_TARGET_TYPES)) = field(
        default="iemocap_binary",
        metadata={"help": "categorical: one of the data's classes; per_class_binary: a yes/no decision per "
                          "class; regression: one score; dimensional: one score per named dimension. "
                          "multiclass = categorical and iemocap_binary = per_class_binary (the paper's names)"})
    save_predictions: Optional[str] = field(
        default=None, metadata={"help": "during validation, write JSON lines {id, target, pred[, probs]} to this "
                                        "file ('{split}' in the name is replaced by the split's name, for "
                                        "--valid-subset valid,test); each validation pass replaces it once all "
                                        "its rows are written; '.rankN' suffix under distributed training"})
    autocast_bf16: bool = field(
        default=False, metadata={"help": "run training and validation steps under torch.autocast in bfloat16 "
                                         "(CPUs with AVX512-bf16/AMX, GPUs from Ampere on); weights, gradients, "
                                         "optimizer and loss stay fp32, no loss scaling needed. Unlike "
                                         "--bf16 (whole model in bf16) it also works with --cpu"})
    seed: int = II("common.seed")


def check_model_name(cfg):
    """Raise ValueError unless ``cfg`` (a model config or args) names ``ssl_emotion`` or one of its archs.

    A checkpoint of another task (e.g. a masked_lm RoBERTa passed to fairseq-validate --path) carries its
    own model config, which would otherwise fail deep inside that model with an unrelated error.
    """
    from fairseq.models import ARCH_MODEL_REGISTRY, MODEL_REGISTRY

    name = getattr(cfg, "_name", None) or getattr(cfg, "arch", None)
    ours = MODEL_REGISTRY["ssl_emotion"]
    if name is not None and ARCH_MODEL_REGISTRY.get(name, MODEL_REGISTRY.get(name)) is not ours:
        raise ValueError(
            f"task multimodal_emotion needs an ssl_emotion model, but the model config names '{name}': "
            "is this a checkpoint of another task (e.g. a pretrained masked_lm)? fairseq-validate --path and "
            "--restore-file need a checkpoint written by fairseq-train --task multimodal_emotion")


@register_task("multimodal_emotion", dataclass=MultimodalEmotionConfig)
class MultimodalEmotionTask(FairseqTask):
    """Multimodal (speech + text) emotion recognition on a prepared data directory."""

    def __init__(self, cfg, speech_dictionary, text_dictionary, label_info=None):
        """``label_info``: the labels (:class:`~emotion_core.labels.LabelInfo`); None: those of data
        prepared before labels.json existed (the paper's four emotions, or scores). ``speech_dictionary``
        is None for data prepared with audio only (``--speech-input waveform``), ``text_dictionary`` for
        a speech-only data directory (``--modalities speech``)."""
        super().__init__(cfg)
        self.label_space = label_space(cfg.target_type, label_info)
        self.speech_dictionary = speech_dictionary
        self.text_dictionary = text_dictionary
        self.encoder_positions = {}  # {modality: max positions (tokens, or samples of audio)}, set by build_model
        self.speech_input = None  # what the built model's speech encoder reads: "tokens", "waveform" or None
        self.utterance_ids = {}  # {split: [utterance id per row]}
        self.cache_features = False  # a cache of the model reads feature keys: give them
        self.split_codes = {}  # {split: number used in its feature keys}
        self._pred_split = None
        self._pred_pending = set()  # rows of this process's shard not yet written by --save-predictions
        self._pred_file = None  # the AtomicFile of the validation pass in progress
        self._pred_done = False  # this pass's file is complete (later batches are fairseq's dummy batches)

    @classmethod
    def load_dictionary(cls, filename):
        """``Dictionary.load`` + ``<mask>``, as fairseq's masked_lm task (and so the pretrained models) have it."""
        if not os.path.isfile(filename):
            raise FileNotFoundError(f"missing dictionary {filename} (prepare the data directory with "
                                    "scripts/prepare_data.py)")
        dictionary = Dictionary.load(filename)
        dictionary.add_symbol("<mask>")
        return dictionary

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        if not os.path.isdir(cfg.data):
            raise FileNotFoundError(f"data directory {cfg.data} not found")
        dicts = {m: cls.load_dictionary(os.path.join(cfg.data, m, "dict.txt"))
                 for m in datasets.token_modalities(cfg.data)}
        logger.info("dictionaries: " + ", ".join(f"{m} {len(d)} types" for m, d in dicts.items()))
        if cfg.save_predictions:  # before any work: a path that cannot be written, or an input of the run
            path = Path(cfg.save_predictions.replace("{split}", "valid"))
            path.parent.mkdir(parents=True, exist_ok=True)  # as fairseq makes --save-dir (on rank 0, maybe later)
            check_output_path(path, list(Path(cfg.data).rglob("*")), what="--save-predictions")
        return cls(cfg, dicts.get("speech"), dicts.get("text"), label_info=read_labels(cfg.data, cfg.target_type))

    def build_model(self, cfg, from_checkpoint=False):
        """Build ``ssl_emotion``, register its head for the label space and log parameter counts.

        The model's config records the label space (target type and labels), so that a checkpoint
        carries its class or dimension names; a checkpoint whose label space differs from the data's
        is refused (its outputs would be read as other classes).
        """
        check_model_name(cfg)
        described = self.label_space.describe()
        stored = stored_label_space(cfg)
        if stored is not None and stored != described:
            raise LabelError(f"the checkpoint's model was trained for {stored}, but the task has {described} "
                             f"(data {self.cfg.data}): use data prepared with the same labels and --target-type")
        model = super().build_model(cfg, from_checkpoint)
        with open_dict(model.cfg):
            model.cfg.label_space = described
        model.register_classification_head(self.label_space.head_shape)
        self.encoder_positions = model.encoder_max_positions()
        self.speech_input = model.speech_input
        self.cache_features = model.uses_feature_keys
        counts = model.parameter_counts()
        logger.info(f"ssl_emotion parameters: total {counts['total']:,}, trainable {counts['trainable']:,}, "
                    f"new {counts['new']:,} ({', '.join(f'{k} {v:,}' for k, v in counts['new_breakdown'].items())})")
        return model

    def _speech_kind(self, split):
        """The speech input to load: what the built model's speech encoder reads. Before a model is built,
        the tokens of data prepared with them; for a text-only model, the tokens where the data has
        them (rows then cost what they always did), else nothing."""
        if self.speech_input is not None:
            return self.speech_input
        if self.speech_dictionary is None:
            return None
        if not self.encoder_positions or datasets.has_tokens(self.cfg.data, "speech", split):
            return "tokens"
        return None

    def load_dataset(self, split, combine=False, **kwargs):
        """Load a split: the speech input the model reads and the text tokens (truncated to the encoders'
        positions), targets, ids."""
        if not self.encoder_positions:
            logger.warning("loading a split before the model is built: inputs are not truncated")
        data, positions = self.cfg.data, self.encoder_positions
        dicts = {"speech": self.speech_dictionary, "text": self.text_dictionary}
        kind = self._speech_kind(split)
        speech = (datasets.load_audio(data, split, positions.get("speech")) if kind == "waveform" else
                  datasets.load_tokens(data, "speech", split, dicts["speech"], positions.get("speech"))
                  if kind == "tokens" else None)
        text = (datasets.load_tokens(data, "text", split, dicts["text"], positions.get("text"))
                if dicts["text"] is not None else None)
        inputs = {"speech": speech, "text": text}
        labels = datasets.load_labels(data, split, self.label_space)
        ids = datasets.load_ids(data, split)
        self.utterance_ids[split] = ids
        keys = None
        if self.cache_features:  # rows named by split and index for the model's frozen-feature cache
            keys = feature_keys(self.split_codes.setdefault(split, len(self.split_codes)), len(ids))
        self.datasets[split] = datasets.build_split(
            inputs, labels, ids, {m: d.pad() for m, d in dicts.items() if d is not None}, self.cfg.seed,
            f"{data} split '{split}'", feature_keys=keys)
        logger.info(f"{split}: {len(ids)} utterances ({self.cfg.target_type})")
        return self.datasets[split]

    def get_batch_iterator(self, dataset, **kwargs):
        """As FairseqTask's, with every utterance kept; notes the split (for --save-predictions).

        The installed fairseq drops a last batch whose size is not a multiple of
        --required-batch-size-multiple (default 8), which would leave utterances out of the
        metrics; the task therefore batches with a multiple of 1.
        """
        if kwargs.get("required_batch_size_multiple", 1) != 1:
            logger.info("using --required-batch-size-multiple 1 so that no utterance is dropped")
            kwargs["required_batch_size_multiple"] = 1
        iterator = super().get_batch_iterator(dataset, **kwargs)
        self._pred_split = next((s for s, d in self.datasets.items() if d is dataset), None)
        if self.cfg.save_predictions:
            # This process's shard; any other row it sees is the dummy batch that fairseq gives the
            # process with the shorter shard, or a repeat of it, and is not written.
            shard = iterator.frozen_batches[iterator.shard_id::iterator.num_shards]
            self._pred_pending = {int(i) for batch in shard for i in batch}
            if self._pred_file is not None:  # an earlier pass that did not finish: its rows are not kept
                self._pred_file.discard()
                self._pred_file = None
            self._pred_done = False
        return iterator

    def autocast(self, model):
        """bfloat16 autocast on the model's device with --autocast-bf16, else a no-op context."""
        if not self.cfg.autocast_bf16:
            return contextlib.nullcontext()
        return torch.autocast(next(model.parameters()).device.type, dtype=torch.bfloat16)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        """As FairseqTask's, under --autocast-bf16 (the backward too: checkpointed layers recompute in bf16)."""
        with self.autocast(model):
            return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)

    def valid_step(self, sample, model, criterion):
        if not self.cfg.save_predictions:
            with self.autocast(model):
                return super().valid_step(sample, model, criterion)
        model.eval()
        with torch.no_grad(), self.autocast(model):
            loss, sample_size, logging_output, logits = criterion.forward_with_output(model, sample)
        self._write_predictions(sample, logits)
        return loss, sample_size, logging_output

    def predictions_path(self):
        """--save-predictions ('{split}' replaced by the split's name), with a '.rankN' suffix when more than
        one process validates."""
        path = self.cfg.save_predictions.replace("{split}", self._pred_split or "")
        if distributed_utils.get_data_parallel_world_size() > 1:
            path = f"{path}.rank{distributed_utils.get_data_parallel_rank()}"
        return path

    def _write_predictions(self, sample, logits):
        ids = self.utterance_ids.get(self._pred_split)
        if ids is None:
            raise RuntimeError("--save-predictions: cannot tell which split is being validated")
        space = self.label_space
        preds = space.decode(logits).cpu().tolist()
        targets = sample["target"].cpu().tolist()
        probs = space.outputs(logits.float().cpu()) if space.has_probabilities else [None] * len(preds)
        if self._pred_done:
            return
        if self._pred_file is None:  # the pass's first batch: rows go to a temporary file until the last one
            self._pred_file = AtomicFile(self.predictions_path())
        for index, target, pred, prob in zip(sample["id"].tolist(), targets, preds, probs):
            if index not in self._pred_pending:
                continue
            self._pred_pending.discard(index)
            row = {"id": ids[index], "target": space.to_json(target), "pred": space.to_json(pred)}
            self._pred_file.write(json.dumps({**row, "probs": prob} if prob is not None else row) + "\n")
        if not self._pred_pending:
            self._finish_predictions()

    def _finish_predictions(self):
        """The pass wrote every row of this process's shard: the file replaces the earlier one."""
        self._pred_file.commit()
        self._pred_file, self._pred_done = None, True

    def reduce_metrics(self, logging_outputs, criterion):
        """As FairseqTask's (the criterion logs the loss and sums the statistics), then the label space's
        metrics, derived from the summed statistics with ``metrics.log_derived``."""
        super().reduce_metrics(logging_outputs, criterion)
        if not any(k.startswith("_") for log in logging_outputs for k in log):
            return
        space = self.label_space
        for name in space.loggable(space.metrics({})):
            metrics.log_derived(name, _derived(space, name))

    def max_positions(self):
        return None  # inputs are truncated to the encoders' positions instead of filtered

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return None


def stored_label_space(model_cfg):
    """{"target_type", "labels"} recorded in a model config (None in checkpoints written before label spaces)."""
    stored = getattr(model_cfg, "label_space", None)
    return OmegaConf.to_container(stored) if OmegaConf.is_config(stored) else stored


def _derived(space, name):
    """log_derived function computing metric ``name`` from the statistics summed in the meters."""

    def fn(meters):
        stats = {k: meters[f"_{k}"].sum for k in space.stat_keys() if f"_{k}" in meters}
        value = space.loggable(space.metrics(stats))[name]
        return math.nan if value is None else round(float(value), 4)

    return fn
