"""Tiny wav2vec 2.0 and HuBERT stand-ins, pretrained by fairseq-train on the demo corpus, saved as the releases are.

Both go through fairseq's own pretraining, as the releases did, in a working folder that is removed
afterwards:

* ``wav2vec_small.pt``: ``fairseq-train --task audio_pretraining --arch wav2vec2 --criterion wav2vec``
  (contrastive prediction of quantized latent frames) over a fairseq manifest (``train.tsv``,
  ``valid.tsv``: the audio root, then ``path<TAB>num_samples`` lines), saved in the 2020 release's
  *legacy* format: ``args`` (one flat argparse.Namespace of the whole run), ``model``,
  ``optimizer_history``, ``extra_state``, no ``cfg``.
* ``hubert_base_ls960.pt``: ``fairseq-train --task hubert_pretraining --arch hubert`` on k-means
  clusters of MFCC frames, HuBERT's first iteration (:mod:`emotion_demo.mfcc`, labels at 100 per
  second), with the label files ``{split}.km`` and ``dict.km.txt`` in the working folder; saved as
  the release is: ``cfg`` (its task still names the deleted label folder), ``model``,
  ``optimizer_history``, ``extra_state``, and no ``task_state``, so nothing can rebuild the
  pretraining task's dictionaries: loaders must do without them.

The dimensions are tiny (7 convolutions with the releases' kernels and strides, so 20 ms frames,
but 32 channels; 2 transformer layers of 48), and a few hundred updates fit in a minute of CPU. The
validation figures are compared with a trivial baseline: wav2vec 2.0's contrastive loss with a
uniform guess among the true latent and its distractors, HuBERT's masked prediction with the
training labels' unigram frequencies.
"""
import argparse
import collections
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from emotion_demo.mfcc import FRAME_RATE, mfcc
from emotion_demo.pretrain import last_validation, run_fairseq_train
from emotion_demo.vq_wav2vec_standin import kmeans

logger = logging.getLogger(__name__)

CONV_LAYERS = "[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2"  # the releases' kernels and strides, 32 channels
NEGATIVES = 10  # wav2vec 2.0's distractors per masked frame
LATENT_VARS, LATENT_GROUPS = 32, 2  # wav2vec 2.0's quantizer: 32 x 32 codes
CLUSTERS = 32  # HuBERT's k-means targets


@dataclass(frozen=True)
class WaveformSpec:
    """Sizes and schedule of a waveform stand-in (both share the architecture's dimensions)."""

    layers: int  # --encoder-layers
    embed_dim: int  # --encoder-embed-dim
    heads: int  # --encoder-attention-heads
    ffn_dim: int  # --encoder-ffn-embed-dim
    max_update: int  # training updates
    warmup: int  # linear warm-up updates of the polynomial decay schedule
    lr: float  # peak learning rate
    max_tokens: int  # audio samples per batch

    def with_updates(self, max_update, warmup):
        """A copy with another schedule length (e.g. the --small preset)."""
        return WaveformSpec(**{**asdict(self), "max_update": max_update, "warmup": warmup})


WAVEFORM = WaveformSpec(layers=2, embed_dim=48, heads=4, ffn_dim=96, max_update=300, warmup=30, lr=5e-3,
                        max_tokens=200_000)


