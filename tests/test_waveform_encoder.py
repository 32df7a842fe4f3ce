"""Waveform speech encoders (emotion_models/waveform.py) against fairseq's own wav2vec 2.0, HuBERT and data2vec models.

Tiny random checkpoints in the releases' formats (tests/tiny_waveform.py): pretraining checkpoints with a
``cfg`` or legacy ``args``, and fine-tuned CTC checkpoints holding their encoder's config in ``w2v_args``.
"""
import pytest
import torch
import torch.nn.functional as F
from fairseq.models import ARCH_CONFIG_REGISTRY
from helpers import first_batch, make_model, make_task
from omegaconf import OmegaConf
from tiny_pretrained import checkpoint_paths, tiny_assets
from tiny_waveform import DIMS, reference_model, save_ctc, save_pretraining

from emotion_core.constants import MAX_SPEECH_SAMPLES
from emotion_fast import cpu_dropout
from emotion_fast.cpu_dropout import ChunkedDropoutAttention, MaskTorchDropout
from emotion_fairseq.safe_checkpoint import CheckpointLoadError
from emotion_models.encoders import read_checkpoint
from emotion_models.ssl_emotion import SSLEmotionConfig
from emotion_models.waveform import PRETRAINING_ONLY, WaveformCheckpointError, WaveformEncoder

FORMATS = {
    "wav2vec2_cfg": lambda path: save_pretraining(path, "wav2vec2"),
    "wav2vec2_legacy_args": lambda path: save_pretraining(path, "wav2vec2", legacy=True),
    "hubert_cfg": lambda path: save_pretraining(path, "hubert"),
    "data2vec_audio_cfg": lambda path: save_pretraining(path, "data2vec_audio"),
    "wav2vec2_ctc": lambda path: save_ctc(path, "wav2vec2"),
    "hubert_ctc": lambda path: save_ctc(path, "hubert"),
    "data2vec_audio_ctc": lambda path: save_ctc(path, "data2vec_audio"),
}


def padded_batch(lengths=(12000, 8000, 5000), seed=0):
    """(B, S) noise waveforms right-padded with zeros, and their (B, S) padding mask."""
    gen = torch.Generator().manual_seed(seed)
    source = 0.1 * torch.randn(len(lengths), max(lengths), generator=gen)
    padding = torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]
    return source.masked_fill(padding, 0.0), padding


def encoder(path, **kwargs):
    args, weights = read_checkpoint(path, "speech")
    return WaveformEncoder(args, weights, **kwargs)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_features_equal_fairseqs_model(fmt, tmp_path):
    path = FORMATS[fmt](tmp_path / "model.pt")
    ours, theirs = encoder(path).eval(), reference_model(path)
    source, padding = padded_batch()
    with torch.no_grad():
        features, frame_padding = ours(source, padding)
        out = theirs.extract_features(source, padding, mask=False)
    expected, expected_padding = (out["x"], out["padding_mask"]) if isinstance(out, dict) else out
    assert features.shape == (3, 37, DIMS["encoder_embed_dim"])  # 20 ms frames
    torch.testing.assert_close(features, expected, rtol=0, atol=0)
    assert torch.equal(frame_padding, expected_padding) and frame_padding.sum(1).tolist()[0] == 0


def test_pretraining_modules_and_the_pretraining_tasks_dictionaries_are_left_out(tmp_path):
    path = save_pretraining(tmp_path / "hubert.pt", "hubert")  # its task names label files that do not exist
    state = torch.load(str(path), weights_only=True)
    assert "label_embs_concat" in state["model"] and "final_proj.weight" in state["model"]
    assert "task_state" not in state and state["cfg"]["task"]["label_dir"] == "/gone/labels"
    ours = encoder(path)
    names = set(ours.model.state_dict())
    assert not [n for n in names if n.startswith(PRETRAINING_ONLY)]
    assert names == set(state["model"]) - {"label_embs_concat", "final_proj.weight", "final_proj.bias"}
    rebuilt = WaveformEncoder(read_checkpoint(path, "speech")[0])  # from the stored args alone: the same modules
    assert set(rebuilt.model.state_dict()) == names


