"""Pretrain tiny fairseq RoBERTa encoders with masked LM and save them as the 2019 releases are saved.

Both demo encoders (Speech-BERT on vq-wav2vec token strings, text RoBERTa on GPT-2 BPE ids) go
through the same steps, all with plain fairseq:

1. ``fairseq-preprocess --only-source --dict-only`` on every line -> ``dict.txt`` (token counts,
   as the released dictionaries), then the train and validation lines binarized with that dict;
2. ``fairseq-train --task masked_lm --arch roberta_base`` with small overrides (:class:`MaskedLMSpec`);
3. the final weights converted to the *legacy* checkpoint format of the releases (:func:`to_legacy`):
   ``args`` (argparse.Namespace), ``model`` (keys under ``decoder.``, ``emb_layer_norm``),
   ``optimizer_history``, ``extra_state``, and no ``cfg``;
4. a check that the file loads through ``checkpoint_utils.load_checkpoint_to_cpu`` and builds a
   ``RobertaModel`` from its dictionary + ``<mask>`` (:func:`load_roberta`).

The validation masked-LM loss (bits per masked token, as fairseq logs it) is compared with the
unigram baseline (:func:`unigram_bits`).
"""
import argparse
import collections
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

FAIRSEQ_BIN = Path(sys.executable).parent  # the venv's fairseq-train / fairseq-preprocess
PLACEHOLDER_DATA = "data-bin"  # the legacy args' "data": the training folder is temporary
TRAIN_THREADS = "1"  # torch threads of the build and of fairseq-train: the tiny models gain nothing
#                     from more, and spinning threads slow every process down on a shared 2-core machine


@dataclass(frozen=True)
class MaskedLMSpec:
    """Architecture overrides of ``roberta_base`` and the masked-LM training schedule."""

    layers: int  # --encoder-layers
    embed_dim: int  # --encoder-embed-dim
    heads: int  # --encoder-attention-heads
    ffn_dim: int  # --encoder-ffn-embed-dim
    max_positions: int  # --max-positions (and --tokens-per-sample: one line per sample)
    batch_size: int  # sentences per update
    max_update: int  # training updates
    warmup: int  # linear warm-up updates of the polynomial decay schedule
    lr: float  # peak learning rate

    def with_updates(self, max_update, warmup):
        """A copy with another schedule length (e.g. the --small preset)."""
        return MaskedLMSpec(**{**asdict(self), "max_update": max_update, "warmup": warmup})


# Speech-BERT stand-in: 2048 positions as the release; embed dim 48 (the text one is 64 so that a
# mix-up of the two encoders' widths fails loudly).
SPEECH_BERT = MaskedLMSpec(layers=2, embed_dim=48, heads=4, ffn_dim=96, max_positions=2048,
                           batch_size=16, max_update=1000, warmup=60, lr=3e-3)
TEXT_ROBERTA = MaskedLMSpec(layers=2, embed_dim=64, heads=4, ffn_dim=128, max_positions=512,
                            batch_size=32, max_update=400, warmup=40, lr=1e-3)


def write_lines(path, lines):
    """Write one line per item (token strings joined by spaces)."""
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _preprocess(argv):
    """Run fairseq's own preprocessing (``fairseq-preprocess``) in this process."""
    from fairseq import options
    from fairseq_cli import preprocess

    args = options.get_preprocessing_parser().parse_args(argv)
    before = list(preprocess.logger.handlers)
    try:
        preprocess.main(args)
    finally:  # fairseq adds a log-file handler per call: close it
        for handler in preprocess.logger.handlers[len(before):]:
            preprocess.logger.removeHandler(handler)
            handler.close()


def binarize(train_lines, valid_lines, dest):
    """Dictionary of all lines (``dest/dict.txt``) and binarized ``train``/``valid`` splits in ``dest``.

    The dictionary comes from ``fairseq-preprocess --only-source --dict-only`` over train + valid, so
    that it covers every token of the corpus. Returns the dictionary path.
    """
    dest = Path(dest)
    text_dir = dest / "text"
    text_dir.mkdir(parents=True, exist_ok=True)
    write_lines(text_dir / "train.txt", train_lines)
    write_lines(text_dir / "valid.txt", valid_lines)
    write_lines(text_dir / "all.txt", [*train_lines, *valid_lines])
    common = ["--only-source", "--workers", "1"]
    _preprocess([*common, "--trainpref", str(text_dir / "all.txt"), "--destdir", str(dest / "dict"),
                 "--dict-only"])
    _preprocess([*common, "--srcdict", str(dest / "dict" / "dict.txt"), "--trainpref", str(text_dir / "train.txt"),
                 "--validpref", str(text_dir / "valid.txt"), "--destdir", str(dest / "bin")])
    return dest / "bin" / "dict.txt"


