"""Fast paths give the baseline's losses: a few Adam updates on tiny dims, side by side.

Baseline: batch size 1 with the gradients of 8 utterances accumulated per update (the paper's
bs 1 x update-freq), fp32, encoders recomputed. Each fast path runs the same updates over the same
utterances: length-grouped padded batches, bf16 autocast, activation checkpointing, the
frozen-feature cache. Also fairseq-train end to end with the fast flags, and fairseq-validate of
an --unpadded-encoders checkpoint against fairseq's padded forward (--model-overrides).
"""
import copy

import pytest
import torch
from helpers import batches, losses, make_model, make_task, run_train, run_validate, singles, with_dropout
from tiny_pretrained import checkpoint_paths, tiny_assets

from emotion_fast import unpadded
from emotion_models import encoders


def test_length_grouped_batches_give_the_batch_size_1_losses():
    task = make_task()
    model = make_model(task)
    grouped = batches(task)
    baseline = losses(copy.deepcopy(model), task, [singles(task, b) for b in grouped])
    fast = losses(model, task, [[b] for b in grouped])
    assert fast == pytest.approx(baseline, rel=1e-4)
    lengths = [b["net_input"]["speech_tokens"].ne(task.speech_dictionary.pad()).sum(1) for b in grouped]
    spread = [float(n.max() - n.min()) for n in lengths]
    assert max(spread) <= 64, f"batches are not length-grouped: speech length spread {spread}"


def test_bf16_autocast_stays_close_to_fp32():
    task = make_task()
    model = make_model(task)
    grouped = [[b] for b in batches(task)]
    baseline = losses(copy.deepcopy(model), task, grouped)
    fast = losses(model, task, grouped, autocast=True)
    assert fast == pytest.approx(baseline, rel=3e-2)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16"])
def test_activation_checkpointing_gives_the_same_losses(autocast):
    task = make_task()
    plain = with_dropout(make_model(task))  # dropout on: the recomputation must replay the RNG
    checkpointed = with_dropout(make_model(task, checkpoint_activations=True))
    checkpointed.load_state_dict(plain.state_dict())
    grouped = [[b] for b in batches(task)]
    baseline = losses(plain, task, grouped, autocast=autocast)
    fast = losses(checkpointed, task, grouped, autocast=autocast)
    assert fast == pytest.approx(baseline, rel=1e-4 if not autocast else 1e-2)


@pytest.mark.parametrize("arch", ["ssl_emotion_shallow", "ssl_emotion_coattn"])
def test_feature_cache_gives_the_recomputed_losses(arch):
    task = make_task()
    model = make_model(task, arch, freeze_ssl=True)
    grouped = batches(task, batch_size=4)
    epochs = [[b] for b in grouped] * 2  # the second pass reads the cache
    baseline = losses(copy.deepcopy(model), task, epochs)
    cached_task = make_task()
    cached = make_model(cached_task, arch, freeze_ssl=True, cache_frozen_features=True)
    cached.load_state_dict(model.state_dict())
    assert cached_task.cache_features
    cached_batches = batches(cached_task, batch_size=4)
    assert all("feature_keys" in b["net_input"] for b in cached_batches)
    fast = losses(cached, cached_task, [[b] for b in cached_batches] * 2)
    assert fast == pytest.approx(baseline, rel=1e-5)
    cache = cached.feature_cache
    assert len(cache) == sum(len(b["id"]) for b in cached_batches) == cache.misses == cache.hits
    cached.load_state_dict(model.state_dict())  # new weights: cached outputs are stale
    assert len(cache) == 0


def test_feature_keys_name_split_and_row():
    task = make_task()
    make_model(task, freeze_ssl=True, cache_frozen_features=True)
    keys = {}
    for split in ("train", "valid"):
        task.load_dataset(split)
        dataset = task.dataset(split)
        batch = dataset.collater([dataset[i] for i in range(len(dataset))])
        keys[split] = set(batch["net_input"]["feature_keys"].tolist())
        assert len(keys[split]) == len(dataset)
    assert not keys["train"] & keys["valid"]


def test_feature_cache_needs_frozen_encoders():
    with pytest.raises(ValueError, match="--freeze-ssl"):
        make_model(make_task(), cache_frozen_features=True)


