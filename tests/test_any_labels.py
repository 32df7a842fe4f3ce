"""Any label set, with no code change: a 6-class corpus with free-form class names and a 3-dimension
corpus (arousal/valence/dominance), both made from the demo corpus, go through the user's commands:
prepare_data.py manifest -> fairseq-train -> fairseq-validate --save-predictions -> score_predictions.py
-> predict.py."""
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_script
from helpers import run_validate

from emotion_core.labels import LabelError

BIN = Path(sys.executable).parent
# demo emotion -> class; happy and angry are split by speaker gender into two classes each
SIX_CLASSES = {("neutral", "F"): "calm", ("neutral", "M"): "calm", ("sad", "F"): "sorrow", ("sad", "M"): "sorrow",
               ("happy", "F"): "joy", ("happy", "M"): "Excited (high)", ("angry", "F"): "rage",
               ("angry", "M"): "mild irritation"}
AROUSAL = {"angry": 6.0, "happy": 5.0, "neutral": 3.5, "sad": 2.0}
DOMINANCE = {"angry": 5.5, "happy": 4.5, "neutral": 4.0, "sad": 2.5}

pytestmark = pytest.mark.slow


def relabelled_manifest(demo_assets, out):
    """The demo corpus's manifest with a 6-class column and arousal/valence/dominance columns."""
    corpus = demo_assets / "corpus"
    with open(corpus / "manifest.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rng = np.random.default_rng(0)
    for r in rows:
        r["audio"] = str(corpus / r["audio"])
        r["six"] = SIX_CLASSES[r["label"], r["speaker"][-1]]
        r["arousal"] = f"{AROUSAL[r['label']] + rng.normal(0, 0.3):.2f}"
        r["valence"] = f"{np.clip(4 + float(r['sentiment']), 1, 7):.2f}"
        r["dominance"] = f"{DOMINANCE[r['label']] + rng.normal(0, 0.3):.2f}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "manifest.tsv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out / "manifest.tsv"


def prepare(manifest, demo_assets, demo_data, out, *label_args):
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(demo_data / ".cache", out / ".cache")  # the same audio: its speech tokens are reused
    run_script(REPO / "scripts" / "prepare_data.py", "manifest", "--raw", manifest, "--pretrained",
               demo_assets / "pretrained", "--out", out, *label_args)
    return json.loads((out / "labels.json").read_text())


def train_validate_score(data, pretrained, work, target_type, *extra):
    pre = Path(pretrained)
    run_script(BIN / "fairseq-train", data, "--user-dir", REPO, "--task", "multimodal_emotion",
               "--target-type", target_type, "--arch", "ssl_emotion_shallow", "--criterion", "multimodal_emotion",
               "--speech-checkpoint", pre / "bert_kmeans" / "bert_kmeans.pt",
               "--text-checkpoint", pre / "roberta.large" / "model.pt", "--optimizer", "adam", "--lr", "1e-3",
               "--batch-size", "16", "--max-update", "6", "--num-workers", "0", "--no-epoch-checkpoints",
               "--save-dir", work / "ckpt", "--cpu", "--seed", "1", "--no-progress-bar", *extra, cwd=work)
    predictions = work / "test.jsonl"
    run_script(BIN / "fairseq-validate", data, "--user-dir", REPO, "--task", "multimodal_emotion",
               "--path", work / "ckpt" / "checkpoint_last.pt", "--valid-subset", "test",
               "--save-predictions", predictions, "--batch-size", "8", "--num-workers", "0", "--cpu", cwd=work)
    scored = run_script(REPO / "scripts" / "score_predictions.py", "--protocol", target_type,
                        "--labels", data / "labels.json", predictions)
    return [json.loads(line) for line in predictions.read_text().splitlines()], json.loads(scored.stdout)


def predict_rows(checkpoint, pretrained, data, work):
    rows = [line.split("\t") for line in (data / "manifest.tsv").read_text().splitlines()]
    header, test = rows[0], [r for r in rows[1:] if r[rows[0].index("split")] == "test"][:3]
    (work / "new.tsv").write_text("\n".join("\t".join(r) for r in [header, *test]) + "\n")
    run_script(REPO / "scripts" / "predict.py", "--checkpoint", checkpoint, "--pretrained", pretrained,
               "--manifest", work / "new.tsv", "--output", work / "new.jsonl")
    return [json.loads(line) for line in (work / "new.jsonl").read_text().splitlines()]


def test_six_free_form_classes(demo_assets, demo_data, tmp_path):
    manifest = relabelled_manifest(demo_assets, tmp_path / "corpus")
    data = tmp_path / "data"
    labels = prepare(manifest, demo_assets, demo_data, data, "--label-column", "six")
    names = sorted(set(SIX_CLASSES.values()))
    assert labels == {"kind": "categorical", "names": names}  # alphabetical: no --classes given
    rows, metrics = train_validate_score(data, demo_assets / "pretrained", tmp_path, "categorical")
    assert {r["target"] for r in rows} <= set(names) and {r["pred"] for r in rows} <= set(names)
    assert set(metrics) == {"wa", "ua", "macro_f1", "weighted_f1", "per_class", "confusion"}
    assert metrics["confusion"]["labels"] == names and set(metrics["per_class"]) == set(names)
    assert sum(map(sum, metrics["confusion"]["matrix"])) == len(rows)
    predicted = predict_rows(tmp_path / "ckpt" / "checkpoint_last.pt", demo_assets / "pretrained", data, tmp_path)
    for p in predicted:
        assert not p["error"] and p["label"] in names
        assert sum(p[n] for n in names) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(LabelError, match="the checkpoint's model was trained for .*mild irritation"):
        run_validate(demo_data, tmp_path / "ckpt" / "checkpoint_last.pt", ["--target-type", "categorical"])


def test_three_dimensions(demo_assets, demo_data, tmp_path):
    manifest = relabelled_manifest(demo_assets, tmp_path / "corpus")
    data = tmp_path / "data"
    labels = prepare(manifest, demo_assets, demo_data, data, "--label-columns", "arousal,valence,dominance",
                     "--label-range", "1,7")
    dims = ["arousal", "valence", "dominance"]
    assert labels == {"kind": "dimensional", "names": dims, "range": [1.0, 7.0]}
    assert (data / "manifest.tsv").read_text().split("\n")[0].split("\t")[5:8] == dims
    rows, metrics = train_validate_score(data, demo_assets / "pretrained", tmp_path, "dimensional",
                                         "--regression-loss", "ccc")
    assert all(set(r["target"]) == set(dims) == set(r["pred"]) for r in rows)
    assert set(metrics) == {"ccc", "mean_ccc", "pearson", "mae"} and set(metrics["ccc"]) == set(dims)
    assert all(-1.0 <= v <= 1.0 for v in metrics["ccc"].values())
    predicted = predict_rows(tmp_path / "ckpt" / "checkpoint_last.pt", demo_assets / "pretrained", data, tmp_path)
    for p in predicted:
        assert not p["error"] and all(isinstance(p[d], float) for d in dims)
