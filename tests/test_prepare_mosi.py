"""CMU-MOSI and CMU-MOSEI preparation on small trees laid out like the raw releases."""
import json
from pathlib import Path

import pytest

from helpers import TEXTS, load_split, read_manifest_rows, write_wav
from emotion_data import cli as prepare_data
from emotion_data import prepare
from emotion_data.corpora import cmu_mosi
from emotion_data.splits import SplitError, load_folds

VIDEOS = {"_dI--eQ6qVU": "train", "03bSnISJMiM": "train", "Af8D0E4ZXaw": "valid", "c5xsKMxpXnc": "test"}
SCORES = [2.4, -1.8, 0.0]


def make_mosi_tree(root):
    """Raw/Transcript/Segmented/*.annotprocessed, Raw/Audio/WAV_16000/Segmented/*.wav, Raw/Labels/OpinionLevelSentiment.csv."""
    raw = Path(root) / "Raw"
    labels = []
    for v, video in enumerate(VIDEOS):
        lines = []
        for s, score in enumerate(SCORES, start=1):
            lines.append(f"{s}_DELIM_{TEXTS[(v + s) % len(TEXTS)]}")
            write_wav(raw / "Audio" / "WAV_16000" / "Segmented" / f"{video}_{s}.wav", seconds=0.25, seed=v * 3 + s)
            labels.append(f"{s * 1.5},{s * 1.5 + 1},{video},{s},{score}")
        lines.append(f"{len(SCORES) + 1}_DELIM_an unlabelled segment")
        (raw / "Transcript" / "Segmented").mkdir(parents=True, exist_ok=True)
        (raw / "Transcript" / "Segmented" / f"{video}.annotprocessed").write_text("\n".join(lines) + "\n")
    (raw / "Labels").mkdir(parents=True)
    (raw / "Labels" / "OpinionLevelSentiment.csv").write_text("\n".join(labels) + "\n")
    folds = Path(root) / "mosi_folds.json"
    folds.write_text(json.dumps({s: [v for v, sp in VIDEOS.items() if sp == s] for s in ("train", "valid", "test")}))
    return folds


def test_mosi_cli(tmp_path, pretrained, fast_binarize):  # noqa: F811
    folds = make_mosi_tree(tmp_path / "CMU_MOSI")
    out = tmp_path / "data"
    assert prepare_data.main(["mosi", "--raw", str(tmp_path / "CMU_MOSI"), "--pretrained", str(pretrained.root),
                              "--out", str(out), "--folds", str(folds)]) == 0
    rows = read_manifest_rows(out)
    assert len(rows) == len(VIDEOS) * len(SCORES)
    assert all(r["split"] == VIDEOS[cmu_mosi.video_of(r["id"])] for r in rows)
    assert all(r["speaker"] == cmu_mosi.video_of(r["id"]) for r in rows)
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["labels"] == {"kind": "regression", "names": [], "range": [-3.0, 3.0]}
    assert report["counts"]["per_split"] == {"test": 3, "train": 6, "valid": 3}
    assert report["corpus_stats"]["unlabelled"] == len(VIDEOS)
    assert (out / "label" / "train.label").read_text().split() == ["2.4", "-1.8", "0"] * 2
    assert (out / "ids" / "valid.id").read_text().split() == [f"Af8D0E4ZXaw_{s}" for s in (1, 2, 3)]
    for split, n in (("train", 6), ("valid", 3), ("test", 3)):
        assert len(load_split(out, "speech", split)) == n and len(load_split(out, "text", split)) == n


def make_mosei_tree(root, outside=False):
    """Raw/Transcript/Segmented/Combined/<video>.txt ('___' fields) and Raw/Audio/Full/WAV_16000/<video>.wav."""
    raw = Path(root) / "Raw"
    labels = ["id\tscore"]
    for v, video in enumerate(VIDEOS):
        write_wav(raw / "Audio" / "Full" / "WAV_16000" / f"{video}.wav", seconds=2.0, seed=v)
        lines = []
        for s, score in enumerate(SCORES):
            t0 = 0.5 * s + (2.5 if outside and v == 0 and s == 2 else 0)
            lines.append(f"{video}___{s}___{t0:.3f}___{t0 + 0.4:.3f}___{TEXTS[s]}")
            labels.append(f"{video}_{s}\t{score}")
        (raw / "Transcript" / "Segmented" / "Combined").mkdir(parents=True, exist_ok=True)
        (raw / "Transcript" / "Segmented" / "Combined" / f"{video}.txt").write_text("\n".join(lines) + "\n")
    (Path(root) / "labels.tsv").write_text("\n".join(labels) + "\n")
    folds = Path(root) / "cmu_mosei_std_folds.py"  # the SDK's own format
    folds.write_text("".join(f"standard_{s}_fold=[{', '.join(repr(v) for v, sp in VIDEOS.items() if sp == s)}]\n"
                             for s in ("train", "valid", "test")))
    return folds


