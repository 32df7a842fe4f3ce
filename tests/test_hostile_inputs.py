"""Bad input as a hostile user gives it: every case gets a clear error naming the file and the problem,
and nothing is lost (outputs are written atomically, inputs are never overwritten, caches notice
changed audio). The table of cases is in docs/reliability.md; checkpoints are in test_checkpoint_safety.py."""
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO
from helpers import make_manifest, write_wav

from emotion_data import cli as prepare_cli
from emotion_data import prepare
from emotion_data.labels import LabelOptions
from emotion_eval import scoring
from emotion_inference import cli as predict_cli
from emotion_inference.audio_input import to_mono_16k
from emotion_inference.recognizer import EmotionRecognizer, PredictionError


@pytest.fixture(scope="module")
def rec(demo_checkpoint):
    return EmotionRecognizer.from_checkpoint(demo_checkpoint["checkpoint"], demo_checkpoint["pretrained"])


def predict(demo_checkpoint, *args):
    return predict_cli.main(["--checkpoint", str(demo_checkpoint["checkpoint"]),
                             "--pretrained", str(demo_checkpoint["pretrained"]), *map(str, args)])


def a_wav(demo_checkpoint):
    rows = (demo_checkpoint["data"] / "manifest.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    first = dict(zip(header, rows[1].split("\t")))
    return first["audio"], first["text"]


# ----------------------------------------------------------------------------------------- outputs
def test_predict_output_is_checked_before_any_work(demo_checkpoint, tmp_path, caplog):
    audio, text = a_wav(demo_checkpoint)
    cases = {tmp_path / "missing" / "out.jsonl": "folder .* does not exist"}
    (tmp_path / "in.jsonl").mkdir()
    cases[tmp_path / "in.jsonl"] = "is a folder"
    for output, message in cases.items():
        caplog.clear()
        assert predict(demo_checkpoint, "--audio", audio, "--text", text, "--output", output) == 1
        assert any(f"--output {output}" in r.getMessage() and re.search(message, r.getMessage())
                   for r in caplog.records), caplog.text
    manifest = tmp_path / "m.csv"  # a manifest whose name could be taken for an output
    manifest.write_text("id\taudio\ttext\nu1\t" + audio + "\t" + text + "\n")
    assert predict(demo_checkpoint, "--manifest", manifest, "--output", manifest) == 1
    assert "is also an input of this run" in caplog.text and manifest.read_text().startswith("id\taudio")


def test_a_failed_predict_run_keeps_the_earlier_output(demo_checkpoint, tmp_path, monkeypatch):
    audio, text = a_wav(demo_checkpoint)
    out = tmp_path / "out.jsonl"
    assert predict(demo_checkpoint, "--audio", audio, "--text", text, "--output", out) == 0
    before = out.read_text()

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while predicting")

    monkeypatch.setattr(EmotionRecognizer, "predict_encoded", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        predict(demo_checkpoint, "--audio", audio, "--text", text, "--output", out)
    assert out.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_prepare_never_writes_over_its_input_manifest(pretrained, tmp_path, caplog):
    manifest = make_manifest(tmp_path)  # tmp_path/manifest.tsv: --out tmp_path would replace it
    before = manifest.read_bytes()
    assert prepare_cli.main(["manifest", "--raw", str(manifest), "--pretrained", str(pretrained.root),
                             "--out", str(tmp_path), "--label-column", "sentiment"]) == 1
    assert "is also an input of this run" in caplog.text and manifest.read_bytes() == before
    assert not (tmp_path / "prepare_report.json").exists()


# ----------------------------------------------------------------------------------------- manifests
def test_predict_manifest_rows_keep_their_place_with_their_error(demo_checkpoint, tmp_path):
    audio, text = a_wav(demo_checkpoint)
    lines = [b"\xef\xbb\xbfid\taudio\tstart\tend\ttext",  # a byte-order mark before the header is fine
             f"ok\t{audio}\t\t\t{text}".encode(),
             f"latin1\t{audio}\t\t\tcaf\xe9".encode("latin-1"),  # not UTF-8
             f"short\t{audio}".encode(),  # too few cells
             f"nan_start\t{audio}\tnan\t\t{text}".encode(),
             f"underscore\t{audio}\t0\t1_000\t{text}".encode(),
             f"negative\t{audio}\t-1\t\t{text}".encode(),
             f"cells\t{audio}\t\t\t{text}\textra".encode()]
    manifest = tmp_path / "m.tsv"
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    assert predict(demo_checkpoint, "--manifest", manifest, "--output", out) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["ok", "line 3", "short", "nan_start", "underscore", "negative", "cells"]
    errors = {r["id"]: r["error"] for r in rows}
    assert errors["ok"] == "" and rows[0]["happy"] is not None and rows[1]["happy"] is None
    assert f"{manifest}:3: not valid UTF-8" in errors["line 3"]
    assert f"{manifest}:4: 2 cells, the header has 5" in errors["short"]
    assert f"{manifest}:5: start (seconds) 'nan' is not a number" in errors["nan_start"]
    assert f"{manifest}:6: end (seconds) '1_000' is not a number" in errors["underscore"]
    assert f"{manifest}:7: start (seconds) '-1' is outside" in errors["negative"]
    assert f"{manifest}:8: 6 cells, the header has 5" in errors["cells"]


def test_prepare_lists_every_bad_manifest_row(pretrained, tmp_path):
    manifest = make_manifest(tmp_path / "c")
    text = manifest.read_bytes().split(b"\n")
    text[2] = text[2].replace(b"2.25", b"1_000")  # a score written with an underscore
    text[3] = text[3].replace(b"-1", b"nan")
    text[4] = text[4].replace(b"\t\t", b"\tabc\t", 1)  # a start that is not a number
    text[5] = text[5].split(b"\t", 3)[0] + b"\twav/a5.wav"  # too few cells
    text[6] = text[6] + b"\t\xff"  # too many cells, not UTF-8
    manifest.write_bytes(b"\n".join(text))
    with pytest.raises(prepare.PreparationError) as err:
        prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "data", label_columns=("sentiment",),
                                 labels=LabelOptions(kind="regression"))
    message = str(err.value)
    for line, needle in ((3, "score '1_000' is not a number"), (4, "score 'nan' is not a number"),
                         (5, "start (seconds) 'abc' is not a number"), (6, "2 cells, the header has 9"),
                         (7, "not valid UTF-8")):
        assert f"manifest.tsv:{line}: {needle}" in message or f"manifest.tsv:{line}: label: {needle}" in message, \
            (line, message)
    report = json.loads((tmp_path / "data" / "prepare_report.json").read_text())
    assert not report["complete"] and len(report["failed"]) == 5


def test_scores_outside_the_stated_range_are_refused(pretrained, tmp_path):
    manifest = make_manifest(tmp_path / "c")
    within_2 = LabelOptions(value_range=(-2.0, 2.0))
    with pytest.raises(prepare.PreparationError, match=r"manifest\.tsv:3: label: score '2\.25' is outside"):
        prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "data", label_columns=("sentiment",),
                                 labels=within_2)