def write_manifests(wavs, valid_every, dest):
    """fairseq's audio manifests ``dest/{train,valid}.tsv`` (root, then ``path<TAB>samples``): every
    ``valid_every``-th file is held out. Returns {split: [wav paths]} in manifest order."""
    root = Path(wavs[0]).parent
    splits = {"train": [w for i, w in enumerate(wavs) if i % valid_every],
              "valid": [w for i, w in enumerate(wavs) if i % valid_every == 0]}
    for split, files in splits.items():
        lines = [str(root)] + [f"{Path(w).relative_to(root)}\t{sf.info(str(w)).frames}" for w in files]
        (Path(dest) / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return splits


def _architecture(spec, seed, save_dir):
    """fairseq-train arguments shared by both stand-ins: dimensions, optimizer, schedule, logging."""
    return [
        "--conv-feature-layers", CONV_LAYERS, "--encoder-layers", str(spec.layers),
        "--encoder-embed-dim", str(spec.embed_dim), "--encoder-ffn-embed-dim", str(spec.ffn_dim),
        "--encoder-attention-heads", str(spec.heads), "--final-dim", "32", "--conv-pos", "16",
        "--conv-pos-groups", "4", "--encoder-layerdrop", "0.05", "--dropout-input", "0.1",
        "--dropout-features", "0.1", "--feature-grad-mult", "1.0",
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-06", "--weight-decay", "0.01",
        "--lr", str(spec.lr), "--lr-scheduler", "polynomial_decay", "--warmup-updates", str(spec.warmup),
        "--total-num-update", str(spec.max_update), "--max-update", str(spec.max_update),
        "--max-tokens", str(spec.max_tokens), "--seed", str(seed), "--cpu", "--num-workers", "0",
        "--save-dir", str(save_dir), "--no-epoch-checkpoints", "--no-save-optimizer-state",
        "--validate-interval", "1000", "--save-interval", "1000",  # validated and saved once, at the end
        "--log-format", "json", "--log-interval", "100", "--no-progress-bar",
    ]


def wav2vec2_args(work, spec, seed):
    """fairseq-train arguments of the wav2vec 2.0 stand-in (the base recipe's task, criterion and model options).

    Departures from the 400k-update recipe, for a few hundred updates on 1-3 s utterances: the Gumbel
    temperature anneals within them (0.99 per update instead of 0.999995), masked spans are 3 frames
    (not 10) over half of the frames (not 65%), the extractor learns at the full rate and the feature
    penalty is off. With the recipe's values the tiny model stays at the uniform guess in this schedule.
    """
    return [str(work), "--task", "audio_pretraining", "--arch", "wav2vec2", "--criterion", "wav2vec",
            "--infonce", "--log-keys", '["prob_perplexity","code_perplexity","temp"]', "--loss-weights", "[0.1, 0]",
            "--quantize-targets", "--latent-vars", str(LATENT_VARS), "--latent-groups", str(LATENT_GROUPS),
            "--latent-temp", "(2,0.5,0.99)", "--num-negatives", str(NEGATIVES), "--mask-prob", "0.5",
            "--mask-length", "3",
            *_architecture(spec, seed, work / "wav2vec2")]


def hubert_args(work, spec, seed):
    """fairseq-train arguments of the HuBERT stand-in (the base recipe's task, criterion and model options)."""
    return [str(work), "--task", "hubert_pretraining", "--label-dir", str(work), "--labels", '["km"]',
            "--label-rate", str(FRAME_RATE), "--sample-rate", "16000", "--arch", "hubert", "--criterion", "hubert",
            "--pred-masked-weight", "1.0", "--pred-nomask-weight", "0.0", "--loss-weights", "[10,]",
            "--untie-final-proj", "--mask-prob", "0.8", *_architecture(spec, seed, work / "hubert")]


def write_kmeans_labels(splits, dest, seed):
    """HuBERT's first-iteration targets: k-means clusters of the training MFCC frames (``dest/{split}.km``, one
    line of cluster ids per utterance, in manifest order) and ``dest/dict.km.txt``. Returns the unigram
    baseline: ({"unigram_bits": cross-entropy of the valid labels under the train frequencies,
    "majority_accuracy": the commonest training cluster's frequency})."""
    feats = {split: [mfcc(sf.read(str(w), dtype="float32")[0]) for w in files] for split, files in splits.items()}
    train = np.concatenate(feats["train"])
    mean, std = train.mean(0), train.std(0) + 1e-8
    centroids = kmeans(torch.from_numpy((train - mean) / std).double(), CLUSTERS, seed)
    labels = {}
    for split, utterances in feats.items():
        labels[split] = [torch.cdist(torch.from_numpy((x - mean) / std).double(), centroids).argmin(-1).tolist()
                         for x in utterances]
        (Path(dest) / f"{split}.km").write_text("".join(" ".join(map(str, u)) + "\n" for u in labels[split]))
    (Path(dest) / "dict.km.txt").write_text("".join(f"{k} 1\n" for k in range(CLUSTERS)))
    counts = collections.Counter(k for u in labels["train"] for k in u)
    total = sum(counts.values()) + CLUSTERS  # add-one smoothing
    valid = [k for u in labels["valid"] for k in u]
    return {"unigram_bits": round(-sum(math.log2((counts[k] + 1) / total) for k in valid) / len(valid), 3),
            "majority_accuracy": round(max(counts.values()) / sum(counts.values()), 4)}


def release_args(state):
    """A 0.12 ``cfg`` (a dict of groups) flattened into the one Namespace of the 2020 releases' ``args``."""
    cfg = state["cfg"]
    flat = {k: v for group in cfg.values() if isinstance(group, dict) for k, v in group.items() if k != "_name"}
    flat.update(arch=cfg["model"]["_name"], task=cfg["task"]["_name"], criterion=cfg["criterion"]["_name"],
                optimizer=cfg["optimizer"]["_name"], lr_scheduler=cfg["lr_scheduler"]["_name"])
    return argparse.Namespace(**flat)


def save_release(src, dst, legacy):
    """Keep a fairseq-train checkpoint's final weights in a release's format: legacy ``args`` (wav2vec_small.pt)
    or ``cfg`` without ``task_state`` (hubert_base_ls960.pt)."""
    import emotion_fairseq  # noqa: F401  (the checkpoint allowlist)

    state = torch.load(str(src), map_location="cpu", weights_only=True)
    release = {"args": release_args(state) if legacy else None, "model": state["model"],
               "optimizer_history": state["optimizer_history"], "extra_state": state["extra_state"]}
    if not legacy:
        release["cfg"] = state["cfg"]
    torch.save(release, str(dst))


def check_release(path):
    """Load a saved stand-in as the plugin loads a release and run it on a second of noise: its parameter count."""
    from fairseq import checkpoint_utils

    from emotion_models.waveform import WaveformEncoder, waveform_args

    args, weights = waveform_args(checkpoint_utils.load_checkpoint_to_cpu(str(path)), path)
    encoder = WaveformEncoder(args, weights).eval()
    with torch.no_grad():
        summary, frames, _ = encoder.encode(0.1 * torch.randn(1, 16000))
    assert torch.isfinite(frames).all() and frames.shape[1] == 49, f"{path}: unexpected features {tuple(frames.shape)}"
    return sum(p.numel() for p in encoder.parameters())


def pretrain_waveform_standins(wavs, valid_every, out_wav2vec2, out_hubert, spec, seed, work):
    """Pretrain both stand-ins side by side on ``wavs`` (16 kHz files), save them as the releases; returns
    {"wav2vec2": summary, "hubert": summary} with validation figures beside their baselines."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    splits = write_manifests(wavs, valid_every, work)
    hubert_baseline = write_kmeans_labels(splits, work, seed)
    logger.info("waveform stand-ins: pretraining wav2vec 2.0 and HuBERT (%d train / %d valid files, %d updates)...",
                len(splits["train"]), len(splits["valid"]), spec.max_update)
    with ThreadPoolExecutor(2) as pool:  # two fairseq-train processes, one per core
        logs = list(pool.map(run_fairseq_train, [wav2vec2_args(work, spec, seed), hubert_args(work, spec, seed)],
                             [work / "wav2vec2", work / "hubert"]))
    w2v, hub = (last_validation(log, f"{work / name}/train.log") for log, name in zip(logs, ("wav2vec2", "hubert")))
    save_release(work / "wav2vec2" / "checkpoint_last.pt", out_wav2vec2, legacy=True)
    save_release(work / "hubert" / "checkpoint_last.pt", out_hubert, legacy=False)
    common = {"updates": spec.max_update, "spec": asdict(spec), "conv_feature_layers": CONV_LAYERS}
    report = {
        "wav2vec2": {"valid_contrastive_bits": w2v["loss_0"], "uniform_bits": round(math.log2(1 + NEGATIVES), 3),
                     "valid_accuracy": w2v["accuracy"], "chance_accuracy": round(1 / (1 + NEGATIVES), 4),
                     "valid_code_perplexity": w2v["code_perplexity"], "codes": LATENT_VARS ** LATENT_GROUPS,
                     "params": check_release(out_wav2vec2), **common},
        "hubert": {"valid_masked_bits": hub["loss_m_0"], **hubert_baseline, "valid_accuracy": hub["correct_m_0"],
                   "clusters": CLUSTERS, "label_rate": FRAME_RATE, "params": check_release(out_hubert), **common},
    }
    for name, r in report.items():
        logger.info("%s stand-in: %s", name, {k: v for k, v in r.items() if k not in ("spec", "conv_feature_layers")})
    return report
