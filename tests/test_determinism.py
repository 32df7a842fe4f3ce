"""The same seed gives the same outputs: preprocessing (byte for byte) and CPU training (update by update)."""
import json
import os
import sys

import torch
from reliability_helpers import (
    REPO, Background, by_update, load_checkpoint, records, train_command, uninterrupted, uninterrupted_run,
    without_timing,
)
from helpers import make_manifest

from emotion_data import cli as prepare_data  # noqa: E402


def comparable_report(path):
    """prepare_report.json without the fields that say when and how fast the run went."""
    report = json.loads(path.read_text())
    report.pop("created")
    for key in ("wall_seconds", "real_time_factor", "utterances_per_second"):
        report["speech_tokenization"].pop(key)
    return report


def files_of(root):
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def test_preprocessing_twice_gives_identical_files(tmp_path, pretrained, fast_binarize):  # noqa: F811
    """scripts/prepare_data.py as a CLI (another hash seed) and in this process: the same bytes."""
    manifest = make_manifest(tmp_path / "corpus")
    outs = [tmp_path / "a", tmp_path / "b"]
    args = ["manifest", "--raw", manifest, "--pretrained", pretrained.root, "--max-frames", "12"]
    hash_seed = str(int(os.environ.get("PYTHONHASHSEED", "0") or 0) + 1)  # set/dict order must not matter
    cli = Background([sys.executable, REPO / "scripts" / "prepare_data.py", *args, "--out", outs[0]],
                     env={"PYTHONHASHSEED": hash_seed})
    assert prepare_data.main([*map(str, args), "--out", str(outs[1])]) == 0
    cli.result()
    a, b = (files_of(out) for out in outs)
    assert a.keys() == b.keys()
    assert {"manifest.tsv", "speech/train.bin", "text/train.idx", "label/valid.label", "ids/test.id"} <= a.keys()
    for name in a:
        if name == "prepare_report.json":
            continue
        assert a[name].read_bytes() == b[name].read_bytes(), f"{name} differs between two runs"
    report = comparable_report(a["prepare_report.json"])
    assert report == comparable_report(b["prepare_report.json"])
    assert report["truncated"]["count"] > 0  # --max-frames 12 truncated some utterances, and said so


def test_same_seed_gives_identical_training_curves(tmp_path):
    uninterrupted()  # the shared reference run, beside this second one
    second = Background(train_command(tmp_path / "ckpt"))
    ref_dir, ref_log = uninterrupted_run()
    log, _ = second.result()
    curve = by_update(log)
    assert sorted(curve) == list(range(1, 16))
    assert curve == by_update(ref_log)  # loss, metrics, lr and gradient norm of every update
    assert [without_timing(r) for r in records(log, "valid")] == [without_timing(r) for r in records(ref_log, "valid")]
    ours = load_checkpoint(tmp_path / "ckpt" / "checkpoint_last.pt")["model"]
    theirs = load_checkpoint(ref_dir / "checkpoint_last.pt")["model"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
