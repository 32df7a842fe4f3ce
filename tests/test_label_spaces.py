"""Label spaces: metrics against scikit-learn and textbook formulas, additivity, parsing, JSON, losses."""
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)

from emotion_core import metrics as M
from emotion_core.label_spaces import label_space
from emotion_core.labels import PAPER_CLASSES, LabelError, LabelInfo, read_labels, read_label_map

SIX = LabelInfo("categorical", ("angry", "disgust", "fear", "happy", "neutral", "sad"))
AVD = LabelInfo("dimensional", ("arousal", "valence", "dominance"), (1.0, 7.0))


def score(space, preds, targets):
    return space.metrics(space.stats(preds, targets))


def assert_close(got, expected):
    """Nested metric dicts equal, numbers to float rounding."""
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        for key in expected:
            assert_close(got[key], expected[key])
    elif isinstance(expected, float):
        assert got == pytest.approx(expected)
    else:
        assert got == expected


# ----------------------------------------------------------------------------------------- categorical
@pytest.mark.parametrize("seed", range(4))
def test_categorical_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    space = label_space("categorical", SIX)
    targets = rng.integers(0, 6, 60)
    targets[targets == 5] = 4  # a class absent from the targets
    preds = np.where(rng.random(60) < 0.5, targets, rng.integers(0, 6, 60))
    got = score(space, preds, targets)
    assert got["wa"] == pytest.approx(accuracy_score(targets, preds))
    assert got["ua"] == pytest.approx(balanced_accuracy_score(targets, preds))
    assert got["macro_f1"] == pytest.approx(f1_score(targets, preds, average="macro", zero_division=0))
    assert got["weighted_f1"] == pytest.approx(f1_score(targets, preds, average="weighted", zero_division=0))
    p, r, f, s = precision_recall_fscore_support(targets, preds, labels=range(6), zero_division=0)
    for i, name in enumerate(SIX.names):
        assert got["per_class"][name] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})
    assert got["confusion"] == {"labels": list(SIX.names),
                                "matrix": confusion_matrix(targets, preds, labels=range(6)).tolist()}


def test_multiclass_keeps_the_paper_keys():
    space = label_space("multiclass")
    targets = [0, 0, 0, 0, 1, 1, 2, 3]  # neutral x4, happy x2, sad, angry
    preds = [0, 0, 0, 1, 1, 0, 2, 0]
    assert score(space, preds, targets) == {"ua": pytest.approx((0.75 + 0.5 + 1.0 + 0.0) / 4), "wa": 5 / 8,
                                            "per_class": {"neutral": 0.75, "happy": 0.5, "sad": 1.0, "angry": 0.0}}
    absent = score(space, [0, 1, 1], [0, 1, 1])
    assert absent["per_class"]["sad"] is None and absent["ua"] == 1.0


# ----------------------------------------------------------------------------------------- per-class binary
@pytest.mark.parametrize("seed", range(4))
def test_per_class_binary_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    space = label_space("per_class_binary", SIX)
    preds, targets = rng.integers(0, 2, (30, 6)), rng.integers(0, 2, (30, 6))
    targets[:, 3] = 0  # a class that never occurs: F1 of "yes" undefined (0, as sklearn)
    got = score(space, preds, targets)
    for i, name in enumerate(SIX.names):
        assert got[name]["acc"] == pytest.approx(accuracy_score(targets[:, i], preds[:, i]))
        expected = f1_score(targets[:, i], preds[:, i], average="weighted", labels=[0, 1], zero_division=0)
        assert got[name]["f1"] == pytest.approx(expected)