def test_mosei_segments_and_segment_outside_audio(tmp_path, pretrained, fast_binarize):  # noqa: F811
    folds = make_mosei_tree(tmp_path / "MOSEI", outside=True)
    with pytest.raises(Exception, match="needs --labels"):
        prepare.prepare_cmu("mosei", tmp_path / "MOSEI", pretrained.root, tmp_path / "x", folds=folds)
    with pytest.raises(prepare.PreparationError, match=r"_dI--eQ6qVU\.wav: segment 3\.500-3\.900 s outside the audio"):
        prepare.prepare_cmu("mosei", tmp_path / "MOSEI", pretrained.root, tmp_path / "data", folds=folds,
                            labels=tmp_path / "MOSEI" / "labels.tsv")
    report = prepare.prepare_cmu("mosei", tmp_path / "MOSEI", pretrained.root, tmp_path / "data", folds=folds,
                                 labels=tmp_path / "MOSEI" / "labels.tsv", skip_bad=True)
    assert report["counts"]["kept"] == 11 and report["failed"][0]["id"] == "_dI--eQ6qVU_2"
    rows = {r["id"]: r for r in read_manifest_rows(tmp_path / "data")}
    assert (rows["Af8D0E4ZXaw_1"]["start"], rows["Af8D0E4ZXaw_1"]["end"]) == ("0.5000", "0.9000")
    tokenization = report["speech_tokenization"]  # the rerun retried the failed segment only
    assert (tokenization["done"], tokenization["skipped"], tokenization["failed"]) == (0, 11, 1)


def test_labels_and_folds_files(tmp_path):
    (tmp_path / "l.csv").write_text("segment_id,sentiment\nabc_1,1.5\n")
    assert cmu_mosi.read_labels(tmp_path / "l.csv") == {"abc_1": "1.5"}
    (tmp_path / "bad.tsv").write_text("a\tb\tc\n")
    with pytest.raises(Exception, match="expected a header"):
        cmu_mosi.read_labels(tmp_path / "bad.tsv")
    (tmp_path / "f.json").write_text(json.dumps({"train": ["a"], "val": ["b"], "test": ["a"]}))
    with pytest.raises(SplitError, match="more than one fold: a"):
        load_folds(tmp_path / "f.json")
    (tmp_path / "f.json").write_text(json.dumps({"train": ["a"], "test": ["c"]}))
    with pytest.raises(SplitError, match="train, valid and test"):
        load_folds(tmp_path / "f.json")
    root = tmp_path / "M"
    make_mosi_tree(root)
    (root / "Raw" / "Labels" / "OpinionLevelSentiment.csv").write_text("0,1,_dI--eQ6qVU,1,4.5\n")
    listing = cmu_mosi.list_cmu(root, "mosi")
    assert [p.problem for p in listing.problems] == ["score '4.5' is outside [-3.0, 3.0]"]


@pytest.mark.parametrize("policy,dropped", [("eval", {"test": 1, "valid": 1}), ("all", {"test": 1, "train": 2, "valid": 1})])
def test_drop_zero_leaves_out_the_zero_scored_segments(tmp_path, pretrained, fast_binarize, policy, dropped):
    folds = make_mosi_tree(tmp_path / "CMU_MOSI")  # each video has one segment scored 0
    out = tmp_path / policy
    assert prepare_data.main(["mosi", "--raw", str(tmp_path / "CMU_MOSI"), "--pretrained", str(pretrained.root),
                              "--out", str(out), "--folds", str(folds), "--drop-zero", policy]) == 0
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["counts"]["dropped_zero"] == {"policy": policy, "per_split": dropped}
    for split in ("valid", "test"):
        assert "0" not in (out / "label" / f"{split}.label").read_text().split()
    assert ("0" in (out / "label" / "train.label").read_text().split()) == (policy == "eval")


@pytest.mark.parametrize("flag", [["--label-column", "emotion"], ["--label-columns", "a,b"]])
def test_manifest_column_options_are_refused_for_corpora(flag, capsys):
    with pytest.raises(SystemExit):
        prepare_data.main(["iemocap", "--raw", "R", "--pretrained", "P", "--out", "O", *flag])
    assert "choose a manifest's columns" in capsys.readouterr().err