# ----------------------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("content,message", [
    ("", "no prediction to score"),
    ('{"id": "a", "target": 1.0, "pred": 0.5\n', "p.jsonl:1: not a JSON object"),
    ('{"id": "a", "target": 1.0}\n', "p.jsonl:1: missing key 'pred'"),
    ('{"id": "a", "target": NaN, "pred": 0.5}\n', "p.jsonl:1: not a JSON object .*NaN is not a finite number"),
    ('{"id": "a", "target": 1.0, "pred": Infinity}\n', "Infinity is not a finite number"),
    ('{"id": "a", "target": 1e999, "pred": 0.5}\n', "p.jsonl:1: target: expected a finite number"),
    ('["a", 1, 2]\n', "p.jsonl:1: expected a JSON object, got list"),
])
def test_score_refuses_bad_prediction_files(tmp_path, capsys, content, message):
    (tmp_path / "p.jsonl").write_text(content)
    assert scoring.main(["--protocol", "regression", str(tmp_path / "p.jsonl")]) == 1
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("decision", ["2", "true", '"1"', "0.5"])
def test_binary_decisions_must_be_0_or_1(tmp_path, capsys, decision):
    row = '{"neutral": 0, "happy": 1, "sad": %s, "angry": 0}' % decision
    (tmp_path / "p.jsonl").write_text('{"id": "a", "target": %s, "pred": %s}\n' % (row, row))
    assert scoring.main(["--protocol", "iemocap_binary", str(tmp_path / "p.jsonl")]) == 1
    assert "p.jsonl:1: pred: binary decisions must be the integers 0 or 1" in capsys.readouterr().err


