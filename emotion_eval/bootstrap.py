"""Summaries over runs (seeds, folds): mean, standard deviation and a bootstrap confidence interval.

The interval of a metric is the percentile bootstrap of its mean over the runs: each replicate draws,
with replacement, the utterances of every test set (the runs sharing a test set, e.g. the seeds of a
fold, share the draw), recomputes each run's metric from the summed statistics of the drawn
utterances, and averages over the runs. It reflects the test set's sampling variation as well as
the spread between runs.
"""
import math
import statistics

import numpy as np

from emotion_core.metrics import flatten_metrics

RESAMPLES = 1000
METHOD = ("percentile bootstrap over test utterances (resampled per test set, the draw shared by the runs "
          "on it), of the mean of the metric over runs")


def _numeric_leaves(metrics):
    """The flattened metrics that are numbers (confusion matrices and names are left out)."""
    return {k: v for k, v in flatten_metrics(metrics).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def replicate_metrics(runs, resamples=RESAMPLES, seed=0):
    """{flat metric name: (resamples,) array of the mean over runs of each bootstrap replicate}."""
    rng = np.random.default_rng(seed)
    groups = {}
    for run in runs:  # runs on the same utterances share a draw
        groups.setdefault(tuple(sorted(run.ids)), []).append(run)
    prepared = [(len(key), [(run, run.stats_matrix(list(key))) for run in members]) for key, members in groups.items()]
    keys = runs[0].space.stat_keys()
    out = {}
    for b in range(resamples):
        values = []
        for n, members in prepared:
            weights = rng.multinomial(n, np.full(n, 1.0 / n))
            for run, matrix in members:
                stats = dict(zip(keys, weights @ matrix))
                values.append(_numeric_leaves(run.space.metrics(stats)))
        for name in values[0]:
            out.setdefault(name, np.empty(resamples))[b] = np.mean([v[name] for v in values if v.get(name) is not None])
    return out


def summarize(runs, resamples=RESAMPLES, seed=0):
    """summary.json's content: per metric (nested as in results.json) values per run, mean, std, ci95."""
    per_run = [_numeric_leaves(run.space.metrics(run.space.stats(run.preds, run.targets))) for run in runs]
    replicates = replicate_metrics(runs, resamples, seed)
    flat = {}
    for name in per_run[0]:
        values = [v.get(name) for v in per_run]
        known = [v for v in values if v is not None and math.isfinite(v)]
        if not known:
            continue
        low, high = np.nanpercentile(replicates[name], [2.5, 97.5]) if name in replicates else (math.nan, math.nan)
        flat[name] = {"values": values, "mean": statistics.fmean(known),
                      "std": statistics.stdev(known) if len(known) > 1 else 0.0,
                      "ci95": [float(low), float(high)]}
    return {"metrics": _nest(flat, runs[0].space.metrics({})), "runs": [str(r.path) for r in runs],
            "n_runs": len(runs), "n_utterances": sum(len(r.ids) for r in runs),
            "interval": {"method": METHOD, "resamples": resamples, "seed": seed, "level": 0.95}}


def _nest(flat, template, prefix=""):
    """``flat`` (``happy_acc``: ...) nested like ``template`` (``{"happy": {"acc": ...}}``)."""
    out = {}
    for key, value in template.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            nested = _nest(flat, value, f"{name}_")
            if nested:
                out[key] = nested
        elif name in flat:
            out[key] = flat[name]
    return out
