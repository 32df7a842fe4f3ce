"""MELD preparation on a small tree laid out like MELD.Raw (the three CSV files, the extracted clip folders
of mp4 clips with audio tracks, mojibake in the transcripts, an undecodable clip), through the commands
prepare_data.py meld -> fairseq-train -> fairseq-validate --save-predictions -> score_predictions.py."""
import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_script
from helpers import read_manifest_rows, write_mp4

from emotion_core.manifest import CorpusError
from emotion_data import cli as prepare_data
from emotion_data.corpora import meld
from emotion_data.text_repair import repair_mojibake

BIN = Path(sys.executable).parent
HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
          "Episode", "StartTime", "EndTime"]
# split: [(utterance as the release writes it, speaker, emotion, sentiment, dialogue, utterance)]
ROWS = {
    "train": [("also I was the point person on my company\x92s transition from the KL-5 to GR-6 system.",
               "Chandler", "neutral", "neutral", 0, 0),
              ("Itâ€™s great, isnâ€™t it?", "Joey", "joy", "positive", 0, 1),
              ("You must\x92ve had your hands full\x85 okay.", "Monica", "anger", "negative", 1, 0),
              ("No.", "Ross", "sadness", "negative", 1, 1),
              ("What?!", "Rachel", "surprise", "positive", 125, 3)],  # its clip cannot be decoded
    "valid": [("Oh my God!", "Phoebe", "fear", "negative", 0, 0),
              ("Hey.", "Joey", "neutral", "neutral", 0, 1)],
    "test": [("Yeah, sure!", "Monica", "joy", "positive", 0, 0),
             ("Okay.", "Ross", "neutral", "neutral", 0, 1),
             ("Ew.", "Rachel", "disgust", "negative", 1, 0)],
}
FOLDERS = {"train": "train_splits", "valid": "dev/dev_splits_complete", "test": "output_repeated_splits_test"}
BROKEN = "train_dia125_utt3"


