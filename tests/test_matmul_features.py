"""The opt-in matrix-product feature extractor computes fairseq's vq-wav2vec features (to float rounding)."""
import numpy as np
import pytest
import torch
from torch import nn

from emotion_fast import matmul_features
from emotion_fast.matmul_features import MatmulFeatureExtractor
from emotion_data.speech_tokenizer import SpeechTokenizer
from emotion_demo.vq_wav2vec_standin import build_model, release_args, standin_args
from helpers import fairseq_indices, speechlike

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def features_both_ways(args, wav, seed=0):
    """(fairseq's features, the matrix-product features) of ``wav`` for a model built from ``args``."""
    torch.manual_seed(seed)
    model = build_model(args).eval()
    with torch.inference_mode():
        audio = torch.from_numpy(wav)[None]
        return model.feature_extractor(audio), MatmulFeatureExtractor(model.feature_extractor)(audio)


@pytest.mark.parametrize("overrides", [
    {},  # the release
    {"log_compression": True},  # fairseq 0.12's default
    {"skip_connections_feat": True, "non_affine_group_norm": True},
    {"non_affine_group_norm": True},
    {"conv_feature_layers": "[(32, 10, 5), (48, 7, 3), (48, 3, 2), (48, 1, 1)]"},  # kernel not 2 x stride
])
def test_features_equal_fairseq_to_float_rounding(overrides):
    small = {} if "conv_feature_layers" in overrides else {"conv_feature_layers": standin_args().conv_feature_layers}
    args = release_args(**{**small, **overrides}) if overrides else release_args()
    reference, fast = features_both_ways(args, speechlike(1.37, seed=3))
    assert fast.shape == reference.shape
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layers", [
    None,  # the stand-in's, with the release's kernels and strides
    "[(32, 10, 5), (48, 7, 3), (48, 3, 2), (48, 1, 1)]",  # block 1 with 3 taps
])
@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_features_equal_fairseq_when_block_0_is_made_in_pieces(monkeypatch, layers, chunk):
    """Block 1 reads block 0's output piece by piece: pieces of any size give fairseq's features."""
    monkeypatch.setattr(matmul_features, "CHUNK_FRAMES", chunk)
    args = release_args(conv_feature_layers=layers or standin_args().conv_feature_layers)
    reference, fast = features_both_ways(args, speechlike(0.31, seed=5))
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("frames", [1, 2, 3, 6, 7])
def test_two_taps_take_winograd_products_equal_to_the_direct_sum(frames):
    generator = torch.Generator().manual_seed(frames)
    x, w0, w1 = (torch.randn(shape, generator=generator, dtype=torch.float64)
                 for shape in ((frames + 1, 8), (8, 3), (8, 3)))
    out = matmul_features._conv_rows(x, [w0, w1], w0 + w1, torch.empty(frames, 3, dtype=torch.float64))
    torch.testing.assert_close(out, x[:frames] @ w0 + x[1:] @ w1, rtol=1e-12, atol=1e-12)


def test_features_of_audio_with_a_dc_offset():
    """The group norm's E[x^2] - E[x]^2 keeps its precision when the input sits far from zero."""
    reference, fast = features_both_ways(release_args(), speechlike(1.0, seed=4) + 0.8)
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


def test_no_fairseq_convolution_runs():
    torch.manual_seed(0)
    extractor = build_model(standin_args()).feature_extractor.eval()
    calls = []
    for index, block in enumerate(extractor.conv_layers):
        block[0].register_forward_hook(lambda *_, index=index: calls.append(index))
    with torch.inference_mode():
        MatmulFeatureExtractor(extractor)(torch.from_numpy(speechlike(0.5, seed=1))[None])
    assert calls == []


def test_release_tokens_agree_with_fairseq():
    """Full-size release architecture: tokens equal fairseq's except where two codewords nearly tie."""
    torch.manual_seed(0)
    model = build_model(release_args())
    fast = SpeechTokenizer(model, exact=False)
    differing = frames = 0
    for seed in range(3):
        wav = speechlike(2.5, seed)
        ours, ref = fast.indices(wav), fairseq_indices(model, wav)
        assert ours.shape == ref.shape
        differing += (ours != ref).any(1).sum().item()
        frames += len(ref)
    assert differing <= frames * 0.005, f"{differing} of {frames} frames differ"
    assert SpeechTokenizer(model).features is model.feature_extractor  # the default stays fairseq's


def test_too_short_audio_is_a_clear_error():
    torch.manual_seed(0)
    tok = SpeechTokenizer(build_model(standin_args()), exact=False)
    with pytest.raises(ValueError, match="too short"):
        tok.indices(np.zeros(300, dtype=np.float32))


def test_a_padded_convolution_is_refused():
    torch.manual_seed(0)
    model = build_model(standin_args())
    block = model.feature_extractor.conv_layers[1]
    block[0] = nn.Conv1d(block[0].in_channels, block[0].out_channels, 3, padding=1, bias=False)
    with pytest.raises(ValueError, match="block 1 is not fairseq's vq-wav2vec block"):
        MatmulFeatureExtractor(model.feature_extractor)
