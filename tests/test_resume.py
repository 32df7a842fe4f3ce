"""A fairseq-train run killed mid-epoch (SIGKILL) and restarted with the same command ends exactly as one
that was never interrupted (CPU, fixed seed, dropout on).

fairseq makes this hold by itself: checkpoint_last.pt stores the model, the optimizer and scheduler state
and the data iterator's position in the epoch; batches are shuffled from (seed, epoch) and the dropout RNG
is re-seeded from (seed, update number) before every update (``Trainer._set_seed``).
"""
import os
import re
import signal
import subprocess
import threading

import torch
from reliability_helpers import (
    ENV, TIMEOUT, by_update, load_checkpoint, records, run, train_command, uninterrupted, uninterrupted_run,
    without_timing,
)

KILL_AFTER = re.compile(r"Saved checkpoint .*checkpoint_2_8\.pt")  # update 8 = epoch 2, 2 of 6 batches


def run_until_killed(cmd):
    """Start ``cmd``, SIGKILL it as soon as it logs the mid-epoch checkpoint at update 8; returns its log."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    watchdog = threading.Timer(TIMEOUT, proc.kill)  # never hang: a stuck run is killed and the test fails
    watchdog.start()
    lines, killed = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            if KILL_AFTER.search(line):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
        proc.wait()
    finally:
        watchdog.cancel()
    log = "".join(lines)
    assert killed, f"the run ended before its checkpoint at update 8:\n{log[-3000:]}"
    assert proc.returncode == -signal.SIGKILL
    return log


def test_sigkill_mid_epoch_then_same_command_resumes_exactly(tmp_path):
    uninterrupted()  # starts the reference run beside this one
    cmd = train_command(tmp_path / "ckpt")

    first_log = run_until_killed(cmd)
    last = load_checkpoint(tmp_path / "ckpt" / "checkpoint_last.pt")
    position = last["extra_state"]["train_iterator"]
    assert (position["epoch"], position["iterations_in_epoch"]) == (2, 2), "checkpoint_last.pt is not mid-epoch"
    assert last["optimizer_history"][-1]["num_updates"] == 8

    resumed = run(cmd)  # the same command, unchanged
    assert "Loaded checkpoint" in resumed.stdout and "(epoch 2 @ 8 updates)" in resumed.stdout
    after = by_update(resumed.stdout)
    assert sorted(after) == list(range(9, 16)), "the restart did not continue from update 8"

    ref_dir, ref_log = uninterrupted_run()
    # every update logged by either part equals the uninterrupted run's (loss, metrics, lr, gnorm)
    reference = by_update(ref_log)
    assert sorted(reference) == list(range(1, 16))
    for update, rec in {**by_update(first_log), **after}.items():
        assert rec == reference[update], f"update {update} differs"

    # same final validation metrics, same saved predictions, bit-identical final weights
    ref_valid = without_timing(records(ref_log, "valid")[-1])
    assert without_timing(records(resumed.stdout, "valid")[-1]) == ref_valid
    assert ref_valid["valid_num_updates"] == "15"
    assert (tmp_path / "ckpt" / "predictions.jsonl").read_text() == (ref_dir / "predictions.jsonl").read_text()
    ours = load_checkpoint(tmp_path / "ckpt" / "checkpoint_last.pt")["model"]
    theirs = load_checkpoint(ref_dir / "checkpoint_last.pt")["model"]
    assert ours.keys() == theirs.keys()
    for name in theirs:
        assert torch.equal(ours[name], theirs[name]), name

