"""A crafted checkpoint never runs code, and a file that is not a usable checkpoint gets an error naming it.

fairseq passes several configuration strings to ``eval`` when it builds a model; the plugin checks
every such field of every loaded checkpoint first (emotion_core/config_guard.py, docs/security.md).
Each payload here would create a marker file if it ran; every test checks the marker is absent.
"""
import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fairseq import checkpoint_utils, utils
from fairseq.file_io import PathManager
from helpers import run_train, run_validate
from tiny_pretrained import checkpoint_paths, tiny_assets

from emotion_core.config_guard import EVAL_FIELDS
from emotion_data import prepare
from emotion_inference.recognizer import EmotionRecognizer
from emotion_fairseq.safe_checkpoint import CheckpointLoadError

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FAIRSEQ = Path(utils.__file__).parent
HISTORY = [{"criterion_name": "MaskedLmLoss", "optimizer_name": "FairseqAdam", "lr_scheduler_state": {"best": 1.0},
            "num_updates": 1}]


def payload(marker):
    """A configuration string that creates ``marker`` when evaluated (and evaluates to None)."""
    return f"[__import__('pathlib').Path({str(marker)!r}).touch(), None][1]"


def load(path):
    """A checkpoint as fairseq's loader returns it (the plugin's checks installed)."""
    return checkpoint_utils.load_checkpoint_to_cpu(str(path))


def raw_state(path):
    """A checkpoint's content as saved (the config a plain dict), for crafting a modified copy."""
    return torch.load(path, weights_only=True)


# ------------------------------------------------------------------------------------- the field list
def _fields_fairseq_evaluates():
    """Names of the configuration fields that the installed fairseq (examples included) passes to eval."""
    found = set()
    direct = re.compile(r"(?<![\w.])eval\(\s*[\w.]+\.(\w+)\s*\)")
    helpers = re.compile(r"(?:eval_str_list|eval_str_dict|eval_bool)\(\s*[\w.]+\.(\w+)")
    for path in FAIRSEQ.rglob("*.py"):
        text = path.read_text(encoding="utf-8", errors="replace")
        found.update(direct.findall(text))
        found.update(helpers.findall(text))
    return found


def test_every_field_that_fairseq_evaluates_is_checked():
    found = _fields_fairseq_evaluates()
    assert {"conv_feature_layers", "adam_betas", "adaptive_softmax_cutoff"} <= found  # the scan works
    assert found <= set(EVAL_FIELDS), f"fields evaluated by fairseq but not checked: {sorted(found - set(EVAL_FIELDS))}"
    # passed on as plain names to a function that evaluates them
    assert {"xformers_att_config", "encoder_xformers_att_config", "feature_encoder_spec"} <= set(EVAL_FIELDS)


def test_the_payload_runs_when_fairseq_evaluates_it(tmp_path):
    """The control: without the check, fairseq's own helper runs the string (so the tests below mean something)."""
    marker = tmp_path / "ran"
    utils.eval_str_dict(payload(marker))
    assert marker.exists()


# ------------------------------------------------------------------------------------- every field
def _crafted(tmp_path, field, marker, form):
    state = {"model": {"w": torch.zeros(2)}, "optimizer_history": HISTORY, "extra_state": {}}
    if form == "args":
        state["args"] = argparse.Namespace(arch="roberta_base", **{field: payload(marker)})
    else:
        state["args"] = None
        state["cfg"] = {"model": {"_name": "ssl_emotion", "speech_args": {field: payload(marker)}}}
    path = tmp_path / f"{form}.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("form", ["args", "cfg"])
@pytest.mark.parametrize("field", sorted(EVAL_FIELDS))
def test_each_evaluated_field_is_refused_before_fairseq_sees_it(tmp_path, field, form):
    marker = tmp_path / "ran"
    path = _crafted(tmp_path, field, marker, form)
    with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(path))}: refused: .*{field}.*not a literal"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("field,value", [
    ("conv_feature_layers", "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"),  # wav2vec 2.0's default
    ("conv_aggregator_layers", "[(512, 2, 1), (512, 3, 1), (512, 4, 1)]"),
    ("adam_betas", "(0.9, 0.98)"), ("adaptive_softmax_cutoff", "50000,140000"),
    ("encoder_xformers_att_config", None), ("feature_encoder_spec", "None"), ("encoder_layers", 24),
])
def test_the_values_of_released_checkpoints_pass(tmp_path, field, value):
    path = tmp_path / "ok.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "args": argparse.Namespace(arch="roberta_base", **{field: value}),
                "optimizer_history": HISTORY, "extra_state": {}}, path)
    assert load(path)["model"]["w"].shape == (2,)