def make_meld_tree(root):
    """MELD.Raw with ROWS: CSV files (UTF-8, mojibake included) and one mp4 clip per row; returns the folder."""
    root = Path(root)
    for split, rows in ROWS.items():
        with open(root / meld.SPLIT_FILES[split], "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            for n, (text, speaker, emotion, sentiment, dia, utt) in enumerate(rows, 1):
                writer.writerow([n, text, speaker, emotion, sentiment, dia, utt, 8, 21, "00:16:16,059", "00:16:21,731"])
                clip = write_mp4(root / FOLDERS[split] / f"dia{dia}_utt{utt}.mp4", seconds=0.5, seed=n)
                if f"{split}_dia{dia}_utt{utt}" == BROKEN:
                    clip.write_bytes(clip.read_bytes()[:clip.stat().st_size // 2])
    shutil.copy(root / FOLDERS["test"] / "dia0_utt0.mp4", root / FOLDERS["test"] / "final_videos_testdia0_utt0.mp4")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("meld") / "MELD.Raw"
    root.mkdir()
    return make_meld_tree(root)


def test_mojibake_repairs():
    assert repair_mojibake("company\x92s") == ("company’s", 1)
    assert repair_mojibake("Itâ€™s â€œokâ€\x9d") == ("It’s “ok”", 3)
    assert repair_mojibake("wait\x85 what\x97no") == ("wait… what—no", 2)
    assert repair_mojibake("café, naïve, “quoted”") == ("café, naïve, “quoted”", 0)


def test_listing_labels_splits_and_repaired_transcripts(tree):
    listing = meld.list_meld(tree)
    by_id = {u.id: u for u in listing.utterances}
    assert sorted(by_id) == sorted(f"{s}_dia{r[4]}_utt{r[5]}" for s, rows in ROWS.items() for r in rows)
    assert not listing.problems  # the undecodable clip is found when its audio is read
    assert by_id["train_dia0_utt0"].text.startswith("also I was the point person on my company’s transition")
    assert by_id["train_dia0_utt1"].text == "It’s great, isn’t it?"
    assert by_id["train_dia1_utt0"].text == "You must’ve had your hands full… okay."
    assert listing.stats["mojibake"] == {"utterances": 3, "characters": 5,
                                         "ids": ["train_dia0_utt0", "train_dia0_utt1", "train_dia1_utt0"]}
    assert (by_id["valid_dia0_utt0"].label, by_id["valid_dia0_utt0"].split) == ("fear", "valid")
    assert by_id["test_dia1_utt0"].speaker == "Rachel" and by_id["test_dia1_utt0"].session == "test_dia1"
    assert by_id["valid_dia0_utt1"].audio == str((tree / "dev" / "dev_splits_complete" / "dia0_utt1.mp4").resolve())
    assert listing.stats["labelled_per_split"]["test"] == {"disgust": 1, "joy": 1, "neutral": 1}
    sentiment = meld.list_meld(tree, "sentiment")
    assert {u.id: u.label for u in sentiment.utterances}["train_dia1_utt1"] == "negative"


def test_bad_rows_and_layouts_name_the_file(tree, tmp_path):
    copy = tmp_path / "MELD.Raw"
    shutil.copytree(tree, copy)
    (copy / "train_splits" / "dia1_utt1.mp4").unlink()
    test_csv = copy / "test_sent_emo.csv"
    text = test_csv.read_text(encoding="utf-8")
    test_csv.write_text(text.replace(",disgust,", ",disgusted,").replace(",0,1,8,", ",0,x,8,"), encoding="utf-8")
    problems = {p.id: p for p in meld.list_meld(copy).problems}
    assert problems["train_dia1_utt1"].problem == "missing clip"
    assert problems["train_dia1_utt1"].file == str(copy / "train_splits" / "dia1_utt1.mp4")
    assert problems["test_dia1_utt0"].problem.startswith("unknown Emotion 'disgusted'")
    assert problems["test line 3"].file == f"{test_csv}:3" and "not numbers" in problems["test line 3"].problem
    (copy / "dev_sent_emo.csv").unlink()
    with pytest.raises(CorpusError, match="dev_sent_emo.csv: not found"):
        meld.list_meld(copy)
    shutil.rmtree(copy / "output_repeated_splits_test")
    with pytest.raises(CorpusError, match="no clip folder for the test split .*output_repeated_splits_test"):
        meld.list_meld(copy)


def test_count_check_against_the_documented_figures(tree, pretrained, tmp_path):
    with pytest.raises(CorpusError, match=r"train 5 \(documented 9989\): anger 1 \(1109\).*--no-count-check"):
        meld.check_count(meld.list_meld(tree))
    assert prepare_data.main(["meld", "--raw", str(tree), "--pretrained", str(pretrained.root),
                              "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()  # stopped before any work


def test_labels_option_names_the_label_set(tree, capsys):
    with pytest.raises(SystemExit):
        prepare_data.parse_args(["meld", "--raw", str(tree), "--pretrained", "P", "--out", "D", "--labels", "valence"])
    assert "meld --labels must be emotion or sentiment, got 'valence'" in capsys.readouterr().err


def test_the_release_split_is_kept_whatever_its_speaker_overlap(tree, capsys):
    with pytest.raises(SystemExit):
        prepare_data.parse_args(["meld", "--raw", str(tree), "--pretrained", "P", "--out", "D", "--allow-speaker-overlap"])
    assert "overlap is reported, never refused" in capsys.readouterr().err


@pytest.mark.slow
def test_prepare_train_validate_score(tree, demo_assets, tmp_path):
    pre, data = demo_assets / "pretrained", tmp_path / "data"
    argv = ["meld", "--raw", str(tree), "--pretrained", str(pre), "--out", str(data), "--no-count-check"]
    assert prepare_data.main(argv) == 1  # the undecodable clip fails the run, naming it
    report = json.loads((data / "prepare_report.json").read_text())
    assert not report["complete"] and [(f["id"], f["problem"].split(" (")[0]) for f in report["failed"]] == [
        (BROKEN, "undecodable clip")]
    assert report["failed"][0]["file"] == str((tree / "train_splits" / "dia125_utt3.mp4").resolve())

    run_script(REPO / "scripts" / "prepare_data.py", *argv, "--skip-bad")  # the command, as a user runs it
    report = json.loads((data / "prepare_report.json").read_text())
    assert report["complete"] and report["speech_tokenization"]["done"] == 0  # every good clip was cached
    assert (data / "dropped.tsv").read_text().splitlines()[1].startswith(f"{BROKEN}\t")
    assert report["counts"]["per_split"] == {"test": 3, "train": 4, "valid": 2}
    assert report["speaker_overlap"]["train_test"] == ["Monica", "Rachel", "Ross"]  # the release's split: reported
    assert report["corpus_stats"]["mojibake"]["utterances"] == 3
    assert report["converted"]["resampled_to_16k"] == report["converted"]["downmixed_to_mono"] == 9
    assert json.loads((data / "labels.json").read_text()) == {"kind": "categorical",
                                                              "names": list(meld.LABEL_SETS["emotion"][1])}
    assert {r["id"]: r["text"] for r in read_manifest_rows(data)}["train_dia0_utt1"] == "It’s great, isn’t it?"

    run_script(BIN / "fairseq-train", data, "--user-dir", REPO, "--task", "multimodal_emotion",
               "--target-type", "categorical", "--arch", "ssl_emotion_shallow", "--criterion", "multimodal_emotion",
               "--speech-checkpoint", pre / "bert_kmeans" / "bert_kmeans.pt",
               "--text-checkpoint", pre / "roberta.large" / "model.pt", "--optimizer", "adam", "--lr", "1e-3",
               "--batch-size", "4", "--max-update", "2", "--num-workers", "0", "--no-epoch-checkpoints",
               "--save-dir", tmp_path / "ckpt", "--cpu", "--seed", "1", "--no-progress-bar", cwd=tmp_path)
    predictions = tmp_path / "test.jsonl"
    run_script(BIN / "fairseq-validate", data, "--user-dir", REPO, "--task", "multimodal_emotion",
               "--path", tmp_path / "ckpt" / "checkpoint_last.pt", "--valid-subset", "test",
               "--save-predictions", predictions, "--batch-size", "4", "--num-workers", "0", "--cpu", cwd=tmp_path)
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["test_dia0_utt0", "test_dia0_utt1", "test_dia1_utt0"]
    metrics = json.loads(run_script(REPO / "scripts" / "score_predictions.py", "--protocol", "categorical",
                                    "--labels", data / "labels.json", predictions).stdout)
    assert 0.0 <= metrics["weighted_f1"] <= 1.0 and sum(map(sum, metrics["confusion"]["matrix"])) == 3
