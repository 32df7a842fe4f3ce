"""Shared fixtures: the small demo build (pretrained stand-ins + corpus) and its prepared data directory.

Both are built once per session under ``<repo>/.cache`` by the project's own scripts, exactly as a
user would run them, and reused by later sessions when complete (the scripts skip finished work).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"


def run_script(*args, cwd=REPO, timeout=900):
    """Run a project script with the current interpreter; fail the test with its output on error."""
    cmd = [sys.executable, *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                    f"--- stderr\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small convolutions run faster on one thread than on two shared cores (use per module)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def demo_assets():
    """The ``--small`` demo build: ``pretrained/`` (stand-ins of the releases) and ``corpus/``."""
    out = CACHE / "test-assets"
    run_script(REPO / "scripts" / "make_demo_assets.py", "--out", out, "--small")
    return out


@pytest.fixture(scope="session")
def demo_data(demo_assets):
    """The demo corpus prepared into a data directory (session split: 1-3 train, 4 valid, 5 test)."""
    out = CACHE / "test-data"
    run_script(REPO / "scripts" / "prepare_data.py", "manifest",
               "--raw", demo_assets / "corpus" / "manifest.tsv",
               "--pretrained", demo_assets / "pretrained", "--out", out)
    return out
