"""The released vq-wav2vec k-means model's arguments, and a small stand-in saved in its format.

The release (``vq-wav2vec_kmeans.pt``) is a legacy fairseq checkpoint: ``args`` (argparse.Namespace),
``model``, ``optimizer_history``, ``extra_state``. :func:`release_args` reconstructs its arguments
from fairseq's history (examples/wav2vec/README.md, k-means variant), setting every key of fairseq
0.12's ``Wav2VecConfig`` explicitly (0.12 changed some defaults, e.g. ``log_compression=True``).
:func:`build_standin` writes a shrunk model with the same keys and the same 10 ms frame rate.

>>> summary = build_standin("pretrained/vq-wav2vec_kmeans.pt", seed=0)  # doctest: +SKIP
"""
import argparse
import logging

import numpy as np
import torch
from fairseq.models.wav2vec import Wav2VecConfig, Wav2VecModel

logger = logging.getLogger(__name__)

RELEASE_FEATURE_LAYERS = "[(512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), " \
                         "(512, 1, 1), (512, 1, 1), (512, 1, 1)]"  # total stride 160: 10 ms frames
RELEASE_AGGREGATOR_LAYERS = "[(512, 2, 1), (512, 3, 1), (512, 4, 1), (512, 5, 1), (512, 6, 1), " \
                            "(512, 7, 1), (512, 8, 1), (512, 9, 1), (512, 10, 1), (512, 11, 1), " \
                            "(512, 12, 1), (512, 13, 1)]"
STANDIN_DIM = 64  # channels of the stand-in's conv layers
STANDIN_FEATURE_LAYERS = str([(STANDIN_DIM, 10, 5), (STANDIN_DIM, 8, 4), (STANDIN_DIM, 4, 2),
                              (STANDIN_DIM, 4, 2), (STANDIN_DIM, 4, 2), (STANDIN_DIM, 1, 1),
                              (STANDIN_DIM, 1, 1), (STANDIN_DIM, 1, 1)])  # same strides as the release
STANDIN_AGGREGATOR_LAYERS = str([(STANDIN_DIM, 2, 1), (STANDIN_DIM, 3, 1)])  # unused by tokenization
STANDIN_VARS = 32  # codewords per group: 32 x 32 = 1024 possible "g0-g1" tokens
MAX_KMEANS_POINTS = 100_000  # feature vectors sampled for the codebook's k-means


def release_args(**overrides):
    """argparse.Namespace of the released vq-wav2vec k-means model (33.0 M parameters)."""
    args = dict(
        # model: every key of fairseq 0.12's Wav2VecConfig
        arch="wav2vec",
        prediction_steps=12,  # CPC steps predicted ahead
        sample_distance=None,  # negatives drawn from the whole utterance
        cross_sample_negatives=0,  # negatives from other utterances
        num_negatives=10,  # negatives per step
        conv_feature_layers=RELEASE_FEATURE_LAYERS,  # (dim, kernel, stride) of the feature extractor
        conv_aggregator_layers=RELEASE_AGGREGATOR_LAYERS,  # (dim, kernel, stride) of the aggregator
        dropout=0.0,
        dropout_features=0.0,
        dropout_agg=0.0,
        aggregator="cnn",
        gru_dim=512,  # unused with the cnn aggregator
        no_conv_bias=False,
        agg_zero_pad=False,  # replicate-pad the aggregator
        skip_connections_feat=False,
        skip_connections_agg=True,
        residual_scale=0.5,  # residuals scaled by sqrt(0.5)
        log_compression=False,  # the release has none; fairseq 0.12's default is True
        balanced_classes=False,
        project_features="none",
        non_affine_group_norm=False,
        offset="auto",
        activation="gelu",
        vq_type="kmeans",
        vq_vars=320,  # codewords per group
        vq_groups=2,  # two indices per frame: the "g0-g1" token
        vq_dim=0,  # 0: model dim (512), split over 2 groups -> codebook (320, 1, 256)
        vq_depth=2,  # used by the gumbel quantizer only
        combine_groups=True,  # one codebook shared by both groups
        vq_temp=(2.0, 0.5, 0.999995),  # used by the gumbel quantizer only
        vq_gamma=0.25,  # commitment loss weight
        infonce=False,  # binary cross-entropy CPC loss
        # training, as in examples/wav2vec/README.md with "--vq-type kmeans --loss-weights [1]"
        task="audio_pretraining",
        data="/manifest/path",
        sample_rate=16000,
        normalize=False,
        max_sample_size=150000,
        min_sample_size=None,
        criterion="binary_cross_entropy",  # fairseq's loader upgrades it to "wav2vec"
        loss_weights=[1.0],
        log_keys=["code_perplexity"],
        optimizer="adam",
        adam_betas="(0.9, 0.999)",
        adam_eps=1e-08,
        weight_decay=0.0,
        lr=[1e-05],
        lr_scheduler="cosine",
        warmup_updates=1000,
        warmup_init_lr=1e-07,
        min_lr=1e-06,  # fairseq's loader renames it to stop_min_lr
        max_update=400000,
        max_tokens=300000,
        update_freq=[1],
        fp16=True,
        seed=2,
        num_workers=6,
        skip_invalid_size_inputs_valid_test=True,
    )
    args.update(overrides)
    return argparse.Namespace(**args)