def test_weighted_f1_hand_computed_and_the_swapped_arguments_of_mult():
    # targets 1 1 1 0 0, preds 1 1 0 0 1: tp 2, fn 1, tn 1, fp 1
    # F1(1) = 4/6, F1(0) = 2/4, weighted by target support 3 and 2: (4/6*3 + 1/2*2) / 5 = 0.6
    assert M.binary_confusion([1, 1, 0, 0, 1], [1, 1, 1, 0, 0]) == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    assert M.weighted_f1(2, 1, 1, 1) == pytest.approx(0.6)
    # MulT's eval_mosei_senti calls f1_score(preds, truth): the weights are the predicted counts.
    truth, preds = np.array([1] * 8 + [0] * 2), np.array([1] * 4 + [0] * 6)  # skewed predictions
    ours = M.weighted_f1(**M.binary_confusion(preds, truth))
    assert ours == pytest.approx(f1_score(truth, preds, average="weighted"))
    swapped = f1_score(preds, truth, average="weighted")
    assert abs(ours - swapped) > 0.05  # 0.533 vs 0.633 here


# ----------------------------------------------------------------------------------------- regression
def _mmsa(preds, truths):
    """The sentiment metrics as MMSA and the paper's original code compute them (f1_score(truth, pred))."""
    non_zeros = truths != 0
    return {
        "acc7": np.mean(np.round(np.clip(preds, -3, 3)) == np.round(np.clip(truths, -3, 3))),
        "acc5": np.mean(np.round(np.clip(preds, -2, 2)) == np.round(np.clip(truths, -2, 2))),
        "mae": np.mean(np.abs(preds - truths)), "corr": np.corrcoef(preds, truths)[0][1],
        "f1_nonzero": f1_score(truths[non_zeros] > 0, preds[non_zeros] > 0, average="weighted"),
        "acc2_nonzero": accuracy_score(truths[non_zeros] > 0, preds[non_zeros] > 0),
        "f1_haszero": f1_score(truths >= 0, preds >= 0, average="weighted"),
        "acc2_haszero": accuracy_score(truths >= 0, preds >= 0),
    }


@pytest.mark.parametrize("seed", range(3))
def test_regression_matches_mmsa(seed):
    rng = np.random.default_rng(seed)
    truths = np.round(rng.uniform(-3, 3, 50) * 3) / 3
    truths[:5] = 0.0  # zero-sentiment segments
    preds = truths + rng.normal(0, 1, 50)
    got = score(label_space("regression"), preds, truths)
    for key, value in _mmsa(preds, truths).items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


def test_regression_hand_computed():
    preds, truths = [2.6, -0.4, 0.0, 3.9], [3.0, 1.0, 0.0, 2.2]
    r = score(label_space("regression"), preds, truths)
    # rounded clipped [-3,3]: 3 vs 3, -0 vs 1, 0 vs 0, 3 vs 2 -> 2/4; clipped [-2,2]: 2 vs 2, -0 vs 1, 0 vs 0, 2 vs 2 -> 3/4
    assert r["acc7"] == 0.5 and r["acc5"] == 0.75
    assert r["mae"] == pytest.approx((0.4 + 1.4 + 0.0 + 1.7) / 4)
    assert r["acc2_nonzero"] == pytest.approx(2 / 3) and r["acc2_haszero"] == 0.75


# ----------------------------------------------------------------------------------------- dimensional
def test_dimensional_ccc_pearson_mae_match_the_textbook():
    rng = np.random.default_rng(0)
    targets = rng.uniform(1, 7, (40, 3))
    preds = 0.7 * targets + rng.normal(0, 0.8, (40, 3)) + 0.5
    got = score(label_space("dimensional", AVD), preds, targets)
    for i, name in enumerate(AVD.names):
        x, y = preds[:, i], targets[:, i]
        ccc = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
        assert got["ccc"][name] == pytest.approx(ccc)
        assert got["pearson"][name] == pytest.approx(np.corrcoef(x, y)[0, 1])
        assert got["mae"][name] == pytest.approx(np.abs(x - y).mean())
    assert got["mean_ccc"] == pytest.approx(np.mean(list(got["ccc"].values())))
    perfect = score(label_space("dimensional", AVD), targets, targets)
    assert all(v == pytest.approx(1.0) for v in perfect["ccc"].values())


