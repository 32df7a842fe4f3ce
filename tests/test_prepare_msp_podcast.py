"""MSP-Podcast preparation on a small tree laid out like the release (Audios/, Transcripts/, Labels/), through
prepare_data.py msp-podcast -> fairseq-train -> fairseq-validate --save-predictions -> score_predictions.py
(each command's main, in this process), categorical with both modalities and dimensional speech-only."""
import csv
import json
import shutil
from pathlib import Path

import pytest
from helpers import TEXTS, read_manifest_rows, run_train, run_validate, write_wav
from reliability_helpers import model_options

from emotion_core.manifest import CorpusError
from emotion_data import cli as prepare_data
from emotion_data import prepare
from emotion_data.corpora import msp_podcast
from emotion_eval import scoring
COLUMNS = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]
# (podcast_turn, EmoClass, arousal, valence, dominance, SpkrID, Split_Set)
TURNS = [("0001_0008", "N", "4.2", "4.0", "4.6", "127", "Train"), ("0001_0011", "H", "5.4", "6.2", "5.0", "127", "Train"),
         ("0002_0003", "A", "6.0", "2.2", "5.8", "Unknown", "Train"), ("0002_0007", "S", "2.4", "2.0", "3.0", "310", "Train"),
         ("0003_0001", "O", "4.0", "3.8", "4.0", "311", "Train"), ("0003_0002", "X", "3.6", "4.4", "3.8", "311", "Train"),
         ("0004_0001", "U", "5.6", "4.8", "4.4", "412", "Train"),
         ("0005_0001", "N", "3.8", "4.2", "4.0", "500", "Development"), ("0005_0002", "A", "6.2", "1.8", "6.0", "500", "Development"),
         ("0006_0001", "H", "5.0", "6.0", "4.8", "601", "Test1"), ("0006_0002", "S", "2.2", "2.6", "2.8", "601", "Test1"),
         ("0007_0001", "N", "4.0", "4.0", "4.0", "702", "Test2")]
NO_TRANSCRIPT = "MSP-PODCAST_0004_0001"  # a Train turn whose transcript is missing