def unigram_bits(train_lines, valid_lines):
    """Unigram baseline of masked LM, in bits per token (fairseq's base 2).

    Cross-entropy of the validation tokens under the training token frequencies (add-one smoothed),
    counting each line's ``<s>`` and ``</s>`` as fairseq's masked LM may mask them too.
    """
    def tokens(line):
        return ["<s>", *line.split(), "</s>"]

    counts = collections.Counter(t for line in train_lines for t in tokens(line))
    vocab = set(counts) | {t for line in valid_lines for t in tokens(line)}
    total = sum(counts.values()) + len(vocab)
    valid = [t for line in valid_lines for t in tokens(line)]
    return -sum(math.log2((counts[t] + 1) / total) for t in valid) / len(valid)


def _fairseq_train_args(data_bin, save_dir, spec, seed):
    """Command-line arguments of ``fairseq-train`` for a masked-LM pretraining run."""
    validate_every = 5  # epochs between validations; fairseq always validates at the last update
    return [
        str(data_bin), "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base",
        "--encoder-layers", str(spec.layers), "--encoder-embed-dim", str(spec.embed_dim),
        "--encoder-attention-heads", str(spec.heads), "--encoder-ffn-embed-dim", str(spec.ffn_dim),
        "--max-positions", str(spec.max_positions), "--tokens-per-sample", str(spec.max_positions),
        "--sample-break-mode", "eos", "--dropout", "0.0", "--attention-dropout", "0.0",
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--weight-decay", "0.01", "--clip-norm", "1.0",
        "--lr", str(spec.lr), "--lr-scheduler", "polynomial_decay", "--warmup-updates", str(spec.warmup),
        "--total-num-update", str(spec.max_update), "--max-update", str(spec.max_update),
        "--batch-size", str(spec.batch_size), "--seed", str(seed), "--cpu", "--num-workers", "0",
        "--save-dir", str(save_dir), "--no-epoch-checkpoints", "--no-save-optimizer-state",
        "--validate-interval", str(validate_every), "--save-interval", str(validate_every),
        "--log-format", "json", "--log-interval", "100", "--no-progress-bar",
    ]


def run_fairseq_train(argv, save_dir):
    """Run the venv's ``fairseq-train argv`` with one torch thread; returns its log (also ``save_dir/train.log``)."""
    cmd = [str(FAIRSEQ_BIN / "fairseq-train"), *argv]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": TRAIN_THREADS}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log = proc.stdout + proc.stderr
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    (Path(save_dir) / "train.log").write_text(log)
    if proc.returncode != 0:
        raise RuntimeError(f"fairseq-train failed ({proc.returncode}): {' '.join(cmd)}\n{log[-4000:]}")
    return log


def last_validation(log, where):
    """The last ``valid`` statistics fairseq-train logged (``--log-format json``), as {name: float}."""
    stats = [json.loads(line[line.index("{"):]) for line in log.splitlines() if "| valid |" in line and "{" in line]
    assert stats, f"no validation in the fairseq-train log {where}"
    return {k.removeprefix("valid_"): float(v) for k, v in stats[-1].items() if k.startswith("valid_")}


def train_masked_lm(data_bin, save_dir, spec, seed):
    """Run ``fairseq-train --task masked_lm``; returns (final validation loss in bits, last checkpoint)."""
    log = run_fairseq_train(_fairseq_train_args(data_bin, save_dir, spec, seed), save_dir)
    return last_validation(log, f"{save_dir}/train.log")["loss"], Path(save_dir) / "checkpoint_last.pt"


