"""fairseq-train / fairseq-validate with --user-dir on the tiny data (in-process, as fairseq's test_binaries).

Each architecture trains a couple of updates, fine-tuned and frozen; validation then runs on
``--valid-subset test`` from checkpoint_best.pt with the pretrained files deleted, so the checkpoint
must be self-contained. One shallow-fusion model is trained to overfit the tiny train split.
"""
import shutil
from pathlib import Path

import pytest
from helpers import run_train, run_validate
from tiny_pretrained import checkpoint_paths, tiny_assets

from emotion_core.label_spaces import label_space
from emotion_core.labels import PAPER_CLASSES as EMOTIONS

REPO = Path(__file__).resolve().parents[1]


def private_pretrained(tmp_path):
    """A copy of the tiny pretrained files that the test may delete."""
    return Path(shutil.copytree(tiny_assets()["pretrained"], tmp_path / "pretrained"))


ARCHS = {
    "ssl_emotion_shallow": ("speech", "text"),
    "ssl_emotion_coattn": ("speech", "text"),
    "ssl_emotion_speech_only": ("speech",),
    "ssl_emotion_text_only": ("text",),
}


@pytest.mark.parametrize("freeze", [False, True], ids=["finetune", "frozen"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_train_then_validate_without_pretrained_files(arch, freeze, tmp_path):
    pretrained = private_pretrained(tmp_path)
    speech, text = checkpoint_paths(pretrained)
    flags = {"speech": ["--speech-checkpoint", str(speech)], "text": ["--text-checkpoint", str(text)]}
    extra = [f for m in ARCHS[arch] for f in flags[m]] + (["--freeze-ssl"] if freeze else [])
    data = tiny_assets()["iemocap_binary"]
    run_train(data, tmp_path / "ckpt", arch, extra)
    shutil.rmtree(pretrained)  # the fine-tuned checkpoint must not need them
    values = run_validate(data, tmp_path / "ckpt" / "checkpoint_best.pt")
    space = label_space("iemocap_binary")
    for name in space.loggable(space.metrics({})):
        assert 0.0 <= values[name] <= 1.0, name
    assert "loss" in values


@pytest.mark.parametrize("target_type", ["multiclass", "regression"])
def test_other_target_types_report_every_metric(target_type, tmp_path):
    speech, text = checkpoint_paths(tiny_assets()["pretrained"])
    data = tiny_assets()[target_type]
    run_train(data, tmp_path / "ckpt", "ssl_emotion_shallow",
              ["--speech-checkpoint", str(speech), "--text-checkpoint", str(text), "--target-type", target_type])
    predictions = tmp_path / "preds.jsonl"
    values = run_validate(data, tmp_path / "ckpt" / "checkpoint_best.pt",
                          ["--save-predictions", str(predictions)])
    space = label_space(target_type)
    names = space.loggable(space.metrics({}))
    assert set(names) <= set(values)
    assert len(predictions.read_text().splitlines()) == 8


def test_shallow_fusion_overfits_tiny_train_split(tmp_path):
    speech, text = checkpoint_paths(tiny_assets()["pretrained"])
    data = tiny_assets()["iemocap_binary"]
    run_train(data, tmp_path / "ckpt", "ssl_emotion_shallow",
              ["--speech-checkpoint", str(speech), "--text-checkpoint", str(text), "--lr", "1e-3",
               "--max-update", "30", "--total-num-update", "30", "--warmup-updates", "3",
               "--validate-interval", "100", "--save-interval", "100"])  # validated and saved once, at the end
    values = run_validate(data, tmp_path / "ckpt" / "checkpoint_last.pt", subset="train")
    accs = [values[f"{e}_acc"] for e in EMOTIONS]
    assert min(accs) >= 0.95, values
