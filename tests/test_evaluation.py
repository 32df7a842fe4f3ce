"""Evaluation you can trust: summaries over seeds with bootstrap intervals, paired comparisons, calibration,
and the protocol guards; each number against an independent computation (scipy, scikit-learn, by hand)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import binom, bootstrap
from sklearn.metrics import brier_score_loss

from emotion_core.calibration_file import read_temperature, write_temperature
from emotion_core.label_spaces import label_space
from emotion_core.labels import LabelInfo
from emotion_eval import calibration as C
from emotion_eval.bootstrap import summarize
from emotion_eval.compare import compare
from emotion_eval.compare import main as compare_main
from emotion_eval.runs import load_runs
from emotion_reproduce import experiment

CLASSES = LabelInfo("categorical", ("neg", "neu", "pos"))


def write_run(path, targets, preds, target_type="categorical", info=CLASSES, probs=None):
    """A finished run directory: results.json and predictions.jsonl (ids u000...)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    space = label_space(target_type, info)
    (path / "results.json").write_text(json.dumps({"target_type": target_type, "labels": info.to_json()}))
    rows = []
    for i, (t, p) in enumerate(zip(targets, preds)):
        row = {"id": f"u{i:03d}", "target": space.to_json(t), "pred": space.to_json(p)}
        if probs is not None:
            row["probs"] = dict(zip(space.names, map(float, probs[i])))
        rows.append(json.dumps(row))
    (path / "predictions.jsonl").write_text("\n".join(rows) + "\n")
    return path


def noisy(targets, rate, seed, k=3):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(len(targets)) < rate, rng.integers(0, k, len(targets)), targets)


# ----------------------------------------------------------------------------------------- summaries
def test_summary_of_seeds_matches_an_independent_bootstrap(tmp_path):
    targets = np.random.default_rng(0).integers(0, 3, 300)
    for seed in (1, 2):
        write_run(tmp_path / "config" / f"seed{seed}", targets, noisy(targets, 0.4, seed))
    runs = load_runs(tmp_path / "config")
    summary = summarize(runs, resamples=2000, seed=0)
    wa = summary["metrics"]["wa"]
    per_run = [float(np.mean(r.preds == targets)) for r in (runs[0], runs[1])]
    assert wa["values"] == pytest.approx(per_run) and wa["mean"] == pytest.approx(np.mean(per_run))
    assert wa["std"] == pytest.approx(np.std(per_run, ddof=1))
    # independent: scipy's percentile bootstrap of the mean (over the 2 runs) of per-utterance correctness
    correct = np.mean([np.asarray(r.preds) == targets for r in runs], axis=0)
    reference = bootstrap((correct,), np.mean, n_resamples=2000, method="percentile", random_state=1)
    assert wa["ci95"] == pytest.approx([reference.confidence_interval.low, reference.confidence_interval.high],
                                       abs=0.01)
    assert summary["metrics"]["per_class"]["pos"]["recall"]["ci95"][0] <= summary["metrics"]["per_class"]["pos"]["recall"]["mean"]
    assert summary["interval"]["resamples"] == 2000 and "percentile bootstrap" in summary["interval"]["method"]