def to_legacy(state):
    """A fairseq 0.12 RoBERTa checkpoint as the 2019 releases store it (keep only the final weights).

    ``args`` is the flattened argparse.Namespace of the run; model keys use the old names
    (``decoder.`` and ``emb_layer_norm``) that ``RobertaModel.upgrade_state_dict_named`` renames.
    """
    args = vars(state["cfg"]["model"]).copy()  # masked_lm runs keep every flattened arg here
    args.pop("_name", None)
    args.update(data=PLACEHOLDER_DATA, save_dir="checkpoints", restore_file="checkpoint_last.pt")
    model = {}
    for key, value in state["model"].items():
        if key.endswith(".version"):  # 0.12's buffer, absent from the releases (the loader adds it)
            continue
        key = "decoder" + key[len("encoder"):] if key.startswith("encoder.") else key
        model[key.replace(".layernorm_embedding.", ".emb_layer_norm.")] = value
    last = state["optimizer_history"][-1]
    val_loss = float(state["extra_state"].get("val_loss") or 0.0)
    return {
        "args": argparse.Namespace(**args),
        "model": model,
        "optimizer_history": [{"criterion_name": last["criterion_name"], "optimizer_name": last["optimizer_name"],
                               "lr_scheduler_state": {"best": val_loss}, "num_updates": last["num_updates"]}],
        "extra_state": {"train_iterator": {"epoch": int(state["extra_state"]["train_iterator"]["epoch"]),
                                           "iterations_in_epoch": 0}, "val_loss": val_loss},
    }


def convert_to_legacy(src, dst):
    """Read a checkpoint written by ``fairseq-train`` and save it in the legacy release format."""
    import torch

    import emotion_fairseq  # noqa: F401  (the checkpoint allowlist)

    state = torch.load(str(src), map_location="cpu", weights_only=True)
    torch.save(to_legacy(state), str(dst))


def load_roberta(checkpoint, dict_txt):
    """Load a RoBERTa checkpoint as the real releases load: the fairseq loader, then ``RobertaModel``.

    The dictionary is ``Dictionary.load(dict_txt)`` plus ``<mask>``, as fairseq's masked_lm task
    builds it. Returns ``(model, dictionary, state)``; the weights are loaded strictly.
    """
    from fairseq import checkpoint_utils
    from fairseq.data import Dictionary
    from fairseq.models.roberta import RobertaModel

    import emotion_fairseq  # noqa: F401  (safe checkpoint loading)

    state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))
    dictionary = Dictionary.load(str(dict_txt))
    dictionary.add_symbol("<mask>")
    task = argparse.Namespace(source_dictionary=dictionary, target_dictionary=dictionary)
    model = RobertaModel.build_model(state["cfg"].model, task)
    model.load_state_dict(state["model"], strict=True)
    return model.eval(), dictionary, state


def pretrain_masked_lm(name, train_lines, valid_lines, out_checkpoint, out_dict, spec, seed, work_dir):
    """Binarize, pretrain, convert and verify one tiny encoder; returns a summary dict.

    Writes ``out_checkpoint`` (legacy format) and ``out_dict`` (the fairseq dictionary it was trained
    with). The summary holds the final validation loss and the unigram baseline, both in bits.
    """
    work_dir = Path(work_dir)
    dict_txt = binarize(train_lines, valid_lines, work_dir)
    logger.info("%s: pretraining masked LM (%d train / %d valid lines, %d updates)...",
                name, len(train_lines), len(valid_lines), spec.max_update)
    valid_loss, last = train_masked_lm(dict_txt.parent, work_dir / "checkpoints", spec, seed)
    Path(out_checkpoint).parent.mkdir(parents=True, exist_ok=True)
    convert_to_legacy(last, out_checkpoint)
    shutil.copyfile(dict_txt, out_dict)
    model, dictionary, _ = load_roberta(out_checkpoint, out_dict)
    baseline = unigram_bits(train_lines, valid_lines)
    summary = {"valid_loss_bits": valid_loss, "unigram_bits": round(baseline, 3),
               "dictionary_size": len(dictionary), "params": sum(p.numel() for p in model.parameters()),
               "spec": asdict(spec)}
    logger.info("%s: validation masked-LM loss %.3f bits vs unigram baseline %.3f bits (%d parameters)",
                name, valid_loss, baseline, summary["params"])
    return summary


def write_json(path, obj):
    """Write ``obj`` as indented JSON."""
    Path(path).write_text(json.dumps(obj, indent=1, sort_keys=True))