def test_ccc_loss_is_one_minus_the_metric():
    space = label_space("dimensional", AVD)
    rng = np.random.default_rng(1)
    targets, preds = rng.uniform(1, 7, (16, 3)), rng.uniform(1, 7, (16, 3))
    loss = space.loss(torch.tensor(preds), torch.tensor(targets), "ccc")
    ccc = score(space, preds, targets)["ccc"]
    assert float(loss) == pytest.approx(16 * sum(1 - v for v in ccc.values()), rel=1e-5)
    assert float(space.loss(torch.tensor(preds), torch.tensor(targets), "l1")) == pytest.approx(np.abs(preds - targets).sum())


def test_ccc_loss_warns_that_one_utterance_gives_no_gradient():
    space = label_space("dimensional", AVD)
    pred = torch.tensor([[3.0, 4.0, 5.0]], requires_grad=True)
    with pytest.warns(UserWarning, match="batch of one utterance"):
        space.loss(pred, torch.tensor([[2.0, 4.0, 6.0]]), "ccc").backward()
    assert float(pred.grad.abs().sum()) < 1e-6  # why the warning: no signal at all


# ----------------------------------------------------------------------------------------- every space
EXAMPLES = {
    "categorical": (SIX, lambda rng, n: rng.integers(0, 6, n)),
    "per_class_binary": (SIX, lambda rng, n: rng.integers(0, 2, (n, 6))),
    "regression": (LabelInfo("regression"), lambda rng, n: np.round(rng.normal(0, 2, n), 2)),
    "dimensional": (AVD, lambda rng, n: np.round(rng.uniform(1, 7, (n, 3)), 2)),
}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_stats_add_up_over_batches(kind):
    info, draw = EXAMPLES[kind]
    space, rng = label_space(kind, info), np.random.default_rng(0)
    preds, targets = draw(rng, 40), draw(rng, 40)
    total = {}
    for start in range(0, 40, 7):
        M.add_stats(total, space.stats(preds[start:start + 7], targets[start:start + 7]))
    assert set(total) == set(space.stat_keys())
    whole = space.metrics(space.stats(preds, targets))
    assert_close(space.metrics(total), whole)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_json_round_trip_and_head_shape(kind):
    info, draw = EXAMPLES[kind]
    space = label_space(kind, info)
    values = draw(np.random.default_rng(2), 5).tolist()
    for value in values:
        as_json = json.loads(json.dumps(space.to_json(value)))
        assert np.allclose(space.from_json(as_json), value)
    logits = torch.randn(5, *space.head_shape)
    assert len(space.outputs(logits)) == 5 and space.decode(logits).shape[0] == 5


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_named_values_and_logit_names_for_timelines_pages_and_explanations(kind):
    info, _ = EXAMPLES[kind]
    space = label_space(kind, info)
    logits = torch.randn(3, *space.head_shape)
    names = space.logit_names()
    assert len(names) == len(set(names)) == logits[0].numel()  # one name per logit of the flattened head
    for prediction in space.outputs(logits):
        values = space.values(prediction)
        assert list(values) == space.value_names() and all(isinstance(v, float) for v in values.values())
        if space.has_probabilities:
            assert all(0.0 <= v <= 1.0 for v in values.values())
    expected = {"categorical": (True, list(SIX.names)), "per_class_binary": (True, list(SIX.names)),
                "regression": (False, ["sentiment"]), "dimensional": (False, list(AVD.names))}[kind]
    assert (space.has_probabilities, space.value_names()) == expected
    if kind == "per_class_binary":
        assert names[:2] == ["angry:absent", "angry:present"]


def test_parse_label_lines_and_their_errors():
    assert label_space("categorical", SIX).parse("fear", "x:1") == 2
    assert label_space("per_class_binary", SIX).parse("fear", "x:1") == [0, 0, 1, 0, 0, 0]
    assert label_space("dimensional", AVD).parse("2.5\t4\t6.25", "x:1") == [2.5, 4.0, 6.25]
    with pytest.raises(ValueError, match="x:3: expected a class name from .* got 'bored'"):
        label_space("categorical", SIX).parse("bored", "x:3")
    with pytest.raises(ValueError, match="x:4: expected 3 tab-separated values"):
        label_space("dimensional", AVD).parse("2.5\t4", "x:4")
    with pytest.raises(ValueError, match="x:5: 9.0 is outside the labels' range"):
        label_space("dimensional", AVD).parse("9\t4\t4", "x:5")
    for text in ("nan", "1_000", "inf"):
        with pytest.raises(ValueError, match="x:6: expected a finite float"):
            label_space("regression").parse(text, "x:6")