def test_score_prints_valid_json_with_null_for_undefined_metrics(tmp_path, capsys):
    (tmp_path / "p.jsonl").write_text('{"id": "a", "target": "sad", "pred": "sad"}\n')
    assert scoring.main(["--protocol", "multiclass", str(tmp_path / "p.jsonl")]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    assert out["per_class"]["happy"] is None and out["ua"] == 1.0


# ----------------------------------------------------------------------------------------- the Python API
def test_8_bit_arrays_are_scaled_as_soundfile_scales_8_bit_files(tmp_path):
    rng = np.random.default_rng(0)
    u8 = (128 + 60 * np.sin(np.arange(16000) / 7.0) + rng.integers(-5, 6, 16000)).astype(np.uint8)
    sf.write(str(tmp_path / "u8.wav"), (u8.astype(np.float64) - 128) / 128, 16000, subtype="PCM_U8")
    from_file = to_mono_16k(tmp_path / "u8.wav")
    np.testing.assert_allclose(to_mono_16k(u8, 16000), from_file, atol=1e-6)
    np.testing.assert_allclose(to_mono_16k((u8.astype(np.int16) - 128) * 256, 16000), from_file, atol=1e-6)
    with pytest.raises(ValueError, match="silent audio"):
        to_mono_16k(np.full(16000, 128, dtype=np.uint8), 16000)  # 8-bit silence is 128


@pytest.mark.parametrize("audio,rate,message", [
    (np.zeros((0, 2), np.float32), 16000, "empty audio"),
    (np.zeros((16000, 0), np.float32), 16000, "empty audio"),
    (np.full(16000, 0.1, np.float32), 44100.5, "whole number of Hz"),
    (np.full(16000, 0.1, np.float32), 10 ** 9, "outside \\[4000, 384000\\]"),
    (np.full(16000, 0.1, np.float32), 0, "outside"),
    (np.full(16000, 0.1, np.float32), True, "must be a number"),
    (np.full(16000, 0.1, np.float32), "16000", "must be a number"),
    (np.full(16000, 0.1, np.float32), float("nan"), "whole number"),
    (np.array(["a", "b"]), 16000, "integer PCM or floats"),
    (b"RIFF....WAVE", 16000, "got bytes"),
])
def test_bad_arrays_and_sample_rates_are_value_errors(audio, rate, message):
    with pytest.raises(ValueError, match=message):
        to_mono_16k(audio, rate)


def test_text_must_be_a_str(rec):
    audio = np.full(16000, 0.1, np.float32) * np.sin(np.arange(16000))
    with pytest.raises(ValueError, match="the transcript is bytes, not str: decode it first"):
        rec.predict(audio, b"I am happy", 16000)
    with pytest.raises(ValueError, match="the transcript must be a str, got int"):
        rec.predict(audio, 42, 16000)


def test_one_bad_item_of_a_batch_is_reported_for_that_item(rec, demo_checkpoint):
    audio, text = a_wav(demo_checkpoint)
    items = [(audio, text), {"audio": np.zeros(10, np.float32), "text": text, "sample_rate": 16000},
             {"audio": audio, "text": b"bytes"}, ("a", "b", "c", "d"), {"audio": audio, "text": text, "rate": 1}]
    results = rec.predict_batch(items)
    assert results[0] == rec.predict(audio, text)
    assert all(isinstance(r, PredictionError) for r in results[1:]) and [r.index for r in results[1:]] == [1, 2, 3, 4]
    assert "silent audio" in str(results[1]) and "decode it first" in str(results[2])
    assert "a dict or an (audio, text[, sample_rate]) tuple" in str(results[3]) and "'rate'" in str(results[4])


# ----------------------------------------------------------------------------------------- inputs by content
def test_audio_changed_in_place_is_tokenized_again(pretrained, tmp_path, fast_binarize):
    manifest = make_manifest(tmp_path / "c")
    out = tmp_path / "data"
    args = dict(label_columns=("sentiment",))
    prepare.prepare_manifest(manifest, pretrained.root, out, **args)
    before = (out / "speech" / "train.bin").read_bytes()
    os.utime(tmp_path / "c" / "wav" / "a2.wav")  # touched, same content: nothing to redo
    report = prepare.prepare_manifest(manifest, pretrained.root, out, **args)
    assert report["speech_tokenization"]["skipped"] == 6 or report.get("complete")
    stat = (tmp_path / "c" / "wav" / "a2.wav").stat()
    write_wav(tmp_path / "c" / "wav" / "a2.wav", seconds=0.3, seed=99)  # same path and size, new content
    os.utime(tmp_path / "c" / "wav" / "a2.wav", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    report = prepare.prepare_manifest(manifest, pretrained.root, out, **args)
    assert report["speech_tokenization"]["rebuilt_changed_audio"] == {"count": 1, "ids": ["a2"]}
    assert report["speech_tokenization"]["done"] == 1 and (out / "speech" / "train.bin").read_bytes() != before


@pytest.mark.slow
def test_a_killed_preparation_leaves_nothing_outside_out_and_the_rerun_cleans_up(pretrained, tmp_path):
    manifest = make_manifest(tmp_path / "c")
    out, scratch = tmp_path / "data", tmp_path / "tmp"
    scratch.mkdir()
    cmd = [sys.executable, str(REPO / "scripts" / "prepare_data.py"), "manifest", "--raw", str(manifest),
           "--pretrained", str(pretrained.root), "--out", str(out), "--label-column", "sentiment"]
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not list(out.glob(".binarize-*")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its fairseq-preprocess processes
    proc.wait()
    assert list(out.glob(".binarize-*")), "the kill came too late to test anything"
    assert not list(scratch.iterdir())  # no temporary folder outside --out
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    assert not list(out.glob(".binarize-*")) and not list(out.rglob("*.tmp")) and not list(scratch.iterdir())


def test_a_non_checkpoint_given_to_predict_is_an_error_naming_it(demo_checkpoint, tmp_path, caplog):
    bad = tmp_path / "model.pt"
    bad.write_text("not a checkpoint\n")
    audio, text = a_wav(demo_checkpoint)
    with caplog.at_level(logging.ERROR):
        assert predict_cli.main(["--checkpoint", str(bad), "--pretrained", str(demo_checkpoint["pretrained"]),
                                 "--audio", audio, "--text", text]) == 1
    assert f"{bad}: not a readable fairseq checkpoint" in caplog.text
