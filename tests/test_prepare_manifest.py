"""Preparation of a corpus given as the project's generic manifest.tsv."""
import json
from pathlib import Path

import pytest

from helpers import HEADER, ROWS, load_split, make_manifest, read_manifest_rows
from emotion_data import cli as prepare_data
from emotion_data import prepare, speech_tokens
from emotion_data.labels import LabelOptions, resolve_labels
from emotion_core.manifest import CorpusError, read_manifest



def test_sentiment_column_session_split_two_workers(tmp_path, pretrained, fast_binarize):  # noqa: F811
    manifest = make_manifest(tmp_path / "corpus")
    out = tmp_path / "data"
    assert prepare_data.main(["manifest", "--raw", str(manifest), "--pretrained", str(pretrained.root),
                              "--out", str(out), "--label-column", "sentiment", "--workers", "2"]) == 0
    rows = {r["id"]: r for r in read_manifest_rows(out)}
    assert {i: r["split"] for i, r in rows.items()} == {"a1": "train", "a2": "train", "a3": "train", "a4": "valid",
                                                        "a5": "test", "a6": "train"}
    assert rows["a2"]["label"] == "2.25" and Path(rows["a2"]["audio"]).is_absolute()
    assert (rows["a1"]["start"], rows["a1"]["end"]) == ("0.1000", "0.5000")
    assert (out / "label" / "train.label").read_text().split() == ["0.5", "2.25", "-1", "-0.5"]
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["labels"] == {"kind": "regression", "names": []} and report["split"]["strategy"] == "sessions"
    assert report["speech_tokenization"]["workers"] == 2 and report["speech_tokenization"]["done"] == 6

    tok = speech_tokens.load_speech_tokenizer(pretrained.vq_wav2vec)  # the workers' tokens are the in-process ones
    from emotion_data.audio import load_audio
    assert load_split(out, "speech", "test") == [" ".join(tok.tokenize(load_audio(rows["a5"]["audio"])))]
    assert load_split(out, "speech", "train")[0] == " ".join(tok.tokenize(load_audio(rows["a1"]["audio"], 0.1, 0.5)))


def test_split_column_unknown_label_and_skip_bad(tmp_path, pretrained, fast_binarize):  # noqa: F811
    rows = ROWS[:3] + [("a4", "bored", "4", "0")]
    manifest = make_manifest(tmp_path / "c", rows, HEADER + "\tsplit", extra="\tX")
    text = manifest.read_text().replace("\tX\n", "\ttrain\n", 2).replace("\tX\n", "\tvalid\n", 1).replace("\tX", "\ttest")
    manifest.write_text(text)
    with pytest.raises(prepare.PreparationError, match=r"manifest\.tsv:5: label: score 'bored' is not a number"):
        prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "data", labels=LabelOptions(kind="regression"))
    three = LabelOptions(classes=("sad", "neutral", "happy"))  # any label set; 'bored' left out and counted
    report = prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "data", labels=three)
    assert report["split"] == {"strategy": "column"} and report["counts"]["per_split"] == {"train": 2, "valid": 1}
    assert report["counts"]["per_label"] == {"happy": 1, "neutral": 1, "sad": 1}
    assert report["counts"]["left_out_labels"] == {"bored": 1} and not report["failed"]
    assert report["labels"] == {"kind": "categorical", "names": ["sad", "neutral", "happy"]}
    assert (tmp_path / "data" / "label" / "valid.label").read_text() == "sad\n"
    report = prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "all", skip_bad=True)
    assert report["labels"]["names"] == ["bored", "happy", "neutral", "sad"]  # every label found, sorted


def test_malformed_manifests(tmp_path):
    (tmp_path / "m.tsv").write_text("id\taudio\tlabel\nx\tx.wav\tsad\n")
    with pytest.raises(CorpusError, match="lacks column.*text"):
        read_manifest(tmp_path / "m.tsv")
    (tmp_path / "m.tsv").write_text("id\taudio\ttext\tlabel\nx\tx.wav\thi\tsad\ny\ty.wav\thi\t1.5\nz\tz.wav\thi\t\n")
    listing = read_manifest(tmp_path / "m.tsv")
    assert [(p.file.rsplit("/", 1)[1], p.problem) for p in listing.problems] == [("m.tsv:4", "empty label in column 'label'")]
    kept, info, _, problems = resolve_labels(listing.utterances, LabelOptions(kind="regression"))
    assert [u.id for u in kept] == ["y"] and problems[0].file.endswith("m.tsv:2") and "score 'sad' is not a number" in problems[0].problem
    (tmp_path / "m.tsv").write_text("id\taudio\ttext\tlabel\nx\tx.wav\thi\tsad\nx\tx.wav\thi\tsad\n")
    problem, = read_manifest(tmp_path / "m.tsv").problems
    assert problem.file.endswith("m.tsv:3") and problem.problem == "duplicate id 'x'"
    with pytest.raises(CorpusError, match="--label-column"):
        read_manifest(tmp_path / "m.tsv", label_columns=("sentiment",))