def test_target_types_and_label_kinds_must_fit():
    with pytest.raises(LabelError, match="needs categorical labels, but the data's labels are regression"):
        label_space("multiclass", LabelInfo("regression"))
    with pytest.raises(ValueError, match="unknown target type"):
        label_space("ordinal")
    assert label_space("iemocap_binary").names == PAPER_CLASSES  # data prepared before labels.json


@pytest.mark.parametrize("content,message", [
    ('{"kind": "categorical", "names": ["a"]}', "at least 2 classes"),
    ('{"kind": "categorical", "names": ["a", "a"]}', "names repeat"),
    ('{"kind": "colour", "names": []}', "kind 'colour'"),
    ('{"kind": "regression", "names": [], "range": [3, -3]}', "low < high"),
    ('{"kind": "categorical", "names": ["a\\tb", "c"]}', "without tabs"),
    ('{"kind": "categorical", "names": ["a", "b"], "extra": 1}', "unknown key"),
    ("[1, 2]", "expected a JSON object"),
    ("{not json", "not valid JSON"),
])
def test_malformed_labels_json_is_refused_naming_the_file(tmp_path, content, message):
    (tmp_path / "labels.json").write_text(content)
    with pytest.raises(LabelError, match=f"labels.json.*{message}"):
        read_labels(tmp_path, "categorical")


def test_label_maps_from_json_or_tab_lines(tmp_path):
    (tmp_path / "a.json").write_text('{"excited": "happy", "frustrated": "angry"}')
    (tmp_path / "b.tsv").write_text("# IEMOCAP merges\nexcited\thappy\n\nfrustrated\tangry\n")
    assert read_label_map(tmp_path / "a.json") == read_label_map(tmp_path / "b.tsv") == {"excited": "happy",
                                                                                         "frustrated": "angry"}
    (tmp_path / "c.tsv").write_text("excited happy\n")
    with pytest.raises(LabelError, match="c.tsv:1: expected 'from<TAB>to'"):
        read_label_map(tmp_path / "c.tsv")


def test_exclude_zero_scores_only_the_non_zero_segments(tmp_path, capsys):
    """The original code's protocol: every metric (Acc7, MAE, ...) on the segments whose label is not 0."""
    from emotion_eval import scoring

    truths = np.array([3.0, 1.0, 0.0, 2.2, 0.0, -1.4])
    preds = np.array([2.6, -0.4, 0.3, 3.9, -0.2, -1.0])
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "target": t, "pred": p}) + "\n"
                            for i, (t, p) in enumerate(zip(truths, preds))))
    assert scoring.main(["--protocol", "regression", "--exclude-zero", str(path)]) == 0
    got = json.loads(capsys.readouterr().out)
    kept = truths != 0
    # by hand on (3, 1, 2.2, -1.4) vs (2.6, -0.4, 3.9, -1.0): rounded clipped 3/3, 1/-0, 2/3, -1/-1 -> Acc7 2/4
    assert got["acc7"] == 0.5 and got["mae"] == pytest.approx((0.4 + 1.4 + 1.7 + 0.4) / 4)
    assert got["acc2_haszero"] == got["acc2_nonzero"] == 0.75  # no zero left: both binary protocols agree
    for key, value in _mmsa(preds[kept], truths[kept]).items():
        assert got[key] == pytest.approx(value), key
    every = scoring.score([path], "regression")
    assert every["acc7"] == pytest.approx(4 / 6) and every["mae"] == pytest.approx(np.abs(preds - truths).mean())
    assert scoring.main(["--protocol", "categorical", "--exclude-zero", str(path)]) == 1
