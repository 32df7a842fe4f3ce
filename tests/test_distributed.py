"""Two processes on CPU (torchrun + gloo through scripts/train_distributed.sh): training, resuming on both
ranks, and validation metrics equal to one process's on the same checkpoint.

The criterion logs summable statistics, so fairseq's all-reduce of the logging outputs gives the metrics
of the whole split; fairseq pads the shorter shard with a dummy batch whose outputs it ignores
(8 valid utterances in batches of 3: one rank validates 2 batches, the other 1 + a dummy).
"""
import shutil
import socket
from pathlib import Path

import pytest
from reliability_helpers import BIN, REPO, Background, by_update, records, run, train_command, without_timing
from tiny_pretrained import tiny_assets

DIST = ["--batch-size", "2", "--batch-size-valid", "3", "--save-interval-updates", "3"]  # batch 2 per process


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distributed(save_dir, max_update, *extra):
    """train_distributed.sh with 2 processes of the reliability command; returns its stdout."""
    args = train_command(save_dir, *DIST, "--max-update", max_update, *extra)[1:]  # without the program
    cmd = ["env", "NPROC=2", f"MASTER_PORT={free_port()}", "bash", REPO / "scripts" / "train_distributed.sh", *args]
    return run(cmd).stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two-process run to update 4; then, side by side, the same command resumed to update 6 and
    fairseq-validate (1 process) of the update-4 checkpoint."""
    save = tmp_path_factory.mktemp("distributed") / "ckpt"
    first = distributed(save, 4)
    shutil.copy(save / "checkpoint_last.pt", save / "update4.pt")  # the resumed run rewrites checkpoint_last
    single = Background([BIN / "fairseq-validate", tiny_assets()["iemocap_binary"], "--user-dir", REPO,
                         "--task", "multimodal_emotion", "--path", save / "update4.pt", "--valid-subset", "valid",
                         "--batch-size", "3", "--cpu", "--num-workers", "0", "--log-format", "json",
                         "--save-predictions", save / "single.jsonl"])
    resumed = distributed(save, 6, "--save-predictions", save / "resumed.jsonl")
    return {"save": save, "first": first, "resumed": resumed, "single": single.result()[0]}


def test_two_processes_train_and_resume_on_both_ranks(runs):
    assert "distributed init (rank 0): env://" in runs["first"]
    first = by_update(runs["first"])
    assert sorted(first) == [1, 2, 3, 4]
    assert {r["bsz"] for r in records(runs["first"], "train_inner")} == {"4"}  # 2 processes x 2 utterances
    assert records(runs["first"], "valid")
    # rank 0 loads checkpoint_last.pt and broadcasts it: rank 1 unpickles it under weights_only
    assert "Loaded checkpoint" in runs["resumed"] and "(epoch 1 @ 4 updates)" in runs["resumed"]
    assert sorted(by_update(runs["resumed"])) == [5, 6]


def test_validation_metrics_equal_one_process(runs):
    metric = lambda rec: {k: v for k, v in without_timing(rec).items()  # noqa: E731
                          if k.startswith("valid_") and k not in ("valid_num_updates", "valid_best_loss")}
    two = metric(records(runs["first"], "valid")[-1])  # on the model saved as update4.pt
    one = metric(records(runs["single"], "valid")[-1])
    assert {"valid_loss", "valid_neutral_acc", "valid_angry_f1"} <= two.keys()
    assert two == one


def test_saved_predictions_of_both_ranks_equal_one_process(runs):
    save = Path(runs["save"])
    ranks = [line for r in (0, 1) for line in (save / f"predictions.jsonl.rank{r}").read_text().splitlines()]
    single = (save / "single.jsonl").read_text().splitlines()
    assert sorted(ranks) == sorted(single)
