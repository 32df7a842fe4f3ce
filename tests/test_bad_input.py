"""Bad input, end to end through fairseq-train / fairseq-validate: a clear error naming the file and the
problem, or a documented recovery; never a hang, a silent skip or lost work (table: docs/reliability.md).

Most cases run the CLIs' own main functions in this process (as tests/test_train_cli.py does); the
truncated checkpoint_last.pt case runs fairseq-train as a subprocess to check the exit status and the
message a user sees. Bad inputs of data preparation are tested in tests/test_prepare_*.py.
"""
import hashlib
import math
import re
import shutil

import pytest
import torch
from fairseq import options
from fairseq_cli import preprocess
from reliability_helpers import load_checkpoint, model_options, run, train_command
from helpers import run_train, run_validate
from tiny_pretrained import SPEC, checkpoint_paths, tiny_assets

from emotion_fairseq.safe_checkpoint import CheckpointLoadError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-update shallow-fusion run on the regression data: (save dir, data dir)."""
    save = tmp_path_factory.mktemp("bad_input") / "ckpt"
    data = tiny_assets()["regression"]
    train(data, save, "--target-type", "regression", "--regression-loss", "mse")
    return save, data


def train(data, save, *extra):
    pretrained = tiny_assets()["pretrained"]
    run_train(data, save, "ssl_emotion_shallow", [*model_options(pretrained), *map(str, extra)])


def copy_data(target_type, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_assets()[target_type], data)
    return data


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ----------------------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("damage", ["random bytes", "truncated"])
def test_corrupt_checkpoint_names_the_file(trained, tmp_path, damage):
    save, data = trained
    good = (save / "checkpoint_last.pt").read_bytes()
    bad = tmp_path / "model.pt"
    bad.write_bytes(bytes(range(256)) * 64 if damage == "random bytes" else good[: len(good) // 3])
    with pytest.raises(CheckpointLoadError, match=rf"{re.escape(str(bad))}: not a readable fairseq checkpoint"):
        run_validate(data, bad, subset="valid")


def test_truncated_checkpoint_last_stops_the_restart_with_the_file_named(trained, tmp_path):
    """fairseq copies checkpoint_N_M.pt to checkpoint_last.pt with a plain (not atomic) copy: a kill during
    the copy leaves it truncated. The restart refuses it by name; docs/reliability.md gives the recovery."""
    save, data = trained
    shutil.copytree(save, tmp_path / "ckpt")
    last = tmp_path / "ckpt" / "checkpoint_last.pt"
    last.write_bytes(last.read_bytes()[:5000])
    proc = run(train_command(tmp_path / "ckpt", "--max-update", "3", data=data, target_type="regression"),
               expect_ok=False, timeout=180)
    assert proc.returncode == 1
    assert re.search(rf"{re.escape(str(last))}: not a readable fairseq checkpoint \(corrupt or truncated\?\)",
                     proc.stderr), proc.stderr[-3000:]
    assert "Traceback" in proc.stderr and len(list((tmp_path / "ckpt").iterdir())) == len(list(save.iterdir()))


def test_checkpoint_of_another_task(trained, tmp_path):
    _, data = trained
    masked_lm = checkpoint_paths(tiny_assets()["pretrained"])[1]  # a plain RoBERTa (masked_lm) checkpoint
    with pytest.raises(ValueError, match=r"needs an ssl_emotion model, but the model config names 'roberta_base'"):
        run_validate(data, masked_lm, subset="valid")
    with pytest.raises(Exception, match=rf"Cannot load model parameters from checkpoint {re.escape(str(masked_lm))}"):
        train(data, tmp_path / "ckpt", "--target-type", "regression", "--restore-file", masked_lm)


# ----------------------------------------------------------------------------------------- data directory
def test_data_directory_missing_a_split_or_a_modality(tmp_path):
    data = copy_data("multiclass", tmp_path)
    for suffix in ("bin", "idx"):
        (data / "speech" / f"valid.{suffix}").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing speech tokens of split 'valid': .*speech/valid\.bin"):
        train(data, tmp_path / "a", "--target-type", "multiclass")
    (data / "label" / "train.label").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing labels of split 'train': .*label/train\.label"):
        train(data, tmp_path / "b", "--target-type", "multiclass", "--disable-validation")
    shutil.rmtree(data / "text")  # a speech-only data directory: the shallow fusion needs text
    with pytest.raises(FileNotFoundError, match=r"ssl_emotion_shallow uses text, but .*data holds no text tokens "
                                                r"\(no text/dict\.txt.*ssl_emotion_speech_only"):
        train(data, tmp_path / "c", "--target-type", "multiclass")


def test_split_files_with_different_row_counts(trained, tmp_path):
    data = copy_data("regression", tmp_path)
    ids = (data / "ids" / "valid.id").read_text().splitlines()
    (data / "ids" / "valid.id").write_text("\n".join(ids[:-1]) + "\n")  # one id lost
    with pytest.raises(ValueError, match=rf"split 'valid': {len(ids)} speech rows but {len(ids) - 1} utterance ids"):
        run_validate(data, trained[0] / "checkpoint_last.pt", subset="valid")


def test_token_ids_beyond_the_dictionary(trained, tmp_path):
    """A split binarized with a bigger dictionary than the data directory's dict.txt."""
    data = copy_data("regression", tmp_path)
    symbols = SPEC["speech"][0] + [f"{a}-{b}" for a in range(10, 20) for b in range(10)]
    (tmp_path / "big.txt").write_text("".join(f"{s} 1\n" for s in symbols))
    (tmp_path / "valid.raw").write_text(" ".join(symbols[-10:]) + "\n")
    preprocess.main(options.get_preprocessing_parser().parse_args([
        "--only-source", "--srcdict", str(tmp_path / "big.txt"), "--validpref", str(tmp_path / "valid.raw"),
        "--destdir", str(tmp_path / "bin"), "--workers", "1"]))
    for suffix in ("bin", "idx"):
        shutil.copy(tmp_path / "bin" / f"valid.{suffix}", data / "speech" / f"valid.{suffix}")
    (data / "label" / "valid.label").write_text("1.0\n")
    (data / "ids" / "valid.id").write_text("v0\n")
    (data / "text" / "valid.bin").write_bytes((data / "text" / "test.bin").read_bytes())  # 8 rows: keep 1
    shutil.copy(data / "text" / "test.idx", data / "text" / "valid.idx")
    with pytest.raises(ValueError, match=r"speech/valid\.bin: token id \d+ is beyond its dictionary"):
        run_validate(data, trained[0] / "checkpoint_last.pt", subset="valid")


