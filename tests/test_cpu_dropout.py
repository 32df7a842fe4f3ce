"""``--fast-cpu-dropout``: the same attention, dropout and gradients as fairseq's, faster.

The chunked attention kernel is checked against autograd through the textbook formula with the
same keep mask (every chunk size), the mask's rate and scale, the attention layer against fairseq's
``MultiheadAttention`` (same weights, padding), its expectation over dropout draws, the hidden-state
dropout against its mask, and a model's training losses against fairseq's.
"""
import copy

import pytest
import torch
from fairseq.modules import FairseqDropout, MultiheadAttention
from helpers import batches, losses, make_model, make_task, with_dropout

from emotion_fast import cpu_dropout
from emotion_fast.cpu_dropout import (ChunkedDropoutAttention, MaskDropout, MaskTorchDropout, keep_mask,
                                      use_fast_cpu_dropout)

HEADS, DIM = 4, 32


def padding_bias(padding, heads, dtype=torch.float64):
    bias = torch.zeros(padding.size(0) * heads, 1, padding.size(1), dtype=dtype)
    return bias.masked_fill_(padding.repeat_interleave(heads, 0).unsqueeze(1), float("-inf"))


@pytest.mark.parametrize("chunk_elements", [1, 3 * 37 * 37, 2 ** 20], ids=["one_head", "three_heads", "all"])
def test_kernel_equals_the_formula_with_the_same_mask(monkeypatch, chunk_elements):
    monkeypatch.setattr(cpu_dropout, "CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(0)
    batch, length = 3, 37
    q, k, v = (torch.randn(batch * HEADS, length, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    padding = torch.zeros(batch, length, dtype=torch.bool)
    padding[1, 30:], padding[2, 5:] = True, True
    bias = padding_bias(padding, HEADS)
    keep, scale = keep_mask(q.shape[:1] + (length, length), 0.3)
    expected = torch.bmm(torch.softmax(torch.baddbmm(bias, q, k.transpose(1, 2)), -1) * keep * scale, v)
    out = cpu_dropout._DropoutAttention.apply(q, k, v, bias.float(), keep, scale)
    assert torch.allclose(out, expected, atol=1e-5)
    grad = torch.randn_like(expected)
    for ours, reference in zip(torch.autograd.grad(out, (q, k, v), grad),
                               torch.autograd.grad(expected, (q, k, v), grad)):
        assert torch.allclose(ours, reference, atol=1e-4)


def test_kernel_leaves_a_float32_incoming_gradient_alone():
    torch.manual_seed(0)
    q, k, v = (torch.randn(8, 20, 4, requires_grad=True) for _ in range(3))
    keep, scale = keep_mask((8, 20, 20), 0.1)
    out = cpu_dropout._DropoutAttention.apply(q, k, v, torch.zeros(8, 1, 20), keep, scale)
    grad = torch.ones_like(out)
    out.backward(grad)
    assert torch.equal(grad, torch.ones_like(out))
    expected = torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)), -1) * keep * scale, v)
    grads = torch.autograd.grad(expected.sum(), (q, k, v))
    assert all(torch.allclose(t.grad, g, atol=1e-5) for t, g in zip((q, k, v), grads))


def test_keep_mask_rate_scale_and_seed():
    torch.manual_seed(0)
    keep, scale = keep_mask((1000, 1000), 0.1)
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    assert keep.float().mean().item() == pytest.approx(0.9, abs=1e-3)
    assert scale * (65536 - round(0.1 * 65536)) == 65536  # expected value of keep * scale is exactly 1
    rows = keep.float().mean(1)
    assert rows.std().item() == pytest.approx((0.9 * 0.1 / 1000) ** 0.5, rel=0.1)  # independent draws
    torch.manual_seed(0)
    assert torch.equal(keep_mask((1000, 1000), 0.1)[0], keep)  # seeded by torch's generator
    assert not torch.equal(keep_mask((1000, 1000), 0.1)[0], keep)  # which the draw advanced
    assert keep_mask((7, 5), 0.0)[0].all()


def test_keep_mask_drawn_in_passes(monkeypatch):
    monkeypatch.setattr(cpu_dropout, "MASK_WORDS", 1000)  # 4000 decisions per pass, the last one partial
    torch.manual_seed(0)
    keep, _ = keep_mask((301, 1001), 0.25)
    assert keep.float().mean().item() == pytest.approx(0.75, abs=3e-3)
    passes = keep.view(-1)[:300_000].view(75, 4000).float().mean(1)  # passes independent: no stream restarts
    assert passes.std().item() == pytest.approx((0.75 * 0.25 / 4000) ** 0.5, rel=0.3)
    assert len({tuple(row[:64].tolist()) for row in keep.view(-1)[:300_000].view(75, 4000)}) == 75


def keep_all(shape, p):
    """A keep mask that keeps every entry (scale 1)."""
    return torch.ones(shape, dtype=torch.bool), 1.0