# ----------------------------------------------------------------------------------------- comparisons
def test_mcnemar_exact_for_single_runs_of_an_accuracy_metric(tmp_path, capsys):
    targets = np.zeros(50, dtype=int)
    a, b = targets.copy(), targets.copy()
    a[:3] = 1  # A wrong on 3 utterances
    b[3:12] = 1  # B wrong on 9 others: discordant 9 (only A right) vs 3 (only B right)
    write_run(tmp_path / "a", targets, a)
    write_run(tmp_path / "b", targets, b)
    assert compare_main([str(tmp_path / "a"), str(tmp_path / "b"), "--metric", "wa", "--resamples", "500"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["difference"] == pytest.approx(0.94 - 0.82)
    assert result["p_value"] == pytest.approx(min(1.0, 2 * binom.cdf(3, 12, 0.5)))  # two-sided exact binomial
    assert result["test"].startswith("McNemar exact") and result["n_utterances"] == 50
    assert result["ci95"][0] <= result["difference"] <= result["ci95"][1]


def test_paired_bootstrap_for_several_seeds(tmp_path):
    targets = np.random.default_rng(3).integers(0, 3, 200)
    for seed in (1, 2):
        write_run(tmp_path / "good" / f"seed{seed}", targets, noisy(targets, 0.3, seed))
        write_run(tmp_path / "bad" / f"seed{seed}", targets, noisy(targets, 0.6, 10 + seed))
    result = compare(load_runs(tmp_path / "good"), load_runs(tmp_path / "bad"), "ua", resamples=1000)
    assert result["test"].startswith("paired bootstrap") and result["n_runs"] == [2, 2]
    assert result["difference"] > 0 and result["ci95"][0] > 0 and result["p_value"] == pytest.approx(2 / 1001)
    same = compare(load_runs(tmp_path / "good"), load_runs(tmp_path / "good"), "ua", resamples=200)
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_comparisons_need_the_same_test_utterances(tmp_path, capsys):
    write_run(tmp_path / "a", [0, 1, 2], [0, 1, 2])
    write_run(tmp_path / "b", [0, 1], [0, 1])
    assert compare_main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert "its test utterances differ" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- calibration
def test_ece_by_hand():
    # bins of width 1/15: 0.95 and 0.99 fall in the last bin, 0.6 in bin 9 ((0.533, 0.6]), 0.2 in bin 3
    confidence = [0.95, 0.99, 0.6, 0.2]
    correct = [1, 0, 1, 0]
    expected = 0.5 * abs(0.5 - 0.97) + 0.25 * abs(1 - 0.6) + 0.25 * abs(0 - 0.2)
    assert C.expected_calibration_error(confidence, correct) == pytest.approx(expected)


def test_brier_matches_scikit_learn():
    rng = np.random.default_rng(0)
    probs, outcomes = rng.random((50, 3)), rng.integers(0, 2, (50, 3))
    expected = np.mean([brier_score_loss(outcomes[:, k], probs[:, k]) for k in range(3)])
    assert C.brier(probs, outcomes, binary=True) == pytest.approx(expected)
    dist = probs / probs.sum(axis=1, keepdims=True)
    targets = rng.integers(0, 3, 50)
    assert C.brier(dist, targets, binary=False) == pytest.approx(np.mean(np.sum((dist - np.eye(3)[targets]) ** 2, 1)))


def overconfident(n, seed):
    """Logits of a model right 70% of the time but sure of itself (temperature 1 / 4 too sharp)."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.7, targets, rng.integers(0, 3, n))
    logits = rng.normal(0, 1, (n, 3)) + 3.0 * np.eye(3)[predicted]
    return torch.tensor(logits * 4).softmax(-1).numpy(), targets


def test_temperature_scaling_lowers_the_ece_of_an_overconfident_model():
    valid, test = overconfident(2000, 0), overconfident(2000, 1)
    result = C.calibration(valid, test, binary=False)
    assert result["temperature"] > 2
    assert result["ece_after"] < result["ece_before"] / 2 and result["brier_after"] < result["brier_before"]
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 4001))  # independent: the best temperature on a fine grid
    best = grid[np.argmin([C.nll(C.scale(valid[0], t, False), valid[1], False) for t in grid])]
    assert result["temperature"] == pytest.approx(best, rel=0.01)


def test_binary_temperature_is_temperature_scaling_of_the_two_logits():
    logits = torch.randn(20, 4, 2)
    p_yes = logits.softmax(-1)[..., 1].numpy()
    np.testing.assert_allclose(C.scale(p_yes, 2.5, binary=True), (logits / 2.5).softmax(-1)[..., 1].numpy(), atol=1e-6)


def test_temperature_file_round_trip_and_malformed(tmp_path):
    ckpt = tmp_path / "checkpoint_best.pt"
    assert read_temperature(ckpt) is None
    write_temperature(ckpt, 1.7, label_space("categorical", CLASSES))
    assert read_temperature(ckpt) == 1.7
    (tmp_path / "checkpoint_best.calibration.json").write_text('{"temperature": -3}')
    with pytest.raises(ValueError, match="checkpoint_best.calibration.json: temperature -3"):
        read_temperature(ckpt)


# ----------------------------------------------------------------------------------------- guards
@pytest.mark.parametrize("flag", ["valid_subset", "train_subset"])
def test_the_driver_refuses_to_select_or_train_on_the_test_split(tmp_path, flag):
    with pytest.raises(ValueError, match="the test split would choose the checkpoint"):
        experiment.check_selection({"fairseq": {flag: "valid,test"}})
    experiment.check_selection({"fairseq": {"valid_subset": "valid"}})


def test_a_speaker_in_train_and_test_is_an_error_unless_allowed(pretrained, tmp_path, fast_binarize):
    from helpers import make_manifest

    from emotion_data import prepare

    manifest = make_manifest(tmp_path / "c")
    text = manifest.read_text().replace("\tspk5\t5\t", "\tspk1\t5\t")  # the test session's speaker also in train
    text = text.replace("\tspk4\t4\t", "\tunknown\t4\t")  # an unknown speaker is exempt, and counted
    manifest.write_text(text)
    with pytest.raises(prepare.PreparationError, match=r"1 speaker\(s\) in both the train and the test split \(spk1\)"):
        prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "data", label_columns=("sentiment",))
    report = prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "data", label_columns=("sentiment",),
                                      allow_speaker_overlap=True)
    assert report["speaker_overlap"] == {"train_test": ["spk1"], "count": 1, "allowed": True,
                                         "unknown_speaker_utterances": 1}