def make_msp_tree(root):
    """The release layout with TURNS; returns the release folder."""
    root = Path(root)
    (root / "Labels").mkdir(parents=True)
    rows = []
    for i, (turn, code, act, val, dom, speaker, split_set) in enumerate(TURNS):
        name = f"MSP-PODCAST_{turn}"
        write_wav(root / "Audios" / f"{name}.wav", seconds=0.4, seed=i)
        if name != NO_TRANSCRIPT:
            (root / "Transcripts").mkdir(exist_ok=True)
            (root / "Transcripts" / f"{name}.txt").write_text(TEXTS[i % len(TEXTS)] + "\n", encoding="utf-8")
        rows.append([f"{name}.wav", code, act, val, dom, speaker, "Female" if i % 2 else "Male", split_set])
    with open(root / "Labels" / "labels_consensus.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_msp_tree(tmp_path_factory.mktemp("msp") / "MSP-PODCAST-Publish-1.11")


def test_listing_categorical_splits_speakers(tree):
    listing = msp_podcast.list_msp_podcast(tree)
    by_id = {u.id: u for u in listing.utterances}
    assert NO_TRANSCRIPT not in by_id and [(p.id, p.problem.split(" (")[0]) for p in listing.problems] == [
        (NO_TRANSCRIPT, "missing transcript")]
    assert listing.problems[0].file == str(tree / "Transcripts" / f"{NO_TRANSCRIPT}.txt")
    assert {by_id[f"MSP-PODCAST_{t[0]}"].split for t in TURNS[:6]} == {"train"}
    assert [by_id[f"MSP-PODCAST_{t}"].split for t in ("0005_0001", "0006_0001")] == ["valid", "test"]
    assert "MSP-PODCAST_0007_0001" not in by_id and listing.stats["left_out_sets"] == {"Test2": 1}
    assert by_id["MSP-PODCAST_0001_0011"].label == "happiness" and by_id["MSP-PODCAST_0003_0002"].label == "no_agreement"
    assert by_id["MSP-PODCAST_0002_0003"].speaker == "unknown" and listing.stats["unknown_speaker"] == 1
    assert by_id["MSP-PODCAST_0002_0007"].speaker == "310" and by_id["MSP-PODCAST_0002_0007"].session == "0002"
    assert by_id["MSP-PODCAST_0001_0008"].text == TEXTS[0]
    speech_only = msp_podcast.list_msp_podcast(tree, need_text=False)
    assert not speech_only.problems and {u.id: u.text for u in speech_only.utterances}[NO_TRANSCRIPT] == ""


def test_dimensional_labels_and_json_labels_file(tree, tmp_path):
    listing = msp_podcast.list_msp_podcast(tree, task="dimensional", test_set="Test2")
    by_id = {u.id: u for u in listing.utterances}
    assert by_id["MSP-PODCAST_0003_0001"].label == ("4.0", "3.8", "4.0")  # O and X turns have dimensions too
    assert by_id["MSP-PODCAST_0007_0001"].split == "test" and listing.stats["left_out_sets"] == {"Test1": 2}
    copy = tmp_path / "release"
    shutil.copytree(tree, copy)
    with open(copy / "Labels" / "labels_consensus.csv", encoding="utf-8") as f:
        table = {r["FileName"]: {k: v for k, v in r.items() if k != "FileName"} for r in csv.DictReader(f)}
    for fields in table.values():  # the JSON file holds numbers
        fields.update({k: float(fields[k]) for k in ("EmoAct", "EmoVal", "EmoDom")})
    (copy / "Labels" / "labels_consensus.json").write_text(json.dumps(table))
    (copy / "Labels" / "labels_consensus.csv").unlink()
    from_json = msp_podcast.list_msp_podcast(copy, task="dimensional", test_set="Test2")
    assert [(u.id, u.label, u.split, u.speaker) for u in from_json.utterances] == \
        [(u.id, u.label, u.split, u.speaker) for u in listing.utterances]


def test_bad_rows_are_problems_naming_the_file(tree, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(tree, copy)
    labels = copy / "Labels" / "labels_consensus.csv"
    lines = labels.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",N,", ",Q,")  # unknown class code
    lines[2] = lines[2].replace(",Train", ",Training")  # unknown split set
    lines[3] = lines[3].replace("MSP-PODCAST_0002_0003.wav", "../../etc/passwd.wav")  # not a file name
    lines.append(lines[4])  # a turn listed twice
    (copy / "Audios" / "MSP-PODCAST_0005_0002.wav").unlink()
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = {p.problem.split(" (")[0].split(" '")[0]: p for p in msp_podcast.list_msp_podcast(copy).problems}
    assert set(problems) == {"unknown EmoClass", "unknown Split_Set", "FileName", "MSP-PODCAST_0002_0007.wav listed twice",
                             "missing wav", "missing transcript"}
    assert problems["unknown EmoClass"].file == f"{labels}:2" and problems["missing wav"].file.endswith(
        "Audios/MSP-PODCAST_0005_0002.wav")
    lines[0] = lines[0].replace("SpkrID", "Speaker")
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="missing column.*SpkrID"):
        msp_podcast.list_msp_podcast(copy)
    with pytest.raises(CorpusError, match="no turn of Split_Set Test3"):
        msp_podcast.list_msp_podcast(tree, test_set="Test3")