@pytest.mark.parametrize("value,reason", [
    ("[(512, 10)]", "expected a list of \\(channels, kernel, stride\\)"),
    ("[0] * 100000000", "at most 10000 elements"),
    (b"[(512, 10, 5)]", "bytes value"),
    ("(" * 300 + ")" * 300, "not a Python literal"),
])
def test_wrong_shapes_bytes_and_bombs_are_refused(tmp_path, value, reason):
    path = tmp_path / "bad.pt"
    torch.save({"model": {}, "args": argparse.Namespace(conv_feature_layers=value), "optimizer_history": HISTORY,
                "extra_state": {}}, path)
    with pytest.raises(CheckpointLoadError, match=reason):
        load(path)


# ------------------------------------------------------------------------------------- entry points
@pytest.fixture(scope="module")
def crafted(demo_checkpoint, tmp_path_factory):
    """The two payloads of the hostile test: in a fine-tuned checkpoint and in the pretrained vq-wav2vec."""
    root = tmp_path_factory.mktemp("crafted")
    marker = root / "payload_ran"
    state = raw_state(demo_checkpoint["checkpoint"])
    state["cfg"]["model"]["speech_args"]["encoder_xformers_att_config"] = payload(marker)
    torch.save(state, root / "finetuned.pt")
    pretrained = root / "pretrained"
    shutil.copytree(demo_checkpoint["pretrained"], pretrained)
    vq = raw_state(pretrained / "vq-wav2vec_kmeans.pt")
    vq["args"].conv_feature_layers = payload(marker)
    torch.save(vq, pretrained / "vq-wav2vec_kmeans.pt")
    return {"checkpoint": root / "finetuned.pt", "pretrained": pretrained, "marker": marker,
            "clean_pretrained": demo_checkpoint["pretrained"], "data": demo_checkpoint["data"], "dir": root}


def _cli(*args, cwd):
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_finetuned_payload_never_runs_through_predict_api_and_validate(crafted):
    ckpt, marker = crafted["checkpoint"], crafted["marker"]
    with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(ckpt))}: refused: .*encoder_xformers_att_config"):
        EmotionRecognizer.from_checkpoint(ckpt, crafted["clean_pretrained"])
    with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(ckpt))}: refused"):
        run_validate(crafted["data"], ckpt)
    proc = _cli(sys.executable, REPO / "scripts" / "predict.py", "--checkpoint", ckpt,
                "--pretrained", crafted["clean_pretrained"], "--text", "hello", "--audio",
                next(Path(crafted["data"]).parent.glob("test-assets/corpus/**/*.wav")), cwd=crafted["dir"])
    assert proc.returncode == 1 and f"{ckpt}: refused" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = _cli(BIN / "fairseq-validate", crafted["data"], "--user-dir", REPO, "--task", "multimodal_emotion",
                "--path", ckpt, "--valid-subset", "test", "--batch-size", "8", "--cpu", cwd=crafted["dir"])
    assert proc.returncode != 0 and f"{ckpt}: refused" in proc.stderr, proc.stderr[-2000:]
    assert not marker.exists()


