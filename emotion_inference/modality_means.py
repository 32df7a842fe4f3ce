"""Each modality's mean fused vector over a training split, saved next to the checkpoint for explanations.

    emotion-modality-means --checkpoint CKPT --pretrained PRETRAINED --data DATA_DIR [--split train] [--output FILE]
    (or python scripts/modality_means.py ...)

Runs the fine-tuned model over the binarized utterances of ``DATA_DIR`` (the data directory the
model was trained on, prepared by ``emotion-prepare``) and averages, per modality, its part of the
fused vector. The result is a small JSON file, by default ``CKPT`` with the suffix
``.modality_means.json`` (``checkpoint_best.pt`` -> ``checkpoint_best.modality_means.json``), that
:meth:`EmotionRecognizer.from_checkpoint` reads when present: explanations of co-attention and
single-modality models then need neither the training data nor this command again. The file
records a fingerprint of the checkpoint's head, so that means of another checkpoint are refused.
"""
import argparse
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import torch

from emotion_core.files import OutputPathError, atomic_write_text, check_output_path
from emotion_fairseq.safe_checkpoint import CheckpointLoadError
from emotion_tasks.datasets import load_tokens

logger = logging.getLogger(__name__)
SUFFIX = ".modality_means.json"
CHUNK = 256  # utterances read from the data directory at a time


def means_path(checkpoint):
    """Where the means of ``checkpoint`` are saved: its path with ``.modality_means.json`` for its suffix."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + SUFFIX)


def head_fingerprint(model):
    """A short hash of the head's weights: ties a means file to the checkpoint it was computed with."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.head.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class ModalityMeans:
    """{modality: mean part of the fused vector (width,)} over ``utterances`` of ``split``."""

    means: Dict[str, torch.Tensor]
    split: str
    utterances: int
    head: str  # head_fingerprint of the model they were computed with

    def to_json(self):
        return {"split": self.split, "utterances": self.utterances, "head": self.head,
                "means": {m: [float(v) for v in t] for m, t in self.means.items()}}

    @classmethod
    def load(cls, path, model):
        """Read and check a means file against ``model``; ValueError naming the file when it does not fit."""
        path = Path(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: unreadable modality means ({err})") from None
        if not isinstance(obj, dict) or set(obj) != {"split", "utterances", "head", "means"} \
                or not isinstance(obj["means"], dict) or not isinstance(obj["split"], str) \
                or type(obj["utterances"]) is not int or obj["utterances"] < 1:
            raise ValueError(f"{path}: not a modality means file (expected split, utterances >= 1, head and means)")
        widths = model.fusion.widths
        if set(obj["means"]) != set(widths):
            raise ValueError(f"{path}: means of {sorted(obj['means'])}, but the model fuses {sorted(widths)}")
        means = {}
        for modality, width in widths.items():
            values = obj["means"][modality]
            if not isinstance(values, list) or len(values) != width or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                raise ValueError(f"{path}: the {modality} mean must be {width} finite numbers")
            means[modality] = torch.tensor(values, dtype=torch.float32)
        if obj["head"] != head_fingerprint(model):
            raise ValueError(f"{path}: computed with another checkpoint (its head differs from this one's); "
                             "rerun emotion-modality-means for this checkpoint")
        return cls(means, obj["split"], obj["utterances"], obj["head"])


@torch.inference_mode()
def compute_modality_means(recognizer, data_dir, split="train"):
    """Mean fused-vector part per modality over ``split`` of a prepared data directory, with ``recognizer``'s model."""
    from emotion_inference.explain import modality_slices
    from emotion_inference.recognizer import Encoded

    model = recognizer.model
    tokens = {m: load_tokens(str(data_dir), m, split, recognizer.dicts[m], recognizer.max_positions[m])
              for m in recognizer.modalities}
    counts = {len(t) for t in tokens.values()}
    if len(counts) != 1:
        raise ValueError(f"{data_dir}: the modalities of split '{split}' hold different utterance counts {counts}")
    total, sums = counts.pop(), {m: 0.0 for m in recognizer.modalities}
    if total == 0:
        raise ValueError(f"{data_dir}: split '{split}' holds no utterance")
    for start in range(0, total, CHUNK):
        encoded = [Encoded(*(tokens[m][i] if m in tokens else None for m in ("speech", "text")))
                   for i in range(start, min(start + CHUNK, total))]
        for batch in recognizer.batches(encoded):
            fused = model.fused_features(**recognizer.collate([encoded[i] for i in batch])).double()  # (B, D)
            for m, where in modality_slices(model).items():
                sums[m] = sums[m] + fused[:, where].sum(0).cpu()
    means = {m: (s / total).float() for m, s in sums.items()}
    return ModalityMeans(means, split, total, head_fingerprint(model))


def main(argv=None):
    from emotion_inference.recognizer import EmotionRecognizer

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, type=Path, help="fine-tuned checkpoint written by fairseq-train")
    p.add_argument("--pretrained", required=True, type=Path, help="folder with the pretrained layout")
    p.add_argument("--data", required=True, type=Path, help="the prepared data directory the model was trained on")
    p.add_argument("--split", default="train", help="split to average over (default: train)")
    p.add_argument("--output", type=Path, help=f"where to write (default: the checkpoint's path with {SUFFIX})")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(name)s | %(message)s")
    output = args.output or means_path(args.checkpoint)
    try:
        check_output_path(output, [args.checkpoint, args.data, args.pretrained], what="--output")
        recognizer = EmotionRecognizer.from_checkpoint(args.checkpoint, args.pretrained, device=args.device,
                                                       modality_means=None)
        means = compute_modality_means(recognizer, args.data, args.split)
    except (OutputPathError, CheckpointLoadError, FileNotFoundError, ValueError) as err:
        logger.error("%s", err)
        return 1
    atomic_write_text(output, json.dumps(means.to_json()) + "\n")
    logger.info("means of %s over %d utterances of %s/%s written to %s", " and ".join(means.means),
                means.utterances, args.data, args.split, output)
    return 0
