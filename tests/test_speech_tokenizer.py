"""vq-wav2vec k-means tokenization: identical to fairseq's quantizer, legacy checkpoint format, stand-in."""
import argparse

import numpy as np
import pytest
import torch
from fairseq import checkpoint_utils
from fairseq.models.wav2vec import Wav2VecConfig
from fairseq.modules import KmeansVectorQuantizer

from emotion_data import speech_tokenizer
from emotion_data.speech_tokenizer import SpeechTokenizer, nearest_codewords
from emotion_demo.vq_wav2vec_standin import build_model, build_standin, release_args
from helpers import SR, fairseq_indices, speechlike
import emotion_fairseq  # noqa: F401  (the checkpoint allowlist)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """A stand-in checkpoint with its codebook fitted on speech-like audio, and its build summary."""
    path = tmp_path_factory.mktemp("vq") / "vq-wav2vec_kmeans.pt"
    summary = build_standin(path, seed=0, init_audio=[speechlike(2.0, s) for s in range(6)])
    return path, summary


@pytest.fixture(scope="module")
def tok(standin):
    return SpeechTokenizer.from_checkpoint(standin[0])


def test_release_args_build_the_33m_model():
    args = release_args()
    assert isinstance(args, argparse.Namespace)
    missing = {k for k in Wav2VecConfig.__dataclass_fields__ if not k.startswith("_")} - set(vars(args))
    assert not missing, f"release_args() lacks Wav2VecConfig keys {missing}"
    model = build_model(args)
    params = sum(p.numel() for p in model.parameters())
    assert params == pytest.approx(33.0e6, rel=0.005), params
    assert model.vector_quantizer.embedding.shape == (320, 1, 256)
    assert not model.feature_extractor.log_compression
    # full-size architecture: the tokenizer's indices are fairseq's
    torch.manual_seed(1)
    wav = speechlike(3.0, seed=1)
    assert torch.equal(SpeechTokenizer(model).indices(wav), fairseq_indices(model, wav))


def test_standin_checkpoint_has_the_legacy_format(standin):
    path, summary = standin
    raw = torch.load(path, weights_only=True)  # no pickle beyond the allowlist
    assert set(raw) == {"args", "model", "optimizer_history", "extra_state"}
    assert isinstance(raw["args"], argparse.Namespace) and raw["args"].vq_type == "kmeans"
    assert {"criterion_name", "optimizer_name", "lr_scheduler_state", "num_updates"} <= set(raw["optimizer_history"][0])
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path))  # the loader of the real release
    model_cfg = state["cfg"].model
    assert model_cfg.log_compression is False and model_cfg.vq_groups == 2 and model_cfg.combine_groups
    assert state["cfg"].criterion._name == "wav2vec"  # upgraded from binary_cross_entropy
    assert summary["params"] < 1e6


def test_standin_tokens(standin):
    path, summary = standin
    tok = SpeechTokenizer.from_checkpoint(path)  # the loader of the release
    wav = speechlike(1.5, seed=42)
    tokens = tok.tokenize(wav)
    assert len(tokens) == len(wav) // 160 - 2  # 10 ms frames, less the receptive field
    pairs = [tuple(map(int, t.split("-"))) for t in tokens]
    assert all(len(p) == 2 and 0 <= min(p) and max(p) < tok.num_vars for p in pairs)
    assert len(set(tokens)) > 20, "the stand-in's tokens collapsed onto a few codes"
    assert summary["distinct_tokens"] > 50 and min(summary["codebook_usage"]) > 0.3, summary
    assert torch.equal(tok.indices(wav), fairseq_indices(tok.model, wav))


def test_standin_is_deterministic(standin, tmp_path):
    path, _ = standin
    again = tmp_path / "again.pt"
    build_standin(again, seed=0, init_audio=[speechlike(2.0, s) for s in range(6)])
    a, b = torch.load(path, weights_only=True)["model"], torch.load(again, weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("samples", [480, 3200, 16000, 58_321])
def test_indices_identical_to_fairseq(tok, samples):
    wav = speechlike(samples / SR, seed=samples)
    assert torch.equal(tok.indices(wav), fairseq_indices(tok.model, wav))


def test_long_audio_is_cut_as_featurize_does(tok, monkeypatch):
    monkeypatch.setattr(speech_tokenizer, "MAX_SAMPLES", 10_000)
    wav = speechlike(2.0, seed=3)  # 32000 samples -> 4 chunks of 8000
    expected = torch.cat([fairseq_indices(tok.model, chunk.numpy()) for chunk in torch.from_numpy(wav).chunk(4)])
    assert torch.equal(tok.indices(wav), expected)


def test_too_short_audio(tok):
    with pytest.raises(ValueError, match="too short"):
        tok.indices(np.ones(100, dtype=np.float32))


def hard_cases():
    """(codebook, ze) pairs with exact ties, float32 near-ties and large offsets, 1 to 300 frames."""
    gen = torch.Generator().manual_seed(0)
    for case, (vars_, dim, frames, combine) in enumerate(
            [(5, 3, 1, True), (16, 8, 2, False), (64, 32, 3, True), (320, 256, 120, True), (320, 256, 120, False),
             (64, 256, 1, True), (16, 3, 300, False), (320, 32, 120, True)]):
        groups = 1 if combine else 2
        kind = case % 3
        if kind == 0:  # small integers: exact ties, won by the lowest index
            codebook = torch.randint(0, 3, (vars_, groups, dim), generator=gen).float()
            ze = torch.randint(0, 3, (2, dim, frames), generator=gen).float()
        elif kind == 1:  # codewords 1e-6 apart: float32 rounding decides
            base = torch.randn(1, groups, dim, generator=gen)
            codebook = base + 1e-6 * torch.randn(vars_, groups, dim, generator=gen)
            scale = 1e-3 * torch.rand(1, 1, frames, generator=gen)
            ze = base[0].expand(2, dim).unsqueeze(-1) + scale * torch.randn(2, dim, frames, generator=gen)
        else:  # |z|, |e| >> distances: cancellation in |z|^2 - 2 z.e + |e|^2
            codebook = 100 + torch.randn(vars_, groups, dim, generator=gen)
            ze = 100 + torch.randn(2, dim, frames, generator=gen)
        yield codebook, ze.contiguous()


@pytest.mark.parametrize("codebook,ze", list(hard_cases()))
def test_nearest_codewords_hard_cases(codebook, ze):
    vars_, groups, dim = codebook.shape
    vq = KmeansVectorQuantizer(dim=2 * dim, num_vars=vars_, groups=2, combine_groups=groups == 1,
                               vq_dim=2 * dim, time_first=False)
    vq.projection = torch.nn.Identity()  # feed ze directly
    with torch.no_grad():
        vq.embedding.copy_(codebook)
        expected = vq.forward_idx(ze.reshape(1, 2 * dim, -1))[1].squeeze(0)
    assert torch.equal(nearest_codewords(ze, vq.expand_embedding.detach()), expected)
