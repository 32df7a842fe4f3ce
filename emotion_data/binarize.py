"""Binarize token lines with the venv's ``fairseq-preprocess --only-source --srcdict`` (never a data-built dictionary).

For each modality ``DATA_DIR/<modality>/`` receives ``dict.txt`` (a byte copy of the pretrained
model's dictionary) and ``{split}.bin/.idx``. fairseq writes into a temporary folder inside
``DATA_DIR`` (a killed run's folder is removed by the next run: :func:`remove_interrupted_work`);
the files are then moved into place with ``os.replace``.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fairseq.data import Dictionary


WORK_PREFIX = ".binarize-"  # fairseq-preprocess's working folder inside DATA_DIR


def remove_interrupted_work(out_dir):
    """Remove what an interrupted preparation left in ``out_dir``: binarization folders and temporary files."""
    out_dir = Path(out_dir)
    for stale in out_dir.glob(f"{WORK_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in out_dir.rglob(".*.tmp"):
        stale.unlink(missing_ok=True)


def preprocess_command():
    """The venv's ``fairseq-preprocess`` (beside this interpreter), else ``python -m fairseq_cli.preprocess``."""
    cli = Path(sys.executable).parent / "fairseq-preprocess"
    return [str(cli)] if cli.is_file() else [sys.executable, "-m", "fairseq_cli.preprocess"]


def run_preprocess(args):
    """Start ``fairseq-preprocess`` with ``args``; returns a Popen (stdout+stderr piped as text)."""
    return subprocess.Popen([*preprocess_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def unknown_rate(dict_path, lines):
    """Fraction of tokens in ``lines`` that the dictionary maps to ``<unk>`` (0.0 for no token)."""
    d = Dictionary.load(str(dict_path))
    tokens = [t for line in lines for t in line.split()]
    return sum(d.index(t) == d.unk_index for t in tokens) / max(len(tokens), 1)


def binarize(out_dir, modalities, workers=1):
    """Binarize ``{modality: (dict_path, {split: [token line, ...]})}`` into ``out_dir/<modality>/``.

    Empty splits are left out. The fairseq-preprocess runs of all modalities go concurrently;
    a failure raises RuntimeError with fairseq's output.
    """
    out_dir = Path(out_dir)
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=out_dir))
    text_dir = work / "lines"  # a path without commas: fairseq splits --validpref on them
    text_dir.mkdir()
    try:
        procs = {}
        for modality, (dict_path, splits) in modalities.items():
            src, dest = text_dir / modality, work / f"{modality}-bin"
            src.mkdir()
            args = ["--only-source", "--srcdict", str(dict_path), "--destdir", str(dest),
                    "--workers", str(max(1, workers)), "--dataset-impl", "mmap"]
            for split, lines in splits.items():
                if not lines:
                    continue
                (src / split).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
                args += [f"--{split}pref", str(src / split)]
            procs[modality] = run_preprocess(args)
        for modality, proc in procs.items():
            output, _ = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"fairseq-preprocess failed for {modality} (exit {proc.returncode}):\n{output[-4000:]}")
        for modality, (dict_path, splits) in modalities.items():
            target = out_dir / modality
            target.mkdir(parents=True, exist_ok=True)
            for split, lines in splits.items():
                for ext in ("bin", "idx"):
                    if lines:
                        os.replace(work / f"{modality}-bin" / f"{split}.{ext}", target / f"{split}.{ext}")
                    else:  # a split that is empty now must not keep an older run's rows
                        (target / f"{split}.{ext}").unlink(missing_ok=True)
            shutil.copyfile(dict_path, work / "dict.txt")
            os.replace(work / "dict.txt", target / "dict.txt")
    finally:
        shutil.rmtree(work, ignore_errors=True)
