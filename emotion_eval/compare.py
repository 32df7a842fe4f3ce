"""Paired comparison of two systems on the same test utterances: difference, interval, p-value.

    python scripts/compare_runs.py RUN_OR_CONFIG_A RUN_OR_CONFIG_B [--metric NAME] [--resamples 1000]

Each side is a run directory or a configuration directory of several runs (seeds); both must have
predicted the same test utterances. The metric of a side is its mean over its runs. The difference
A - B gets a percentile interval from the paired bootstrap (one draw of utterances shared by both
sides). The test: McNemar's exact test (two-sided binomial test on the discordant utterances) for an
accuracy-type metric when each side is a single run; otherwise the paired bootstrap's two-sided
p-value, 2 x min(P(d* <= 0), P(d* >= 0)) over the replicates d* of the difference.
"""
import argparse
import json
import sys

import numpy as np
from scipy.stats import binomtest

from emotion_core.metrics import flatten_metrics
from emotion_eval.runs import load_runs

RESAMPLES = 1000


def _metric(run, weights, matrix, name):
    stats = dict(zip(run.space.stat_keys(), weights @ matrix))
    return flatten_metrics(run.space.metrics(stats))[name]


def _indicators(runs, order, name):
    """(N,) 0/1 per-utterance correctness of ``name`` for a single run, or None when ``name`` is not accuracy-type."""
    if len(runs) != 1:
        return None
    run = runs[0]
    correct = run.space.correct(name, run.preds, run.targets)
    if correct is None:
        return None
    index = {uid: i for i, uid in enumerate(run.ids)}
    return np.asarray(correct, dtype=bool)[[index[u] for u in order]]


def compare(runs_a, runs_b, metric, resamples=RESAMPLES, seed=0):
    """The comparison's JSON object (see the module docstring)."""
    order = sorted(runs_a[0].ids)
    for run in runs_a + runs_b:
        if sorted(run.ids) != order:
            raise ValueError(f"{run.path}: its test utterances differ from {runs_a[0].path}'s; a paired comparison "
                             "needs the same utterances on both sides")
    space = runs_a[0].space
    names = flatten_metrics(space.metrics(space.stats(runs_a[0].preds, runs_a[0].targets)))
    if metric not in names or isinstance(names[metric], list):
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(k for k, v in names.items() if not isinstance(v, list))}")
    sides = [[(run, run.stats_matrix(order)) for run in runs] for runs in (runs_a, runs_b)]
    n = len(order)
    whole = np.ones(n)
    means = [np.mean([_metric(run, whole, m, metric) for run, m in side]) for side in sides]
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for b in range(resamples):
        weights = rng.multinomial(n, np.full(n, 1.0 / n))
        diffs[b] = (np.mean([_metric(run, weights, m, metric) for run, m in sides[0]])
                    - np.mean([_metric(run, weights, m, metric) for run, m in sides[1]]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    correct_a, correct_b = _indicators(runs_a, order, metric), _indicators(runs_b, order, metric)
    if correct_a is not None and correct_b is not None:
        only_a, only_b = int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))
        p_value = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
        test = f"McNemar exact (discordant utterances: {only_a} only A correct, {only_b} only B correct)"
    else:
        # two-sided, counting the observed split as one resample (never 0: at least 2 / (resamples + 1))
        tail = min(np.sum(diffs <= 0), np.sum(diffs >= 0))
        p_value = min(1.0, 2 * (tail + 1) / (resamples + 1))
        test = f"paired bootstrap ({resamples} resamples of the utterances)"
    return {"metric": metric, "a": float(means[0]), "b": float(means[1]), "difference": float(means[0] - means[1]),
            "ci95": [float(low), float(high)], "p_value": float(p_value), "test": test, "n_utterances": n,
            "n_runs": [len(runs_a), len(runs_b)], "resamples": resamples, "seed": seed}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a", help="run directory or configuration directory (several seeds)")
    p.add_argument("b", help="the other system, on the same test utterances")
    p.add_argument("--metric", help="a metric name as flattened in the logs (e.g. wa, happy_acc, acc7, "
                                    "mean_acc); default: the label space's headline metric")
    p.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    args = p.parse_args(argv)
    try:
        runs_a, runs_b = load_runs(args.a), load_runs(args.b)
        result = compare(runs_a, runs_b, args.metric or runs_a[0].space.headline, args.resamples, args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0
