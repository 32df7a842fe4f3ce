"""Helpers of the reliability tests: fairseq CLI commands on the tiny assets, run in subprocesses with timeouts.

Every command runs with one thread per process and unbuffered output, so that a test can follow the log
while the run goes on (test_resume kills a run on a log line) and never waits forever (each run has a
timeout; a run that passes it fails the test with its output).
"""
import functools
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from tiny_pretrained import checkpoint_paths, tiny_assets

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TIMEOUT = 300  # seconds for one fairseq run on 2 shared cores (a run takes ~20 s)

# Logged fields that measure speed or time, not the model: left out of comparisons.
TIMING = re.compile(r"(^|_)(wps|ups|wpb|bsz|wall|train_wall|gb_free)$")

# 24 train utterances, batch 4: 6 updates per epoch; checkpoints every 4 updates (mid-epoch at 4, 8, 16);
# dropout on, so that the resumed run also needs the dropout RNG to be restored.
TRAIN_OPTIONS = [
    "--user-dir", str(REPO), "--task", "multimodal_emotion", "--criterion", "multimodal_emotion",
    "--arch", "ssl_emotion_shallow", "--cpu", "--seed", "3", "--num-workers", "0",
    "--batch-size", "4", "--optimizer", "adam", "--lr", "1e-4", "--lr-scheduler", "fixed",
    "--dropout", "0.1", "--attention-dropout", "0.1", "--pooler-dropout", "0.1",
    "--max-update", "15", "--save-interval-updates", "4", "--keep-interval-updates", "1",
    "--no-epoch-checkpoints", "--log-format", "json", "--log-interval", "1",
]


def model_options(pretrained):
    speech, text = checkpoint_paths(pretrained)
    return ["--speech-checkpoint", str(speech), "--text-checkpoint", str(text)]


def train_command(save_dir, *extra, data=None, target_type="iemocap_binary"):
    """The fairseq-train command of the reliability runs (tiny assets, CPU, fixed seed)."""
    assets = tiny_assets()
    data = data or assets[target_type]
    return [str(BIN / "fairseq-train"), str(data), *TRAIN_OPTIONS, *model_options(assets["pretrained"]),
            "--target-type", target_type, "--save-dir", str(save_dir),
            "--save-predictions", str(Path(save_dir) / "predictions.jsonl"), *map(str, extra)]


def run(cmd, timeout=TIMEOUT, expect_ok=True, cwd=None):
    """Run a command; fail the test (with its output) on a timeout or, if ``expect_ok``, a non-zero exit."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=cwd)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{' '.join(map(str, cmd))} hung for {timeout} s\n{(err.stdout or b'')[-4000:]}")
    if expect_ok and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                    f"--- stderr\n{proc.stderr[-6000:]}")
    return proc


def records(log, tag):
    """JSON records fairseq logged under ``tag`` (train_inner, valid, train) in a --log-format json log."""
    out = []
    for line in log.splitlines():
        m = re.search(rf"\| {re.escape(tag)} \| (\{{.*\}})\s*$", line)
        if m:
            out.append(json.loads(m.group(1)))
    return out


def without_timing(record):
    """A logged record without its speed/time fields."""
    return {k: v for k, v in record.items() if not TIMING.search(k)}


def by_update(log):
    """{num_updates: train_inner record without timing} of a log."""
    return {int(r["num_updates"]): without_timing(r) for r in records(log, "train_inner")}


def load_checkpoint(path):
    """A checkpoint through fairseq's loader (weights_only, the plugin's allowlist)."""
    import emotion_models  # noqa: F401  (installs the safe loader)
    from fairseq import checkpoint_utils

    return checkpoint_utils.load_checkpoint_to_cpu(str(path))


class Background:
    """A command running in the background (runs are single-threaded: two of them use both cores)."""

    def __init__(self, cmd, env=None):
        self.cmd = list(map(str, cmd))
        self.files = [tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")]  # no pipe to fill up
        self.proc = subprocess.Popen(self.cmd, stdout=self.files[0], stderr=self.files[1], text=True,
                                     env={**ENV, **(env or {})}, cwd=REPO)

    def result(self, timeout=TIMEOUT, expect_ok=True):
        """Wait for it; returns (stdout, stderr), failing the test on a timeout or an unexpected failure."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        out, err = [(f.seek(0), f.read())[1] for f in self.files]
        if code is None:
            pytest.fail(f"{' '.join(self.cmd)} hung for {timeout} s\n{out[-4000:]}")
        if expect_ok and code != 0:
            pytest.fail(f"{' '.join(self.cmd)} exited {code}\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-6000:]}")
        return out, err


@functools.lru_cache(maxsize=None)
def uninterrupted():
    """One complete run of :func:`train_command`, started on first use and shared by the resume and
    determinism tests; returns (save_dir, Background). Its folder is removed with the tiny assets."""
    root = Path(tempfile.mkdtemp(prefix="uninterrupted_", dir=tiny_assets()["pretrained"].parent))
    return root / "ckpt", Background(train_command(root / "ckpt"))


def uninterrupted_run():
    """(save_dir, stdout) of the shared uninterrupted run, waiting for it to finish."""
    save_dir, job = uninterrupted()
    return save_dir, job.result()[0]
