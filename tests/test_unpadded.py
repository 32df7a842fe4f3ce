"""``--unpadded-encoders``: fairseq's encoder function computed on the real tokens only.

A single layer on packed tokens against fairseq's layer on the padded batch (post- and pre-norm),
the encoders' features and every gradient against fairseq's forward, the CLS-only last layer,
training losses (shallow and co-attention), activation checkpointing with dropout on, and the
refusal of attention options it does not implement (fairseq-train with the flag:
``test_fast_paths.test_fairseq_train_with_the_fast_flags``).
"""
import copy

import pytest
import torch
from argparse import Namespace
from fairseq.modules import TransformerEncoderLayer
from helpers import batches, losses, make_model, make_task, with_dropout

from emotion_criterions.multimodal_emotion import MultimodalEmotionCriterion
from emotion_fast import unpadded


def padded_batch(lengths, dim, pad_value=0.0):
    """(T, B, C) random inputs, (B, T) padding mask (True at padding) for right-padded ``lengths``."""
    torch.manual_seed(0)
    x = torch.randn(max(lengths), len(lengths), dim, dtype=torch.float64)
    padding = torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]
    return x.masked_fill(padding.t()[..., None], pad_value), padding


@pytest.mark.parametrize("normalize_before", [False, True], ids=["post_norm", "pre_norm"])
def test_packed_layer_equals_fairseqs_layer(normalize_before):
    args = Namespace(encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4,
                     encoder_normalize_before=normalize_before, dropout=0.0, attention_dropout=0.0,
                     activation_dropout=0.0, activation_fn="gelu")
    layer = TransformerEncoderLayer(args).double().eval()
    lengths = [9, 4, 7]
    x, padding = padded_batch(lengths, 32)
    expected = layer(x, encoder_padding_mask=padding).transpose(0, 1)[~padding]  # (N, C) real positions
    packed = x.transpose(0, 1)[~padding]
    spans = [(0, 9), (9, 4), (13, 7)]
    torch.testing.assert_close(unpadded._layer(layer, packed, spans, None), expected)
    cls_rows = torch.tensor([0, 9, 13])
    torch.testing.assert_close(unpadded._layer(layer, packed, spans, cls_rows), expected[cls_rows])


@pytest.mark.parametrize("modality", ["speech", "text"])
def test_features_and_gradients_equal_fairseqs_forward(modality):
    task = make_task()
    reference = make_model(task)
    model = make_model(task, unpadded_encoders=True)
    model.load_state_dict(reference.state_dict())
    tokens = batches(task)[0]["net_input"][f"{modality}_tokens"]
    real = tokens.ne(reference.encoders[modality].padding_idx)
    assert not real.all(), "the batch should hold padding"
    outputs = []
    for m in (reference, model):
        features = m.encoders[modality](tokens)
        weights = torch.randn(features.shape, generator=torch.Generator().manual_seed(0))
        (features * weights * real[..., None]).sum().backward()
        outputs.append((features, {n: p.grad for n, p in m.encoders[modality].named_parameters()}))
    (theirs, their_grads), (ours, our_grads) = outputs
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-5, rtol=1e-4)
    assert ours[~real].eq(0).all()
    scale = max(float(g.abs().max()) for g in their_grads.values())
    for name, grad in their_grads.items():
        torch.testing.assert_close(our_grads[name], grad, atol=1e-5 * scale, rtol=1e-4, msg=name)


def test_shallow_fusion_runs_the_last_layer_at_the_cls_position_only():
    task = make_task()
    reference = make_model(task)
    model = make_model(task, unpadded_encoders=True)
    model.load_state_dict(reference.state_dict())
    sample = batches(task)[0]
    rows = []
    last = model.encoders["speech"].encoder.sentence_encoder.layers[-1]
    last.fc1.register_forward_hook(lambda module, args, out: rows.append(args[0].size(0)))
    criterion = MultimodalEmotionCriterion(task, task.cfg.target_type)
    with torch.no_grad():
        ours, theirs = (criterion(m.eval(), sample)[0] for m in (model, reference))
    assert rows == [sample["nsentences"]]  # the feed-forward block of the last layer saw B rows, not B x T
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("arch", ["ssl_emotion_shallow", "ssl_emotion_coattn"])
def test_training_losses_equal_fairseqs(arch):
    task = make_task()
    reference = make_model(task, arch)
    model = make_model(task, arch, unpadded_encoders=True)
    model.load_state_dict(reference.state_dict())
    grouped = [[b] for b in batches(task)]
    assert losses(model, task, grouped) == pytest.approx(losses(reference, task, grouped), rel=1e-4)


def test_activation_checkpointing_replays_the_unpadded_layers_with_dropout():
    task = make_task()
    flags = dict(unpadded_encoders=True, fast_cpu_dropout=True)
    plain = with_dropout(make_model(task, **flags))
    checkpointed = with_dropout(make_model(task, checkpoint_activations=True, **flags))
    checkpointed.load_state_dict(plain.state_dict())
    calls = []
    layer = checkpointed.encoders["speech"].encoder.sentence_encoder.layers[0]
    layer.fc1.register_forward_hook(lambda *_: calls.append(1))
    grouped = [[b] for b in batches(task)]
    expected = losses(copy.deepcopy(plain), task, grouped)
    assert losses(checkpointed, task, grouped) == pytest.approx(expected, rel=1e-4)
    assert len(calls) == 2 * len(grouped)  # forward, then the recomputation in the backward
    assert losses(plain, task, grouped, seed=1) != pytest.approx(expected, rel=1e-4)  # dropout is on


def test_unsupported_attention_options_are_refused():
    task = make_task()
    model = make_model(task)
    encoder = model.encoders["text"].encoder.sentence_encoder
    attn = encoder.layers[1].self_attn
    attn.bias_k = torch.nn.Parameter(torch.zeros(1, 1, attn.embed_dim))
    with pytest.raises(ValueError, match="encoder layer 1 uses add_bias_kv"):
        unpadded.check_supported(encoder)