def test_count_check_of_a_whole_release(tree, pretrained, tmp_path, monkeypatch):
    listing = msp_podcast.list_msp_podcast(tree)
    assert not msp_podcast.is_whole_release(listing)  # 12 audio files: not release 1.11, not checked
    monkeypatch.setattr(msp_podcast, "RELEASE_AUDIO_FILES", len(TURNS))  # as if the whole release were here
    with pytest.raises(CorpusError, match=r"Train 7 \(documented 84030\).*--no-count-check"):
        prepare.prepare_msp_podcast(tree, pretrained.root, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # stopped before any work
    assert prepare_data.main(["msp-podcast", "--raw", str(tree), "--pretrained", str(pretrained.root),
                              "--out", str(tmp_path / "out")]) == 1


def test_options_of_other_corpora_are_refused(tree, capsys):
    for argv, message in ((["iemocap", "--task", "dimensional"], "--task and --test-set apply to msp-podcast"),
                          (["msp-podcast", "--classes", "a,b"], "msp-podcast has the release's label set"),
                          (["msp-podcast", "--fold", "1"], "msp-podcast has the release's own splits")):
        with pytest.raises(SystemExit):
            prepare_data.parse_args([*argv, "--raw", str(tree), "--pretrained", "P", "--out", "D"])
        assert message in capsys.readouterr().err


def train_validate_score(data, pretrained, work, arch, target_type, capsys):
    """fairseq-train (2 updates) and fairseq-validate --save-predictions on test, in this process; then
    score_predictions.py's main. Returns (predictions, metrics)."""
    run_train(data, work / "ckpt", arch, ["--target-type", target_type, *model_options(pretrained)])
    predictions = work / "test.jsonl"
    run_validate(data, work / "ckpt" / "checkpoint_last.pt", ["--save-predictions", str(predictions)])
    capsys.readouterr()
    assert scoring.main(["--protocol", target_type, "--labels", str(data / "labels.json"), str(predictions)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    return [json.loads(line) for line in predictions.read_text().splitlines()], metrics


def prepare_cli(*argv):
    assert prepare_data.main(["msp-podcast", *map(str, argv)]) == 0


@pytest.mark.slow
def test_categorical_trains_validates_scores(tree, demo_assets, tmp_path, fast_binarize, capsys):
    data = tmp_path / "data"
    prepare_cli("--raw", tree, "--pretrained", demo_assets / "pretrained", "--out", data, "--skip-bad")
    assert json.loads((data / "labels.json").read_text()) == {"kind": "categorical", "names": list(msp_podcast.CLASSES)}
    report = json.loads((data / "prepare_report.json").read_text())
    assert report["counts"]["left_out_labels"] == {"no_agreement": 1, "other": 1}
    assert report["counts"]["per_split"] == {"test": 2, "train": 4, "valid": 2}
    assert report["corpus_stats"]["left_out_sets"] == {"Test2": 1} and report["modalities"] == ["speech", "text"]
    assert [r["problem"].split(" (")[0] for r in report["failed"]] == ["missing transcript"]
    assert (data / "dropped.tsv").read_text().splitlines()[1].startswith(
        f"{NO_TRANSCRIPT}\t{tree}/Transcripts/{NO_TRANSCRIPT}.txt\tmissing transcript")
    rows = read_manifest_rows(data)
    assert list(rows[0])[:9] == ["id", "audio", "start", "end", "text", "label", "speaker", "session", "split"]
    assert {r["id"]: r["speaker"] for r in rows}["MSP-PODCAST_0002_0003"] == "unknown"
    predictions, metrics = train_validate_score(data, demo_assets / "pretrained", tmp_path, "ssl_emotion_shallow",
                                                "categorical", capsys)
    assert sorted(p["id"] for p in predictions) == ["MSP-PODCAST_0006_0001", "MSP-PODCAST_0006_0002"]
    assert {p["target"] for p in predictions} == {"happiness", "sadness"}
    assert 0.0 <= metrics["macro_f1"] <= 1.0 and metrics["confusion"]["labels"] == list(msp_podcast.CLASSES)


@pytest.mark.slow
def test_dimensional_speech_only_trains_validates_scores(tree, demo_assets, tmp_path, fast_binarize, capsys):
    data = tmp_path / "data"
    prepare_cli("--raw", tree, "--task", "dimensional", "--modalities", "speech",
                "--pretrained", demo_assets / "pretrained", "--out", data)
    report = json.loads((data / "prepare_report.json").read_text())
    assert report["modalities"] == ["speech"] and not report["failed"]  # no transcript needed
    assert not (data / "text").exists() and report["counts"]["per_split"] == {"test": 2, "train": 7, "valid": 2}
    assert json.loads((data / "labels.json").read_text()) == {
        "kind": "dimensional", "names": ["arousal", "valence", "dominance"], "range": [1.0, 7.0]}
    assert read_manifest_rows(data)[0]["arousal"] == "4.2"
    with pytest.raises(FileNotFoundError, match="ssl_emotion_shallow uses text, but .* holds no text tokens"):
        run_train(data, tmp_path / "both", "ssl_emotion_shallow",
                  ["--target-type", "dimensional", *model_options(demo_assets / "pretrained")])
    predictions, metrics = train_validate_score(data, demo_assets / "pretrained", tmp_path,
                                                "ssl_emotion_speech_only", "dimensional", capsys)
    assert {p["id"]: p["target"] for p in predictions}["MSP-PODCAST_0006_0001"] == pytest.approx(
        {"arousal": 5.0, "valence": 6.0, "dominance": 4.8})
    assert set(metrics["ccc"]) == {"arousal", "valence", "dominance"}
    assert all(-1.0 <= v <= 1.0 for v in metrics["ccc"].values())