def test_each_utterance_is_normalized_over_its_real_samples(tmp_path):
    """Encoders pretrained with the task's normalize (the large releases) read each utterance scaled to zero mean
    and unit variance, as fairseq's audio datasets scale it before padding."""
    path = save_pretraining(tmp_path / "large.pt", "wav2vec2", normalize=True, extractor_mode="layer_norm",
                            layer_norm_first=True)
    ours, theirs = encoder(path).eval(), reference_model(path)
    assert ours.normalize
    source, padding = padded_batch()
    with torch.no_grad():
        features, frame_padding = ours(source, padding)
        for i, n in enumerate((~padding).sum(1).tolist()):
            alone = F.layer_norm(source[i, :n], (n,))[None]
            expected = theirs.extract_features(alone, None, mask=False)["x"][0]
            torch.testing.assert_close(features[i, : len(expected)], expected, atol=1e-5, rtol=1e-4)
            assert not frame_padding[i, : len(expected)].any() and frame_padding[i, len(expected):].all()


def test_weighted_layers_are_the_transformers_input_and_every_layers_output(tmp_path):
    path = save_pretraining(tmp_path / "model.pt", "wav2vec2")
    ours, theirs = encoder(path, pooling="weighted_layers").eval(), reference_model(path)
    assert ours.layer_weights.weights.shape == (DIMS["encoder_layers"] + 1,)
    source, padding = padded_batch()
    without_layers = reference_model(path)
    without_layers.encoder.layers = torch.nn.ModuleList()
    with torch.no_grad():
        out = theirs.extract_features(source, padding, mask=False)
        expected = [without_layers.extract_features(source, padding, mask=False)["x"]]  # the transformer's input
        expected += [x.transpose(0, 1) for x, _, _ in out["layer_results"][:-1]] + [out["x"]]
        real = ~out["padding_mask"]
        for i, state in enumerate(expected):
            one_hot = torch.full_like(ours.layer_weights.weights, -1e4)
            one_hot[i] = 0.0
            ours.layer_weights.weights.copy_(one_hot)
            summary, frames, frame_padding = ours.encode(source, padding)
            torch.testing.assert_close(frames[real], state[real], atol=1e-5, rtol=1e-4, msg=f"state {i}")
            mean = (state * real[..., None]).sum(1) / real.sum(1, keepdim=True)
            torch.testing.assert_close(summary, mean, atol=1e-5, rtol=1e-4)


def test_layer_drop_keeps_one_state_per_layer(tmp_path):
    path = save_pretraining(tmp_path / "model.pt", "hubert")
    ours = encoder(path, pooling="weighted_layers", overrides={"encoder_layerdrop": 0.5}).train()
    assert ours.model.encoder.layerdrop == 0.5
    source, padding = padded_batch()
    torch.manual_seed(0)
    for _ in range(6):  # some layers dropped, sometimes all of them
        summary, frames, _ = ours.encode(source, padding)
        assert summary.shape == (3, DIMS["encoder_embed_dim"]) and torch.isfinite(frames).all()


def _model(task, speech_checkpoint, arch="ssl_emotion_shallow", **overrides):
    _, text = checkpoint_paths(tiny_assets()["pretrained"])
    cfg = OmegaConf.structured(SSLEmotionConfig(speech_checkpoint=str(speech_checkpoint), text_checkpoint=str(text),
                                                dropout=0.0, attention_dropout=0.0, pooler_dropout=0.0, **overrides))
    cfg._name = arch
    ARCH_CONFIG_REGISTRY[arch](cfg)
    return task.build_model(cfg)


def _net_input(model):
    """Four utterances: noise as audio, the tiny data's text tokens (read by a task without a waveform model)."""
    source, padding = padded_batch((9000, 6000, 12000, 4000))
    text = first_batch(make_task(), batch_size=4)["net_input"]["text_tokens"]
    return {"speech_source": source, "speech_padding_mask": padding,
            "text_tokens": text[:, : model.encoder_max_positions().get("text", text.size(1))]}