@pytest.mark.parametrize("target_type,data_kind,expected", [
    ("regression", "multiclass", r"label/(train|valid)\.label:1: expected a finite float sentiment score .*: '\w+' is not a number"),
    ("iemocap_binary", "regression", r"label/(train|valid)\.label:1: expected a class name .* got '-?[\d.]+'"),
])
def test_labels_of_the_wrong_type(tmp_path, target_type, data_kind, expected):
    with pytest.raises(ValueError, match=expected):
        train(tiny_assets()[data_kind], tmp_path / "ckpt", "--target-type", target_type)


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity"])
def test_non_finite_regression_labels_are_refused_with_file_and_line(text):
    from emotion_core.label_spaces import label_space

    with pytest.raises(ValueError, match=f"label/train.label:7: expected a finite float .*'{text}'"):
        label_space("regression").parse(text, "label/train.label:7")


# ----------------------------------------------------------------------------------------- NaN / inf loss
def test_infinite_loss_stops_training_and_keeps_the_checkpoints(trained, tmp_path):
    """Labels of 3e38 make the MSE loss and its gradients infinite: fairseq raises FloatingPointError
    before the optimizer step; it writes crash.pt (weights before that step) and overwrites no other
    checkpoint, so checkpoint_last.pt keeps the last finite weights and the run resumes once the data is fixed."""
    save, _ = trained
    shutil.copytree(save, tmp_path / "ckpt")
    before = digests(tmp_path / "ckpt")
    data = copy_data("regression", tmp_path)
    n = len((data / "label" / "train.label").read_text().split())
    (data / "label" / "train.label").write_text("3e38\n" * n)
    with pytest.raises((FloatingPointError, StopIteration)) as err:
        train(data, tmp_path / "ckpt", "--target-type", "regression", "--regression-loss", "mse", "--max-update", "4")
    # fairseq re-runs the batch under its NanDetector to name the first non-finite module; with torch 2
    # the detector's backward hooks stop on TransformerEncoder's dict output (StopIteration), raised
    # while handling the FloatingPointError, which the traceback shows first
    floating = err.value if isinstance(err.value, FloatingPointError) else err.value.__context__
    assert isinstance(floating, FloatingPointError) and "gradients are Nan/Inf" in str(floating)
    after = digests(tmp_path / "ckpt")
    assert after.pop("crash.pt") and after == before  # no checkpoint overwritten
    state = load_checkpoint(tmp_path / "ckpt" / "checkpoint_last.pt")
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
    assert math.isfinite(state["extra_state"]["val_loss"])
    # fairseq's crash.pt holds the state at the failing update, before its step: the same finite weights
    crash = load_checkpoint(tmp_path / "ckpt" / "crash.pt")["model"]
    assert all(torch.equal(crash[k], v) for k, v in state["model"].items())