def test_fairseq_train_with_the_fast_flags(tmp_path, monkeypatch):
    speech, text = checkpoint_paths(tiny_assets()["pretrained"])
    common = ["--speech-checkpoint", str(speech), "--text-checkpoint", str(text), "--autocast-bf16",
              "--max-tokens", "512", "--batch-size", "16", "--optimizer", "torch_adamw", "--unpadded-encoders"]
    run_train(tiny_assets()["iemocap_binary"], tmp_path / "a", "ssl_emotion_coattn",
              common + ["--checkpoint-activations", "--fast-cpu-dropout", "--dropout", "0.1", "--attention-dropout", "0.1"])
    run_train(tiny_assets()["iemocap_binary"], tmp_path / "b", "ssl_emotion_shallow",
              common + ["--freeze-ssl", "--cache-frozen-features"])
    assert (tmp_path / "a" / "checkpoint_last.pt").exists() and (tmp_path / "b" / "checkpoint_last.pt").exists()
    # fairseq-validate rebuilds the unpadded model from the checkpoint; fairseq's padded forward gives the same loss
    calls = []
    monkeypatch.setattr(encoders, "encode_unpadded", lambda *a: calls.append(1) or unpadded.encode_unpadded(*a))
    checkpoint = tmp_path / "a" / "checkpoint_last.pt"
    loss = run_validate(tiny_assets()["iemocap_binary"], checkpoint, subset="valid")["loss"]
    assert calls, "the checkpoint's model should run the unpadded forward"
    calls.clear()
    padded_loss = run_validate(tiny_assets()["iemocap_binary"], checkpoint, subset="valid",
                               extra=["--model-overrides", "{'unpadded_encoders': False}"])["loss"]
    assert not calls
    assert loss == pytest.approx(padded_loss, abs=2e-3)  # as printed: 3 decimals


def test_max_tokens_batches_are_length_grouped_and_bounded():
    task = make_task()
    make_model(task)
    task.load_dataset("train")
    dataset = task.dataset("train")
    itr = task.get_batch_iterator(dataset=dataset, max_tokens=300)
    order = list(dataset.ordered_indices())  # sorted by speech + text length
    for batch in itr.next_epoch_itr(shuffle=True):  # batches shuffled, their rows consecutive in length order
        rows = sorted(order.index(int(i)) for i in batch["id"])
        assert rows == list(range(rows[0], rows[0] + len(rows)))
        assert len(rows) * max(int(dataset.num_tokens(int(i))) for i in batch["id"]) <= 300


def test_torch_adamw_follows_fairseq_adam():
    from fairseq.optim.adam import FairseqAdam, FairseqAdamConfig
    from omegaconf import OmegaConf

    from emotion_fast.torch_adamw import TorchAdamW, TorchAdamWConfig

    task = make_task()
    model = make_model(task)
    grouped = [[b] for b in batches(task)]
    settings = dict(lr=[1e-3], adam_betas="(0.9, 0.98)", adam_eps=1e-6, weight_decay=0.1)
    fairseq_only = dict(tpu=False, use_old_adam=False, fp16_adam_stats=False)
    runs = []
    for optimizer_cls, cfg in ((FairseqAdam, FairseqAdamConfig(**settings, **fairseq_only)),
                               (TorchAdamW, TorchAdamWConfig(**settings))):
        copy_ = copy.deepcopy(model)
        params = [p for p in copy_.parameters() if p.requires_grad]
        optimizer = optimizer_cls(OmegaConf.structured(cfg), params)
        runs.append(losses(copy_, task, grouped, optimizer=optimizer))
    assert runs[1] == pytest.approx(runs[0], rel=1e-3)  # eps placement and fused arithmetic differ slightly


def test_native_gelu_gives_fairseqs_numbers_in_bf16():
    from fairseq.modules.gelu import gelu as fairseq_gelu

    task = make_task()
    model = make_model(task)
    layers = [m for m in model.encoders.modules() if hasattr(m, "activation_fn")]
    assert layers and all(m.activation_fn is torch.nn.functional.gelu for m in layers)
    reference = copy.deepcopy(model)
    for m in reference.encoders.modules():
        if hasattr(m, "activation_fn"):
            m.activation_fn = fairseq_gelu
    grouped = [[b] for b in batches(task)]
    assert losses(model, task, grouped, autocast=True) == losses(reference, task, grouped, autocast=True)


def test_encoder_layers_get_contiguous_inputs_and_the_same_features():
    """fairseq's (T, B, C) view would send linear layers without gradients to a broadcast bmm (50x slower in bf16)."""
    task = make_task()
    model = make_model(task).eval()
    tokens = batches(task)[0]["net_input"]["speech_tokens"]
    assert tokens.size(0) > 1
    encoder = model.encoders["speech"].encoder
    seen = []
    hooks = [layer.register_forward_hook(lambda module, args, out: seen.append(args[0].is_contiguous()))
             for layer in encoder.sentence_encoder.layers]
    with torch.no_grad():
        features = model.encoders["speech"](tokens)
        for hook in hooks:
            hook.remove()
        encoder.sentence_encoder.layers[0]._forward_pre_hooks.clear()  # fairseq's own layout
        reference = model.encoders["speech"](tokens)
    assert seen == [True] * len(encoder.sentence_encoder.layers)
    assert torch.allclose(features, reference, atol=1e-5)