def layers(dropout):
    """(fairseq's self-attention with ``dropout``, the chunked one with the same weights)."""
    torch.manual_seed(0)
    fairseq_layer = MultiheadAttention(DIM, HEADS, dropout=dropout, self_attention=True)
    chunked = use_fast_cpu_dropout(copy.deepcopy(fairseq_layer))
    assert type(chunked) is ChunkedDropoutAttention
    return fairseq_layer.train(), chunked.train()


def inputs():
    torch.manual_seed(1)
    x = torch.randn(9, 3, DIM, requires_grad=True)  # (T, B, C)
    padding = torch.zeros(3, 9, dtype=torch.bool)
    padding[0, 6:], padding[2, 2:] = True, True
    return x, padding


def test_layer_equals_fairseq_when_every_entry_is_kept(monkeypatch):
    monkeypatch.setattr(cpu_dropout, "keep_mask", keep_all)
    calls = []
    kernel = cpu_dropout.dropout_attention
    monkeypatch.setattr(cpu_dropout, "dropout_attention", lambda *a: calls.append(1) or kernel(*a))
    fairseq_layer, chunked = layers(dropout=0.0)
    chunked.dropout_module.p = 0.1  # takes the chunked path; the mask keeps everything
    x, padding = inputs()
    outs = [layer(x, x, x, key_padding_mask=padding, need_weights=False)[0] for layer in (fairseq_layer, chunked)]
    assert calls == [1]
    assert torch.allclose(outs[1], outs[0], atol=1e-5)
    grads = [torch.autograd.grad(out.pow(2).sum(), [x, *layer.parameters()])
             for out, layer in zip(outs, (fairseq_layer, chunked))]
    for ours, reference in zip(grads[1], grads[0]):
        assert torch.allclose(ours, reference, atol=1e-5)


def test_layer_output_averages_to_the_undropped_one():
    fairseq_layer, chunked = layers(dropout=0.5)
    x, padding = inputs()
    with torch.no_grad():
        undropped = fairseq_layer.eval()(x, x, x, key_padding_mask=padding, need_weights=False)[0]
        draws = torch.stack([chunked(x, x, x, key_padding_mask=padding, need_weights=False)[0] for _ in range(1000)])
    assert not torch.allclose(draws[0], undropped, atol=1e-2)  # dropout is applied
    z = (draws.mean(0) - undropped) / (draws.std(0) / len(draws) ** 0.5)  # unbiased: z ~ N(0, 1)
    assert z.abs().mean().item() < 1.0 and z.abs().max().item() < 5.5  # half-normal mean 0.80; 864 values
    assert torch.allclose(chunked.eval()(x, x, x, key_padding_mask=padding, need_weights=False)[0], undropped)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16"])
def test_training_losses_equal_fairseq_attention(monkeypatch, autocast):
    """A model with fast dropouts (masks keeping everything) follows fairseq's without dropout."""
    monkeypatch.setattr(cpu_dropout, "keep_mask", keep_all)
    task = make_task()
    plain = make_model(task)
    chunked = make_model(task, fast_cpu_dropout=True)
    chunked.load_state_dict(plain.state_dict())
    switched = [m for m in chunked.encoders.modules() if isinstance(m, (ChunkedDropoutAttention, MaskDropout))]
    assert {type(m) for m in switched} == {ChunkedDropoutAttention, MaskDropout}
    for module in chunked.encoders.modules():
        if isinstance(module, MaskDropout):
            module.p = 0.1  # the fast paths run; their masks keep everything
    grouped = [[b] for b in batches(task)]
    baseline = losses(plain, task, grouped, autocast=autocast)
    fast = losses(chunked, task, grouped, autocast=autocast)
    assert fast == pytest.approx(baseline, rel=1e-4 if not autocast else 2e-2)


def test_activation_checkpointing_replays_the_chunked_dropout():
    task = make_task()
    plain = with_dropout(make_model(task, fast_cpu_dropout=True))
    checkpointed = with_dropout(make_model(task, fast_cpu_dropout=True, checkpoint_activations=True))
    checkpointed.load_state_dict(plain.state_dict())
    grouped = [[b] for b in batches(task)]
    assert losses(checkpointed, task, grouped) == pytest.approx(losses(plain, task, grouped), rel=1e-4)


@pytest.mark.parametrize("plain, fast", [(lambda: FairseqDropout(0.1), MaskDropout),
                                         (lambda: torch.nn.Dropout(0.1), MaskTorchDropout)],
                         ids=["fairseq", "torch"])
def test_mask_dropout_applies_its_keep_mask(plain, fast):
    torch.manual_seed(0)
    dropout = use_fast_cpu_dropout(torch.nn.ModuleList([plain()]))[0]
    assert type(dropout) is fast
    x = torch.randn(64, 8, 32, requires_grad=True)
    torch.manual_seed(1)
    out = dropout.train()(x)
    torch.manual_seed(1)
    keep, scale = keep_mask(x.shape, 0.1)
    assert torch.equal(out, x * keep * scale)
    assert keep.float().mean().item() == pytest.approx(0.9, abs=0.01)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(grad, keep * torch.tensor(scale))
    assert torch.equal(dropout.eval()(x), x)
