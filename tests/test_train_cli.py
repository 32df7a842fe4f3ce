"""fairseq-train / fairseq-validate with --user-dir on the tiny data (in-process, as fairseq's test_binaries).

Each architecture trains a couple of updates, fine-tuned and frozen; validation then runs on
``--valid-subset test`` from checkpoint_best.pt with the pretrained files deleted, so the checkpoint
must be self-contained. One shallow-fusion model is trained to overfit the tiny train split.
"""
import shutil
from pathlib import Path

import pytest
from fairseq import checkpoint_utils, options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.distributed import utils as distributed_utils
from fairseq.logging import progress_bar
from fairseq_cli import train, validate
from tiny_pretrained import checkpoint_paths, tiny_assets

from emotion_core import metrics as M

REPO = Path(__file__).resolve().parents[1]
COMMON = ["--user-dir", str(REPO), "--task", "multimodal_emotion", "--cpu", "--num-workers", "0",
          "--log-format", "simple", "--log-interval", "1", "--seed", "1"]


def run_train(data, save_dir, arch, extra=()):
    argv = [str(data), *COMMON, "--arch", arch, "--criterion", "multimodal_emotion", "--save-dir", str(save_dir),
            "--optimizer", "adam", "--lr", "1e-4", "--lr-scheduler", "polynomial_decay", "--warmup-updates", "1",
            "--total-num-update", "2", "--max-update", "2", "--batch-size", "8", "--dropout", "0",
            "--attention-dropout", "0", "--pooler-dropout", "0", "--no-epoch-checkpoints", "--no-save-optimizer-state",
            *extra]
    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    if hasattr(checkpoint_utils.save_checkpoint, "best"):  # fairseq keeps the best score across runs
        del checkpoint_utils.save_checkpoint.best
    distributed_utils.call_main(convert_namespace_to_omegaconf(args), train.main)


def run_validate(data, checkpoint, extra=(), subset="test"):
    """fairseq-validate's cli_main on argv; returns the stats it prints for the subset."""
    argv = [str(data), *COMMON, "--path", str(checkpoint), "--valid-subset", subset, "--batch-size", "3", *extra]
    args = options.parse_args_and_arch(options.get_validation_parser(), argv)
    overrides = options.parse_args_and_arch(options.get_validation_parser(), argv, suppress_defaults=True)
    printed, make_bar = {}, progress_bar.progress_bar

    def recording_bar(*bar_args, **bar_kwargs):  # keeps what validate prints (hydra resets log handlers)
        bar = make_bar(*bar_args, **bar_kwargs)
        show = bar.print

        def print_(stats, tag=None, step=None):
            printed[tag] = dict(stats)
            show(stats, tag=tag, step=step)

        bar.print = print_
        return bar

    validate.progress_bar.progress_bar = recording_bar
    try:
        distributed_utils.call_main(convert_namespace_to_omegaconf(args), validate.main, override_args=overrides)
    finally:
        validate.progress_bar.progress_bar = make_bar
    return {k: float(v) for k, v in printed[subset].items()}


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
    for name in M.flatten_metrics(M.METRICS["iemocap_binary"]({})):
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
    names = M.flatten_metrics(M.METRICS[target_type]({}))
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
    accs = [values[f"{e}_acc"] for e in M.EMOTIONS]
    assert min(accs) >= 0.95, values