@pytest.mark.parametrize("arch", ["ssl_emotion_shallow", "ssl_emotion_coattn", "ssl_emotion_speech_only"])
def test_the_model_reads_audio_with_every_architecture(arch, tmp_path):
    task = make_task()
    model = _model(task, save_pretraining(tmp_path / "w.pt", "wav2vec2"), arch)
    assert model.speech_input == "waveform" and model.encoder_max_positions()["speech"] == MAX_SPEECH_SAMPLES
    assert model.cfg.speech_args["_name"] == "wav2vec2"  # stored: a checkpoint rebuilds without the file
    assert model(**_net_input(model)).shape == (4, 4, 2)


def test_the_feature_extractor_is_frozen_unless_asked(tmp_path):
    task = make_task()
    path = save_pretraining(tmp_path / "w.pt", "hubert")
    for train_extractor in (False, True):
        model = _model(task, path, train_feature_extractor=train_extractor).train()
        model(**_net_input(model)).sum().backward()
        speech = model.encoders["speech"].model
        extractor = [p.grad for p in speech.feature_extractor.parameters()]
        assert all(g is not None for g in extractor) == train_extractor
        assert all(p.requires_grad for p in speech.feature_extractor.parameters()) == train_extractor
        assert float(speech.encoder.layers[0].fc1.weight.grad.abs().sum()) > 0


def test_frozen_waveform_encoders_stay_in_eval_mode_and_only_the_layer_weights_learn(tmp_path):
    task = make_task()
    model = _model(task, save_pretraining(tmp_path / "w.pt", "wav2vec2"), freeze_ssl=True,
                   speech_pooling="weighted_layers").train()
    speech = model.encoders["speech"]
    assert not speech.model.training and not any(m.training for m in speech.model.modules())
    model(**_net_input(model)).sum().backward()
    assert all(p.grad is None for p in speech.model.parameters())
    assert speech.layer_weights.weights.grad is not None and speech.layer_weights.weights.requires_grad
    counts = model.parameter_counts()
    assert counts["new_breakdown"]["encoder.speech.layer_weights"] == DIMS["encoder_layers"] + 1
    with pytest.raises(ValueError, match="weighted_layers"):
        _model(task, tmp_path / "w.pt", freeze_ssl=True, cache_frozen_features=True, speech_pooling="weighted_layers")


def test_checkpoints_that_cannot_give_an_encoder_are_named(tmp_path):
    ctc = save_ctc(tmp_path / "ctc.pt", "wav2vec2", with_args=False)
    with pytest.raises(WaveformCheckpointError, match=r"ctc\.pt: .*no w2v_args.*'/gone/pretrained\.pt'"):
        read_checkpoint(ctc, "speech")
    pretraining = save_pretraining(tmp_path / "w.pt", "wav2vec2")
    with pytest.raises(ValueError, match=r"w\.pt is a wav2vec 2\.0 speech checkpoint: --text-checkpoint needs"):
        read_checkpoint(pretraining, "text")
    args, weights = read_checkpoint(pretraining, "speech")
    with pytest.raises(WaveformCheckpointError, match="do not fit the model"):
        WaveformEncoder({**args, "encoder_embed_dim": 48}, weights)


def test_a_payload_in_a_waveform_checkpoints_conv_layers_never_runs(tmp_path):
    path = save_pretraining(tmp_path / "w.pt", "hubert")
    marker = tmp_path / "ran"
    state = torch.load(str(path), weights_only=True)
    state["cfg"]["model"]["conv_feature_layers"] = f"[__import__('pathlib').Path({str(marker)!r}).touch(), None][1]"
    torch.save(state, str(path))
    with pytest.raises(CheckpointLoadError, match=r"w\.pt: refused: .*conv_feature_layers"):
        read_checkpoint(path, "speech")
    assert not marker.exists()