def test_pretrained_vq_wav2vec_payload_never_runs_through_predict_and_prepare(crafted, demo_checkpoint, tmp_path):
    vq, marker = crafted["pretrained"] / "vq-wav2vec_kmeans.pt", crafted["marker"]
    with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(vq))}: refused: .*conv_feature_layers"):
        EmotionRecognizer.from_checkpoint(demo_checkpoint["checkpoint"], crafted["pretrained"])
    manifest = Path(crafted["data"]) / "manifest.tsv"
    with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(vq))}: refused"):
        prepare.prepare_manifest(manifest, crafted["pretrained"], tmp_path / "in_process")
    proc = _cli(sys.executable, REPO / "scripts" / "prepare_data.py", "manifest", "--raw", manifest,
                "--pretrained", crafted["pretrained"], "--out", tmp_path / "data", "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 1 and f"{vq}: refused" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not marker.exists()


def test_pretrained_encoder_payload_never_runs_through_fairseq_train(tmp_path):
    marker = tmp_path / "ran"
    speech, text = checkpoint_paths(tiny_assets()["pretrained"])
    state = raw_state(speech)
    state["args"].encoder_xformers_att_config = payload(marker)
    torch.save(state, tmp_path / "speech.pt")
    with pytest.raises(CheckpointLoadError, match=r"speech\.pt: refused: .*encoder_xformers_att_config"):
        run_train(tiny_assets()["iemocap_binary"], tmp_path / "ckpt", "ssl_emotion_shallow",
                  ["--speech-checkpoint", str(tmp_path / "speech.pt"), "--text-checkpoint", str(text)])
    assert not marker.exists()


# ------------------------------------------------------------------------------------- not a checkpoint
@pytest.mark.parametrize("content,message", [
    ("text", "not a readable fairseq checkpoint"),
    ("random", "not a readable fairseq checkpoint"),
    ("bare_state_dict", "holds a bare state dict"),
    ("list", "holds a list, not a fairseq checkpoint"),
    ("no_config", "neither 'args' nor 'cfg'"),
])
def test_files_that_are_not_checkpoints_get_an_error_naming_them(tmp_path, demo_checkpoint, content, message):
    path = tmp_path / "model.pt"
    if content == "text":
        path.write_text("this is a README, not a model\n" * 20)
    elif content == "random":
        path.write_bytes(bytes((i * 7919) % 251 for i in range(5000)))
    else:
        weights = {"w": torch.ones(3)}
        torch.save({"bare_state_dict": weights, "list": [weights],
                    "no_config": {"model": weights, "optimizer_history": HISTORY, "extra_state": {}}}[content], path)
    for loader in (load, lambda p: EmotionRecognizer.from_checkpoint(p, demo_checkpoint["pretrained"])):
        with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(path))}: .*{message}"):
            loader(path)


def test_another_tasks_checkpoint_is_refused_by_the_api(demo_checkpoint):
    masked_lm = demo_checkpoint["pretrained"] / "roberta.large" / "model.pt"
    with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(masked_lm))}: it is a checkpoint of task "
                                                  r"'masked_lm', not of multimodal_emotion"):
        EmotionRecognizer.from_checkpoint(masked_lm, demo_checkpoint["pretrained"])


def test_non_finite_weights_are_refused(demo_checkpoint, tmp_path):
    state = raw_state(demo_checkpoint["checkpoint"])
    name = next(k for k in state["model"] if k.endswith("head.out_proj.weight"))
    state["model"][name][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(CheckpointLoadError, match=rf"nan\.pt: weight {re.escape(name)} holds 1 non-finite value"):
        EmotionRecognizer.from_checkpoint(tmp_path / "nan.pt", demo_checkpoint["pretrained"])
    with pytest.raises(CheckpointLoadError, match="non-finite"):
        run_validate(demo_checkpoint["data"], tmp_path / "nan.pt")


def test_large_finite_weights_whose_sum_overflows_are_accepted(tmp_path):
    path = tmp_path / "big.pt"
    torch.save({"model": {"w": torch.full((4,), 3e38)}, "args": argparse.Namespace(arch="roberta_base"),
                "optimizer_history": HISTORY, "extra_state": {}}, path)
    assert load(path)["model"]["w"][0] == 3e38


# ------------------------------------------------------------------------------------- atomic copies
def test_fairseqs_checkpoint_copy_is_atomic(tmp_path, monkeypatch):
    """fairseq copies checkpoint_E_U.pt to checkpoint_last.pt; a copy interrupted half-way leaves the old file."""
    src, dst = tmp_path / "checkpoint_2_8.pt", tmp_path / "checkpoint_last.pt"
    src.write_bytes(b"new" * 1_000_000)
    dst.write_bytes(b"old checkpoint")

    def interrupted(fsrc, fdst, length=0):
        fdst.write(fsrc.read(1000))
        raise KeyboardInterrupt  # a kill during the copy

    monkeypatch.setattr(shutil, "copyfileobj", interrupted)
    with pytest.raises(KeyboardInterrupt):
        PathManager.copy(str(src), str(dst), overwrite=True)
    assert dst.read_bytes() == b"old checkpoint" and sorted(p.name for p in tmp_path.iterdir()) == [src.name, dst.name]
    monkeypatch.undo()
    assert PathManager.copy(str(src), str(dst), overwrite=True)
    assert dst.read_bytes() == src.read_bytes()
