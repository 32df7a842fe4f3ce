"""What the safe loading costs: load time of full-size checkpoints with and without the plugin's checks.

Writes random-weight checkpoints in the formats of the releases (a legacy ``args`` Namespace, the
weights, ``optimizer_history``, ``extra_state``: RoBERTa-large 355M, Speech-BERT 93M parameters, the
vq-wav2vec k-means release architecture)
and times fairseq's ``load_checkpoint_to_cpu`` twice per repeat, interleaved: *checked* (the plugin's
allowlist, configuration-string and content checks) and *unchecked* (the allowlist alone, fairseq's
own upgrade), and times the checks alone on the loaded content. On a machine shared with other jobs
the minimum over repeats is the figure to read (noise only adds time). Prints one JSON object.

    python -m emotion_bench.checkpoint_load [--repeats 3] [--dir DIR]
"""
import argparse
import contextlib
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from fairseq import checkpoint_utils
from fairseq.models import ARCH_CONFIG_REGISTRY
from fairseq.models.roberta import RobertaEncoder, RobertaModel

from emotion_fairseq.safe_checkpoint import check_config_strings, check_finite, check_structure
from emotion_bench.latency import ROBERTA_LARGE, SPEECH_BERT, TEXT_SYMBOLS, dictionary
from emotion_demo.vq_wav2vec_standin import build_model as build_wav2vec, release_args

HISTORY = [{"criterion_name": "MaskedLmLoss", "optimizer_name": "FairseqAdam", "lr_scheduler_state": {"best": 1.0},
            "num_updates": 1}]


def save_legacy(path, args, model):
    """``model``'s random weights saved with a legacy ``args`` Namespace, as the 2019 releases are."""
    torch.save({"args": args, "model": model.state_dict(), "optimizer_history": HISTORY,
                "extra_state": {"train_iterator": {"epoch": 1, "iterations_in_epoch": 0}, "val_loss": 1.0}}, path)
    return path


def roberta_checkpoint(path, args, symbols):
    """A random-weight RoBERTa of the given size saved as roberta.large/model.pt is; returns (path, model)."""
    ns = argparse.Namespace(**args, tokens_per_sample=args["max_positions"], task="masked_lm", criterion="masked_lm")
    ARCH_CONFIG_REGISTRY[args["arch"]](ns)
    model = RobertaModel(ns, RobertaEncoder(ns, dictionary(symbols)))
    return save_legacy(path, ns, model), model


@contextlib.contextmanager
def unchecked():
    """fairseq's loader with the allowlist only: the configuration and content checks taken out."""
    checked = checkpoint_utils._upgrade_state_dict
    checkpoint_utils._upgrade_state_dict = checked.__wrapped__
    try:
        yield
    finally:
        checkpoint_utils._upgrade_state_dict = checked


def time_load(path, model):
    """Seconds to load ``path`` and copy its weights into ``model``."""
    t0 = time.perf_counter()
    model.load_state_dict(checkpoint_utils.load_checkpoint_to_cpu(str(path))["model"], strict=True)
    return time.perf_counter() - t0


def time_checks(path):
    """Seconds the plugin's three checks take on the raw content of ``path`` (loaded under the allowlist)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    t0 = time.perf_counter()
    check_structure(state)
    check_config_strings(state)
    check_finite(state["model"])
    return time.perf_counter() - t0


def measure(folder, repeats=3):
    """{format: {"checked_s", "unchecked_s", "checks_s", "overhead"}}: minima over interleaved repeats."""
    folder = Path(folder)
    wav2vec = build_wav2vec(release_args())
    files = {
        "roberta.large": roberta_checkpoint(folder / "roberta_large.pt", ROBERTA_LARGE, (str(i) for i in range(TEXT_SYMBOLS))),
        "speech_bert": roberta_checkpoint(folder / "bert_kmeans.pt", SPEECH_BERT,
                                          (f"{a}-{b}" for a in range(320) for b in range(320))),
        "vq-wav2vec_kmeans": (save_legacy(folder / "vq-wav2vec_kmeans.pt", release_args(), wav2vec), wav2vec),
    }
    out = {}
    for name, (path, model) in files.items():
        time_load(path, model)  # page cache warm for both
        checked, plain, checks = [], [], []
        for _ in range(repeats):
            checked.append(time_load(path, model))
            with unchecked():
                plain.append(time_load(path, model))
            checks.append(time_checks(path))
        c, u, k = min(checked), min(plain), min(checks)
        out[name] = {"size_mb": round(path.stat().st_size / 2 ** 20, 1), "checked_s": round(c, 3),
                     "unchecked_s": round(u, 3), "checks_s": round(k, 4), "overhead": round(k / u, 4),
                     "median_checked_s": round(statistics.median(checked), 3),
                     "median_unchecked_s": round(statistics.median(plain), 3)}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats per format")
    p.add_argument("--dir", type=Path, help="where to write the checkpoints (default: a temporary folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = measure(tmp, args.repeats)
    print(json.dumps({"checkpoint_load": result, "machine": platform.processor() or platform.machine(),
                      "threads": torch.get_num_threads()}, indent=1))
    return 0


if __name__ == "__main__":
    main()
