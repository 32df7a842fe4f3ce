"""Model ssl_emotion and task multimodal_emotion on tiny stand-in checkpoints (dims 48 / 64, 2 layers)."""
import shutil

import pytest
import torch
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY
from fairseq.models.roberta import RobertaModel
from omegaconf import OmegaConf
from helpers import first_batch, make_model, make_task, shared
from tiny_pretrained import LAYOUT, checkpoint_paths, tiny_assets

from emotion_core.label_spaces import label_space
from emotion_models.fusion import CoAttentionFusion, EmotionHead, ShallowFusion
from emotion_models.ssl_emotion import SSLEmotionConfig


@pytest.mark.parametrize("modality", ["speech", "text"])
def test_features_equal_fairseq_roberta(modality):
    task, model = shared()
    sample = first_batch(task)
    tokens = sample["net_input"][f"{modality}_tokens"]
    folder, name = LAYOUT[modality]
    pretrained = tiny_assets()["pretrained"] / folder
    hub = RobertaModel.from_pretrained(str(pretrained), checkpoint_file=name, data_name_or_path=str(pretrained),
                                       bpe=None).eval()
    with torch.no_grad():
        ours = model.encoders[modality](tokens)
        theirs, _ = hub.model(tokens, features_only=True)
    assert tokens[:, 0].eq(task.speech_dictionary.bos()).all()
    torch.testing.assert_close(ours, theirs)


def test_inputs_truncated_to_encoder_positions():
    task, model = shared()
    assert model.encoder_max_positions() == {"speech": 64, "text": 32}
    task.load_dataset("train")
    dataset = task.dataset("train")
    lengths = [dataset[i]["net_input.speech_tokens"].numel() for i in range(len(dataset))]
    assert max(lengths) == 64  # the tiny data has longer lines


@pytest.mark.parametrize("freeze", [False, True])
def test_gradients_reach_encoders_only_when_fine_tuning(freeze):
    task = make_task()
    model = make_model(task, "ssl_emotion_coattn", freeze_ssl=freeze).train()
    sample = first_batch(task)
    model(**sample["net_input"]).sum().backward()
    for modality, encoder in model.encoders.items():
        grads = [p.grad for p in encoder.parameters()]
        if freeze:
            assert all(g is None for g in grads), modality
            assert not any(p.requires_grad for p in encoder.parameters())
        else:
            assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0, modality
    assert all(p.grad is not None for p in model.fusion.parameters())
    assert model.head.out_proj.weight.grad is not None


def test_frozen_encoders_have_no_dropout_in_train_mode():
    task = make_task()
    model = make_model(task, freeze_ssl=True)
    model.encoders["speech"].encoder.sentence_encoder.dropout_module.p = 0.5  # would change outputs if active
    model.train()
    assert model.training and not any(m.training for m in model.encoders.modules())
    tokens = first_batch(task)["net_input"]["speech_tokens"]
    torch.testing.assert_close(model.encoders["speech"](tokens), model.encoders["speech"](tokens))


def test_shallow_head_has_14344_parameters_for_real_dims():
    fusion = ShallowFusion({"speech": 768, "text": 1024})
    head = EmotionHead(fusion.output_dim, label_space("iemocap_binary").head_shape, 0.1)
    assert sum(p.numel() for p in fusion.parameters()) == 0
    assert sum(p.numel() for p in head.parameters()) == 14344


def test_coattention_parameter_count_for_real_dims():
    # documented in docs/model.md: per direction q/k/v/out projections (+ LayerNorm with --coattn-layernorm)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    original = CoAttentionFusion({"speech": 768, "text": 1024}, heads=16, dropout=0.1, attention_dropout=0.1)
    assert count(original.speech_to_text) == 768 * 768 + 768 + 2 * (1024 * 768 + 768) + 768 * 768 + 768
    assert count(original.text_to_speech) == 1024 * 1024 + 1024 + 2 * (768 * 1024 + 1024) + 1024 * 1024 + 1024
    assert count(original) == 6_429_696 and original.output_dim == 1792  # the authors' released code
    normed = CoAttentionFusion({"speech": 768, "text": 1024}, heads=8, dropout=0.1, attention_dropout=0.1,
                               layer_norm=True)
    assert count(normed) == 6_433_280


def test_unknown_fusion_is_refused_by_name():
    from emotion_models.fusion import build_fusion
    with pytest.raises(ValueError, match="unknown fusion 'late'"):
        build_fusion("late", {"speech": 8, "text": 8}, heads=2, dropout=0.1, attention_dropout=0.1)