def test_fast_cpu_dropout_reaches_the_waveform_layers_and_keeps_their_function(monkeypatch, tmp_path):
    """--fast-cpu-dropout switches the encoder's nn.Dropout and self-attention layers; with masks keeping every
    entry, the training outputs and gradients are fairseq's own (its dropouts set to 0)."""
    monkeypatch.setattr(cpu_dropout, "keep_mask", lambda shape, p: (torch.ones(shape, dtype=torch.bool), 1.0))
    task = make_task()
    path = save_pretraining(tmp_path / "w.pt", "hubert")
    plain = _model(task, path).train()
    fast = _model(task, path, fast_cpu_dropout=True).train()
    fast.load_state_dict(plain.state_dict())
    switched = {type(m) for m in fast.encoders["speech"].modules()}
    assert {ChunkedDropoutAttention, MaskTorchDropout} <= switched and torch.nn.Dropout not in switched
    for module in fast.encoders["speech"].modules():
        if isinstance(module, (MaskTorchDropout, ChunkedDropoutAttention)):
            getattr(module, "dropout_module", module).p = 0.1  # the fast paths run; their masks keep everything
    net_input = _net_input(plain)
    outs = [model(**net_input) for model in (plain, fast)]
    assert torch.allclose(outs[1], outs[0], atol=1e-5)
    grads = [torch.autograd.grad(out.pow(2).sum(), [p for p in model.parameters() if p.requires_grad])
             for out, model in zip(outs, (plain, fast))]
    for ours, reference in zip(grads[1], grads[0]):
        assert torch.allclose(ours, reference, atol=1e-5)


def _conv_calls(enc):
    """A list that grows by one at each run of the encoder's first convolution block."""
    calls = []
    enc.model.feature_extractor.conv_layers[0].register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_extractor_cache_computes_each_utterance_once_and_alone(tmp_path):
    path = save_pretraining(tmp_path / "w.pt", "wav2vec2")
    cached, plain = encoder(path, cache_extractor=True), encoder(path)
    source, padding = padded_batch()
    keys, lengths = torch.tensor([5, 6, 7]), (~padding).sum(1)
    calls, extractor = _conv_calls(cached), cached.model.feature_extractor
    with torch.no_grad():
        first = cached.encode(source, padding, feature_keys=keys)
        assert len(calls) == 3 and extractor.misses == 3  # one utterance at a time
        second = cached.encode(source, padding, feature_keys=keys)
        assert len(calls) == 3 and extractor.hits == 3  # read back: the extractor does not run
        for a, b in zip(first, second):
            assert torch.equal(a, b)
        for i, n in enumerate(lengths.tolist()):  # each row as the utterance alone (the recognizer's computation)
            alone, _, _ = plain.encode(source[i:i + 1, :n])
            assert torch.allclose(first[0][i], alone[0], atol=1e-5)
        cached.encode(source, padding)  # no keys: fairseq's batched extractor
        assert len(calls) == 4 and len(extractor.entries) == 3
        with torch.autocast("cpu", dtype=torch.bfloat16):  # another precision: computed again, then kept too
            cached.encode(source, padding, feature_keys=keys)
        assert extractor.misses == 6 and extractor.entries[5].dtype == torch.bfloat16
        same_length = source[:, :5000], padding[:, :5000]  # rows without padding: fairseq's batched features
        assert torch.allclose(cached.encode(*same_length, feature_keys=keys + 10)[1], plain.encode(*same_length)[1],
                              atol=1e-5)


def test_extractor_cache_is_refused_where_it_cannot_hold(tmp_path):
    path = save_pretraining(tmp_path / "w.pt", "hubert")
    with pytest.raises(ValueError, match="frozen"):
        encoder(path, cache_extractor=True, train_feature_extractor=True)
    with pytest.raises(ValueError, match="Speech-BERT"):
        make_model(make_task(), cache_extractor_features=True)


def test_the_task_names_rows_for_the_extractor_cache_and_new_weights_clear_it(tmp_path):
    task = make_task()
    model = _model(task, save_pretraining(tmp_path / "w.pt", "hubert"), cache_extractor_features=True).train()
    assert task.cache_features and model.uses_feature_keys  # its splits then carry feature keys (fairseq-train test)
    net_input = dict(_net_input(model), feature_keys=torch.arange(4))
    model(**net_input).sum().backward()  # the transformer trains over the cached features
    extractor = model.encoders["speech"].model.feature_extractor
    assert len(extractor.entries) == 4 and model.encoders["speech"].model.encoder.layers[0].fc1.weight.grad is not None
    model.load_state_dict(model.state_dict())
    assert len(extractor.entries) == 0
