"""The plugin loads as a fairseq user dir, registers once, and loads fairseq checkpoints safely."""
import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO

FAIRSEQ_BIN = REPO / ".venv" / "bin"


def run_python(code, cwd):
    """Run ``code`` in a fresh interpreter (clean registries) and return the finished process."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("first", ["packages", "user_dir"])
def test_registration_happens_once_whatever_the_import_order(first, tmp_path):
    imports = {
        "packages": "import emotion_models, emotion_tasks, emotion_criterions",
        "user_dir": f"utils.import_user_module(argparse.Namespace(user_dir={str(REPO)!r}))",
    }
    second = "user_dir" if first == "packages" else "packages"
    code = f"""
import argparse
from fairseq import utils
from fairseq.criterions import CRITERION_REGISTRY
from fairseq.models import ARCH_MODEL_REGISTRY, MODEL_REGISTRY
from fairseq.tasks import TASK_REGISTRY
{imports[first]}
{imports[second]}
utils.import_user_module(argparse.Namespace(user_dir={str(REPO)!r}))
import emotion_models.ssl_emotion as a, sys
assert "multimodal_emotion" in TASK_REGISTRY and "multimodal_emotion" in CRITERION_REGISTRY
assert "ssl_emotion" in MODEL_REGISTRY
for arch in ("ssl_emotion_shallow", "ssl_emotion_coattn", "ssl_emotion_speech_only", "ssl_emotion_text_only"):
    assert arch in ARCH_MODEL_REGISTRY, arch
copies = [name for name in sys.modules if name.endswith("emotion_models.ssl_emotion")]
assert copies == ["emotion_models.ssl_emotion"], copies
print("OK")
"""
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_fairseq_train_help_lists_the_task_options_from_any_directory(tmp_path):
    proc = subprocess.run([str(FAIRSEQ_BIN / "fairseq-train"), "--user-dir", str(REPO),
                           "--task", "multimodal_emotion", "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--target-type" in proc.stdout and "--save-predictions" in proc.stdout


def _legacy_state():
    """A checkpoint as fairseq 0.9 wrote it: ``args`` Namespace, numpy scalars in the history and extra state."""
    return {
        "args": argparse.Namespace(arch="roberta_base", task="masked_lm", lr=[0.0005], max_positions=512),
        "model": {"encoder.weight": torch.arange(6.0).view(2, 3)},
        "optimizer_history": [{"criterion_name": "MaskedLmLoss", "optimizer_name": "FairseqAdam",
                               "lr_scheduler_state": {"best": np.float64(2.5)}, "num_updates": 10}],
        "extra_state": {"val_loss": np.float64(2.5), "train_iterator": {"epoch": 3}},
    }


def test_legacy_and_new_style_checkpoints_load_with_weights_only(tmp_path):
    from fairseq import checkpoint_utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from omegaconf import OmegaConf

    import emotion_models  # noqa: F401  (installs the allowlist)

    legacy = tmp_path / "legacy.pt"
    torch.save(_legacy_state(), legacy)
    state = checkpoint_utils.load_checkpoint_to_cpu(str(legacy))
    assert state["cfg"].model.arch == "roberta_base"  # fairseq upgraded the Namespace to a cfg
    assert state["extra_state"]["val_loss"] == 2.5
    assert torch.equal(state["model"]["encoder.weight"], torch.arange(6.0).view(2, 3))

    new = tmp_path / "new.pt"
    cfg = convert_namespace_to_omegaconf(_legacy_state()["args"])
    torch.save({"args": None, "cfg": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
                "model": {"w": torch.ones(2)}, "extra_state": {"epoch": 1},
                "optimizer_history": [{"criterion_name": "MaskedLmLoss", "optimizer_name": "FairseqAdam",
                                       "lr_scheduler_state": {"best": 2.5}, "num_updates": 10}]}, new)
    state = checkpoint_utils.load_checkpoint_to_cpu(str(new))
    assert state["cfg"].model.arch == "roberta_base" and torch.equal(state["model"]["w"], torch.ones(2))


def test_checkpoint_with_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "extra_state": Payload()}, evil)
    from fairseq import checkpoint_utils

    from emotion_fairseq.safe_checkpoint import CheckpointLoadError

    with pytest.raises(CheckpointLoadError, match="evil.pt.*refused"):
        checkpoint_utils.load_checkpoint_to_cpu(str(evil))
    assert not marker.exists()


def test_truncated_checkpoint_gives_an_error_naming_the_file(tmp_path):
    from fairseq import checkpoint_utils

    from emotion_fairseq.safe_checkpoint import CheckpointLoadError

    path = tmp_path / "cut.pt"
    torch.save(_legacy_state(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointLoadError, match="cut.pt"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))


def test_plugin_loaded_through_user_dir_makes_fairseq_load_legacy_checkpoints(tmp_path):
    legacy = tmp_path / "legacy.pt"
    torch.save(_legacy_state(), legacy)
    code = f"""
import argparse
from fairseq import checkpoint_utils, utils
utils.import_user_module(argparse.Namespace(user_dir={str(REPO)!r}))
state = checkpoint_utils.load_checkpoint_to_cpu({str(legacy)!r})
print("arch", state["cfg"].model.arch)
"""
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "arch roberta_base" in proc.stdout


class NotAllowed:
    """A class that no fairseq checkpoint holds."""


def test_weights_only_stays_on_for_everything_else():
    import io

    import emotion_models  # noqa: F401

    buffer = io.BytesIO()
    torch.save({"x": NotAllowed()}, buffer)
    buffer.seek(0)
    with pytest.raises(Exception, match="NotAllowed"):
        torch.load(buffer)


def test_the_fairseq_release_whose_internals_are_patched_is_checked():
    from emotion_fairseq.compat import check_fairseq_version

    check_fairseq_version()  # the installed one
    check_fairseq_version("0.12.2")
    with pytest.raises(RuntimeError, match="fairseq 0.13.0 is installed, but this plugin wraps and patches"):
        check_fairseq_version("0.13.0")