def standin_args(vq_vars=STANDIN_VARS):
    """The release's keys with small dimensions (64 channels, 2 aggregator layers, ``vq_vars`` codes)."""
    return release_args(conv_feature_layers=STANDIN_FEATURE_LAYERS,
                        conv_aggregator_layers=STANDIN_AGGREGATOR_LAYERS,
                        gru_dim=STANDIN_DIM, vq_vars=vq_vars, max_update=1000, fp16=False)


def build_model(args):
    """Build the fairseq Wav2VecModel of a legacy ``args`` Namespace from its Wav2VecConfig keys."""
    cfg = Wav2VecConfig(**{name: getattr(args, name) for name in Wav2VecConfig.__dataclass_fields__
                            if not name.startswith("_")})
    return Wav2VecModel(cfg).eval()


def _projected_features(model, wavs):
    """Quantizer inputs of each 16 kHz array, pooled: (frames x groups, var_dim) float64."""
    vq = model.vector_quantizer
    out = []
    with torch.inference_mode():
        for wav in wavs:
            ze = vq.projection(model.feature_extractor(torch.as_tensor(wav, dtype=torch.float32)[None]))
            out.append(ze.view(vq.groups, vq.var_dim, -1).permute(2, 0, 1).reshape(-1, vq.var_dim))
    return torch.cat(out).double()


def kmeans(points, k, seed, iterations=10):
    """Seeded Lloyd k-means of (N, D) points from a random sample of k of them: (k, D) centroids."""
    gen = torch.Generator().manual_seed(seed)
    assert len(points) >= k, f"k-means needs at least {k} feature frames, got {len(points)}: pass more audio"
    if len(points) > MAX_KMEANS_POINTS:  # a seeded sample is plenty for a few dozen centroids
        points = points[torch.randperm(len(points), generator=gen)[:MAX_KMEANS_POINTS]]
    centroids = points[torch.randperm(len(points), generator=gen)[:k]].clone()
    for _ in range(iterations):
        assign = torch.cdist(points, centroids).argmin(-1)
        for j in range(k):
            members = points[assign == j]
            # an empty cluster restarts on a random point
            centroids[j] = members.mean(0) if len(members) else points[torch.randint(len(points), (1,), generator=gen)][0]
    return centroids


def codebook_usage(model, wavs):
    """Fraction of codewords used, per group, and distinct "g0-g1" tokens on ``wavs``."""
    from emotion_data.speech_tokenizer import SpeechTokenizer

    tok = SpeechTokenizer(model)
    idx = torch.cat([tok.indices(w) for w in wavs])  # (frames, groups)
    per_group = [len(idx[:, g].unique()) / tok.num_vars for g in range(idx.shape[1])]
    return {"codebook_usage": per_group, "distinct_tokens": len({tuple(r) for r in idx.tolist()}),
            "frames": len(idx)}


def build_standin(out_path, seed=0, init_audio=None, vq_vars=STANDIN_VARS):
    """Write a small random vq-wav2vec k-means model to ``out_path`` in the release's legacy format.

    With ``init_audio`` (list of 16 kHz float arrays) the codebook is fitted by k-means on that
    audio's projected features, so that the tokens vary with the input. Deterministic for a seed.
    Returns a summary: parameter count and, with ``init_audio``, the codebook usage on it.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: thread synchronisation would cost more than it saves
    try:
        return _build_standin(out_path, seed, init_audio, vq_vars)
    finally:
        torch.set_num_threads(threads)


def _build_standin(out_path, seed, init_audio, vq_vars):
    torch.manual_seed(seed)
    args = standin_args(vq_vars)
    model = build_model(args)
    summary = {"params": sum(p.numel() for p in model.parameters())}
    if init_audio is not None:
        vq = model.vector_quantizer
        points = _projected_features(model, init_audio)  # (frames x groups, var_dim)
        assert vq.combine_groups, "the stand-in shares one codebook between groups, as the release"
        with torch.no_grad():
            vq.embedding.copy_(kmeans(points, vq.num_vars, seed).float().unsqueeze(1))  # (V, 1, var_dim)
        summary.update(codebook_usage(model, init_audio))
    state = {
        "args": args,
        "model": model.state_dict(),
        "optimizer_history": [{"criterion_name": "BinaryCrossEntropyCriterion", "optimizer_name": "FairseqAdam",
                               "lr_scheduler_state": {"best": np.float64(2.5)}, "num_updates": 0}],
        "extra_state": {"train_iterator": {"epoch": 1, "iterations_in_epoch": 0}, "val_loss": np.float64(2.5)},
    }
    torch.save(state, str(out_path))
    logger.info("vq-wav2vec stand-in %s: %s", out_path, summary)
    return summary
