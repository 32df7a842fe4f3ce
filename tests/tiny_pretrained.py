"""Tiny stand-ins for the tests: legacy Speech-BERT / RoBERTa checkpoints and a prepared data directory.

:func:`build_pretrained` writes ``PRETRAINED/bert_kmeans/{bert_kmeans.pt,dict.txt}`` and
``PRETRAINED/roberta.large/{model.pt,dict.txt}`` as fairseq 0.9-era checkpoints (``args``
Namespace, ``model``, ``optimizer_history``, ``extra_state``) of small random RoBERTa models; the
speech one also uses the 2019 parameter names (``decoder.*``, ``emb_layer_norm``) that fairseq
upgrades on load. :func:`build_data` writes a data directory in the contract's format, tokens
binarized by fairseq-preprocess, with labels that the tokens give away (so a model can learn them).
Used until the shared ``demo_assets`` / ``demo_data`` fixtures replace them.
"""
import random
from pathlib import Path

import torch
from fairseq import options
from fairseq.data import Dictionary
from fairseq.models.roberta import RobertaEncoder, RobertaModel
from fairseq_cli import preprocess

from emotion_core.labels import PAPER_CLASSES as EMOTIONS

# name: (symbols, embed dim, layers, heads, ffn dim, max positions)
SPEC = {
    "speech": ([f"{a}-{b}" for a in range(10) for b in range(10)], 48, 2, 4, 96, 64),
    "text": ([str(i) for i in range(1000, 1120)], 64, 2, 4, 128, 32),
}
LAYOUT = {"speech": ("bert_kmeans", "bert_kmeans.pt"), "text": ("roberta.large", "model.pt")}


def _write_dict(path, symbols):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{s} {1000 - i}\n" for i, s in enumerate(symbols)))


def _legacy_args(symbols_dir, dim, layers, heads, ffn, max_positions):
    """A full training Namespace, as fairseq 0.9 stored in checkpoints."""
    parser = options.get_training_parser(default_task="masked_lm")
    return options.parse_args_and_arch(parser, [
        str(symbols_dir), "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base",
        "--encoder-layers", str(layers), "--encoder-embed-dim", str(dim), "--encoder-ffn-embed-dim", str(ffn),
        "--encoder-attention-heads", str(heads), "--tokens-per-sample", str(max_positions),
        "--max-positions", str(max_positions), "--dropout", "0.1", "--attention-dropout", "0.1",
        "--optimizer", "adam", "--lr-scheduler", "polynomial_decay", "--lr", "0.0005",
        "--total-num-update", "1000", "--max-update", "1000"])


def write_checkpoint(path, dict_path, dim, layers, heads, ffn, max_positions, seed=0, names_2019=False):
    """Write a random RoBERTa checkpoint in the legacy format; returns the path."""
    torch.manual_seed(seed)
    args = _legacy_args(dict_path.parent, dim, layers, heads, ffn, max_positions)
    dictionary = Dictionary.load(str(dict_path))
    dictionary.add_symbol("<mask>")
    model = RobertaModel(args, RobertaEncoder(args, dictionary))
    state = model.state_dict()
    if names_2019:
        state = {k.replace("encoder.", "decoder.", 1).replace(".layernorm_embedding.", ".emb_layer_norm."): v
                 for k, v in state.items()}
    torch.save({
        "args": args, "model": state,
        "optimizer_history": [{"criterion_name": "MaskedLmLoss", "optimizer_name": "FairseqAdam",
                               "lr_scheduler_state": {"best": 3.2}, "num_updates": 100}],
        "extra_state": {"epoch": 1, "val_loss": 3.2, "train_iterator": {"epoch": 1, "iterations_in_epoch": 0}},
    }, path)
    return path


def build_pretrained(root):
    """Tiny PRETRAINED/ directory (Speech-BERT and RoBERTa parts of the layout); returns its Path."""
    root = Path(root)
    for i, (modality, (symbols, dim, layers, heads, ffn, max_pos)) in enumerate(SPEC.items()):
        folder, name = LAYOUT[modality]
        dict_path = root / folder / "dict.txt"
        _write_dict(dict_path, symbols)
        write_checkpoint(root / folder / name, dict_path, dim, layers, heads, ffn, max_pos,
                         seed=i, names_2019=modality == "speech")
    return root


def _label(target_type, k, rng):
    if target_type == "regression":
        return f"{(k - 1.5) * 1.6 + rng.uniform(-0.3, 0.3):.3f}"  # scores around -2.4, -0.8, 0.8, 2.4
    return EMOTIONS[k]


def build_data(root, pretrained, target_type="iemocap_binary", sizes=None, seed=0):
    """Prepared data directory with random token lines, every other token a cue of the class.

    Speech lines are 4..90 tokens long (some longer than the tiny Speech-BERT's 64 positions, so
    the task truncates), text lines 3..40 (tiny RoBERTa: 32 positions).
    """
    root, pretrained = Path(root), Path(pretrained)
    sizes = sizes or {"train": 24, "valid": 8, "test": 8}
    rng = random.Random(seed)
    for d in ("label", "ids", "raw"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        classes = [i % len(EMOTIONS) for i in range(n)]
        rng.shuffle(classes)
        lines = {"speech": [], "text": []}
        for k in classes:
            for modality, (symbols, *_rest) in SPEC.items():
                lo, hi = (4, 90) if modality == "speech" else (3, 40)
                length = rng.randint(lo, hi)
                tokens = rng.choices(symbols[len(EMOTIONS):], k=length)
                for i in range(0, length, 2):  # every other token is the class's cue
                    tokens[i] = symbols[k]
                lines[modality].append(" ".join(tokens))
        for modality, text in lines.items():
            (root / "raw" / f"{modality}.{split}").write_text("\n".join(text) + "\n")
        (root / "label" / f"{split}.label").write_text("".join(_label(target_type, k, rng) + "\n" for k in classes))
        (root / "ids" / f"{split}.id").write_text("".join(f"{split}_utt{i:03d}\n" for i in range(n)))
    for modality, (folder, _name) in LAYOUT.items():
        dict_path = pretrained / folder / "dict.txt"
        argv = ["--only-source", "--srcdict", str(dict_path), "--destdir", str(root / modality), "--workers", "1"]
        for s in sizes:
            argv += [f"--{s}pref", str(root / "raw" / f"{modality}.{s}")]
        preprocess.main(options.get_preprocessing_parser().parse_args(argv))  # also copies dict.txt
    return root


_CACHE = {}


def tiny_assets():
    """Build once per test process: {"pretrained": Path, "iemocap_binary"|"multiclass"|"regression": data Path}.

    Lives in a temporary folder removed at exit; tests that modify files copy them first.
    """
    if not _CACHE:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="tiny_ssl_emotion_"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _CACHE["pretrained"] = build_pretrained(root / "pretrained")
        for target_type in ("iemocap_binary", "multiclass", "regression"):
            _CACHE[target_type] = build_data(root / f"data_{target_type}", _CACHE["pretrained"], target_type)
    return dict(_CACHE)


def checkpoint_paths(pretrained):
    """(speech checkpoint, text checkpoint) of a tiny PRETRAINED directory."""
    pretrained = Path(pretrained)
    return tuple(pretrained / folder / name for folder, name in (LAYOUT["speech"], LAYOUT["text"]))