def test_coattention_is_initialised_as_bert_and_has_the_authors_defaults():
    from emotion_models.ssl_emotion import SSLEmotionConfig

    assert SSLEmotionConfig.coattn_heads == 16 and SSLEmotionConfig.coattn_layernorm is False
    torch.manual_seed(0)
    fusion = CoAttentionFusion({"speech": 768, "text": 1024}, heads=16, dropout=0.1, attention_dropout=0.1)
    for name, param in fusion.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(param) == 0, name
        else:
            assert abs(param.std().item() - 0.02) < 0.001 and abs(param.mean().item()) < 0.001, name
    assert isinstance(fusion.speech_to_text.layer_norm, torch.nn.Identity)


def test_coattn_checkpoints_from_before_the_option_keep_their_layernorm():
    task = make_task()
    cfg_model = make_model(task, arch="ssl_emotion_coattn", coattn_heads=4).cfg
    old = OmegaConf.create({k: v for k, v in OmegaConf.to_container(cfg_model).items() if k != "coattn_layernorm"})
    OmegaConf.set_struct(old, True)  # as fairseq loads a checkpoint's config: a missing key is missing
    rebuilt = task.build_model(old)
    assert isinstance(rebuilt.fusion.speech_to_text.layer_norm, torch.nn.LayerNorm)


@pytest.mark.parametrize("target_type,shape", [("iemocap_binary", (8, 4, 2)), ("multiclass", (8, 4)),
                                               ("regression", (8,))])
def test_output_shapes(target_type, shape):
    task, model = shared(target_type)
    assert model(**first_batch(task)["net_input"]).shape == shape


@pytest.mark.parametrize("arch,used", [("ssl_emotion_speech_only", "speech"), ("ssl_emotion_text_only", "text")])
def test_unimodal_builds_only_its_encoder(arch, used):
    task = make_task()
    speech, text = checkpoint_paths(tiny_assets()["pretrained"])
    cfg = OmegaConf.structured(SSLEmotionConfig(**{f"{used}_checkpoint": str(speech if used == "speech" else text)}))
    cfg._name = arch
    ARCH_CONFIG_REGISTRY[arch](cfg)
    model = task.build_model(cfg)
    assert list(model.encoders) == [used]
    assert model.head.out_proj.in_features == model.encoders[used].embed_dim
    assert model(**first_batch(task)["net_input"]).shape == (8, 4, 2)
    assert ARCH_MODEL_REGISTRY[arch] is type(model)


def test_args_namespace_round_trip_stores_encoder_args():
    task, model = shared()
    assert model.cfg.speech_args["encoder_embed_dim"] == 48 and model.cfg.text_args["encoder_embed_dim"] == 64
    # rebuilding from the stored args needs no pretrained file
    cfg = OmegaConf.create(OmegaConf.to_container(model.cfg))
    cfg.speech_checkpoint = cfg.text_checkpoint = "/nonexistent.pt"
    rebuilt = task.build_model(cfg)
    rebuilt.load_state_dict(model.state_dict(), strict=True, model_cfg=cfg)
    sample = first_batch(task)
    torch.testing.assert_close(rebuilt.eval()(**sample["net_input"]), model.eval()(**sample["net_input"]))


def test_legacy_namespace_conversion_is_what_fairseq_does():
    # the tiny checkpoints hold a legacy Namespace that fairseq itself can convert
    state = torch.load(checkpoint_paths(tiny_assets()["pretrained"])[0], weights_only=True)
    assert convert_namespace_to_omegaconf(state["args"]).model.encoder_embed_dim == 48
    assert any(k.startswith("decoder.sentence_encoder.") for k in state["model"])  # 2019 names


def test_wrong_label_kind_names_file_and_line(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_assets()["regression"], data)
    task = make_task("multiclass", data=data)
    make_model(task)
    with pytest.raises(ValueError, match=r"label/train\.label:1: expected a class name"):
        task.load_dataset("train")
    task = make_task("regression", data=tiny_assets()["multiclass"])
    with pytest.raises(ValueError, match=r"label/valid\.label:1: expected a finite float"):
        task.load_dataset("valid")


def test_missing_split_or_modality_names_path(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_assets()["iemocap_binary"], data)
    task = make_task(data=data)
    with pytest.raises(FileNotFoundError, match=r"speech/dev\.bin"):
        task.load_dataset("dev")
    for suffix in ("bin", "idx"):
        (data / "text" / f"test.{suffix}").unlink()
    with pytest.raises(FileNotFoundError, match=r"text/test\.bin"):
        task.load_dataset("test")
    (data / "speech" / "dict.txt").unlink()  # data of audio only: Speech-BERT cannot be built on it
    with pytest.raises(FileNotFoundError, match=r"speech/dict\.txt.*--speech-input tokens"):
        make_model(make_task(data=data))


def test_batches_group_similar_lengths():
    task = make_task()
    task.load_dataset("train")
    dataset = task.dataset("train")
    order = dataset.ordered_indices()
    sizes = dataset.sizes[0] if isinstance(dataset.sizes, list) else dataset.sizes
    assert (sizes[order][1:] >= sizes[order][:-1]).all()
