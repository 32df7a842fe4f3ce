"""Finished experiment runs read back for statistics: their label space and their test predictions.

A *run directory* holds ``results.json`` and ``predictions.jsonl`` (written by ``emotion-experiment``);
a *configuration directory* holds several of them, one per seed (``seed1/``, ``seed2/`` ...) or per
fold. :func:`load_runs` accepts either.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List

import numpy as np

from emotion_core.label_spaces import label_space
from emotion_core.labels import LabelInfo
from emotion_eval.scoring import read_rows


@dataclass
class Run:
    """One run's test predictions, in its label space: ``ids[i]`` has prediction ``preds[i]``, target ``targets[i]``."""

    path: Path
    space: object  # a LabelSpace
    ids: List[str]
    preds: list
    targets: list
    rows: list  # the predictions file's rows (with "probs" when the label space has classes)
    results: dict

    def stats_matrix(self, order=None):
        """(N, S) per-utterance summable statistics in ``space.stat_keys()`` order (rows in ``order`` of ids)."""
        index = {uid: i for i, uid in enumerate(self.ids)}
        keys = self.space.stat_keys()
        rows = [index[uid] for uid in (order or self.ids)]
        return np.array([[self.space.stats([self.preds[i]], [self.targets[i]]).get(k, 0) for k in keys]
                         for i in rows], dtype=np.float64)


def is_run(path):
    """Whether ``path`` is a finished run directory."""
    return (Path(path) / "results.json").is_file() and (Path(path) / "predictions.jsonl").is_file()


def load_run(path, exclude_zero=False):
    """The :class:`Run` of a finished run directory (``exclude_zero``: without the utterances whose regression
    target is 0, the original code's protocol)."""
    path = Path(path)
    results = json.loads((path / "results.json").read_text())
    info = LabelInfo.from_json(results["labels"], str(path / "results.json")) if "labels" in results else None
    space = label_space(results["target_type"], info)
    rows = [row for _, row in read_rows([path / "predictions.jsonl"])]
    if exclude_zero:
        rows = [r for r in rows if space.from_json(r["target"]) != 0]
    ids = [str(r["id"]) for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path / 'predictions.jsonl'}: an utterance id appears twice")
    return Run(path, space, ids, [space.from_json(r["pred"]) for r in rows],
               [space.from_json(r["target"]) for r in rows], rows, results)


def load_runs(path):
    """The runs of a run directory (one) or of a configuration directory (every finished run below it)."""
    path = Path(path)
    if is_run(path):
        return [load_run(path)]
    runs = [load_run(p.parent) for p in sorted(path.glob("**/results.json")) if is_run(p.parent)]
    if not runs:
        raise ValueError(f"{path}: neither a finished run (results.json + predictions.jsonl) nor a folder of runs")
    kinds = {(r.space.target_type, r.space.names) for r in runs}
    if len(kinds) > 1:
        raise ValueError(f"{path}: runs of different label spaces {sorted(kinds)} cannot be summarised together")
    return runs
