"""Shared fixtures: the small demo build (pretrained stand-ins + corpus) and its prepared data directory.

Both are built once per session under ``<repo>/.cache`` by the project's own scripts, exactly as a
user would run them, and reused by later sessions when complete (the scripts skip finished work).
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from helpers import InProcessPreprocess, make_pretrained

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"


def run_script(*args, cwd=REPO, timeout=900):
    """Run a project script with the current interpreter (or an executable given first, e.g. fairseq-train);
    fail the test with its output on error."""
    args = list(map(str, args))
    cmd = args if Path(args[0]).name.startswith("fairseq-") else [sys.executable, *args]
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
    """The demo corpus prepared into a data directory (session split: 1-3 train, 4 valid, 5 test), its four
    emotions in the paper's order as the demo prepares them, with both speech inputs (tokens and audio)."""
    out = CACHE / "test-data"
    run_script(REPO / "scripts" / "prepare_data.py", "manifest",
               "--raw", demo_assets / "corpus" / "manifest.tsv", "--speech-input", "both",
               "--pretrained", demo_assets / "pretrained", "--out", out, "--classes", "neutral,happy,sad,angry")
    return out


@pytest.fixture(scope="session")
def demo_checkpoint(demo_assets, demo_data, tmp_path_factory):
    """A shallow-fusion iemocap_binary checkpoint fine-tuned 4 updates on the demo data, and
    fairseq-validate's test-split predictions: {"checkpoint", "pretrained", "data", "saved", "dir"}."""
    out = tmp_path_factory.mktemp("demo_checkpoint")
    pre, fairseq_bin = demo_assets / "pretrained", Path(sys.executable).parent
    run_script(fairseq_bin / "fairseq-train", demo_data, "--user-dir", REPO, "--task", "multimodal_emotion",
               "--target-type", "iemocap_binary", "--arch", "ssl_emotion_shallow", "--criterion", "multimodal_emotion",
               "--speech-checkpoint", pre / "bert_kmeans" / "bert_kmeans.pt",
               "--text-checkpoint", pre / "roberta.large" / "model.pt",
               "--optimizer", "adam", "--lr", "1e-3", "--batch-size", "16", "--max-update", "4",
               "--dropout", "0", "--attention-dropout", "0", "--pooler-dropout", "0",
               "--num-workers", "0", "--disable-validation", "--no-epoch-checkpoints", "--save-dir", out / "ckpt",
               "--cpu", "--seed", "1", "--no-progress-bar", cwd=out)
    checkpoint = out / "ckpt" / "checkpoint_last.pt"
    preds = out / "valid_test.jsonl"
    run_script(fairseq_bin / "fairseq-validate", demo_data, "--user-dir", REPO, "--task", "multimodal_emotion",
               "--path", checkpoint, "--valid-subset", "test", "--save-predictions", preds,
               "--batch-size", "8", "--num-workers", "0", "--cpu", cwd=out)
    saved = {r["id"]: r for r in map(json.loads, preds.read_text().splitlines())}
    return {"checkpoint": checkpoint, "pretrained": pre, "data": demo_data, "saved": saved, "dir": out}


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory):
    """The files data preparation reads: a vq-wav2vec stand-in, both dict.txt, a GPT-2 BPE (PretrainedLayout)."""
    return make_pretrained(tmp_path_factory.mktemp("pretrained"))


@pytest.fixture
def fast_binarize(monkeypatch):
    """Saves the start-up of two fairseq-preprocess processes per run; the CLI end-to-end tests keep them."""
    import emotion_data.binarize

    monkeypatch.setattr(emotion_data.binarize, "run_preprocess", InProcessPreprocess)


@pytest.fixture(scope="session")
def demo_server(demo_checkpoint, tmp_path_factory):
    """``scripts/serve.py`` serving the demo checkpoint on a free local port (upload limit 2 MB), for the
    session: {"url", "process", "max_upload_mb"}. The server's log is shown if it fails to start."""
    with socket.socket() as s:  # a free port (closed again just before the server binds it)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(REPO / "scripts" / "serve.py"),
                                    "--checkpoint", str(demo_checkpoint["checkpoint"]),
                                    "--pretrained", str(demo_checkpoint["pretrained"]),
                                    "--port", str(port), "--max-upload-mb", "2"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"the server did not start (exit {process.poll()}):\n{log.read_text()[-5000:]}")
        time.sleep(0.5)
    yield {"url": url, "process": process, "max_upload_mb": 2, "log": log}
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
