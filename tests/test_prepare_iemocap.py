"""IEMOCAP preparation on a small tree laid out exactly like ``IEMOCAP_full_release``.

Also holds the helpers the other ``test_prepare_*`` files import: a minimal pretrained folder
(vq-wav2vec stand-in, speech/text dictionaries, a tiny GPT-2 BPE) and short synthetic wavs.
"""
import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

from helpers import TEXTS, load_split, read_manifest_rows, write_wav  # noqa: E402

from emotion_data import cli as prepare_data  # noqa: E402
from emotion_data import prepare, speech_tokens  # noqa: E402
from emotion_data.corpora import iemocap  # noqa: E402
from emotion_core.manifest import CorpusError  # noqa: E402


# --------------------------------------------------------------------------- the IEMOCAP tree
EVAL_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
EVALUATORS = "C-E2:\tNeutral;\t()\nC-E3:\tAnger; Frustration;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
# (turn suffix, code): every label kind, both genders
TURNS = [("F000", "neu"), ("M000", "hap"), ("F001", "exc"), ("M001", "sad"), ("F002", "ang"),
         ("M002", "fru"), ("F003", "xxx"), ("M003", "sur")]


def make_iemocap_tree(root, sessions=(1, 2, 3, 4, 5)):
    """Sessions with one improvised and one scripted dialog each; returns the kept utterance ids."""
    root = Path(root)
    kept = []
    for n in sessions:
        for k, dialog in enumerate((f"Ses0{n}F_impro01", f"Ses0{n}M_script01_1")):
            turns = TURNS[:5] if k == 0 else TURNS[3:]  # impro: neu hap exc sad ang; script: sad ang fru xxx sur
            base = root / f"Session{n}"
            evals, trans = [EVAL_HEADER], ["M: [BREATHING]\n"]
            for i, (suffix, code) in enumerate(turns):
                uid = f"{dialog}_{suffix}"
                t0 = 2.0 * i + 1
                evals.append(f"[{t0:.4f} - {t0 + 0.3:.4f}]\t{uid}\t{code}\t[2.5000, 2.5000, 2.5000]\n" + EVALUATORS)
                trans.append(f"{uid} [{t0:08.4f}-{t0 + 0.3:08.4f}]: {TEXTS[(n + i) % len(TEXTS)]}\n")
                stereo = n == 1 and k == 0 and i == 0  # one stereo 44.1 kHz file
                write_wav(base / "sentences" / "wav" / dialog / f"{uid}.wav", sr=44100 if stereo else 16000,
                          channels=2 if stereo else 1, seed=n * 10 + i)
                if code in ("neu", "hap", "exc", "sad", "ang"):  # the paper's 4 classes (exc -> happy)
                    kept.append(uid)
            trans.append(f"{dialog}_MXX0 [020.0000-021.0000]: unlabelled turn\n")
            for sub, text in (("EmoEvaluation", evals), ("transcriptions", trans)):
                (base / "dialog" / sub).mkdir(parents=True, exist_ok=True)
                (base / "dialog" / sub / f"{dialog}.txt").write_text("".join(text), encoding="utf-8")
            (base / "dialog" / "EmoEvaluation" / "Categorical").mkdir(exist_ok=True)
            (base / "dialog" / "EmoEvaluation" / "Categorical" / f"{dialog}_e1_cat.txt").write_text("noise\n")
    return sorted(kept)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release"
    return root, make_iemocap_tree(root)


def test_listing_labels_speakers_sessions(tree):
    root, kept = tree
    listing = iemocap.list_iemocap(root, keep=prepare.IEMOCAP_LABELS.keeps)
    assert [u.id for u in listing.utterances] == kept
    by_id = {u.id: u for u in listing.utterances}
    assert by_id["Ses01F_impro01_M000"].speaker == "Ses01M" and by_id["Ses01F_impro01_M000"].label == "happy"
    assert by_id["Ses03F_impro01_F001"].label == "excited"  # merged into happy by the label map
    assert by_id["Ses05M_script01_1_F002"].speaker == "Ses05F" and by_id["Ses05M_script01_1_F002"].session == "5"
    assert by_id["Ses02F_impro01_F000"].text == TEXTS[2]
    assert listing.stats["dropped_codes"] == {"fru": 5, "sur": 5, "xxx": 5}
    assert listing.stats["labelled_per_label"] == {"angry": 10, "excited": 5, "frustrated": 5, "happy": 5,
                                                   "neutral": 5, "sad": 10, "surprised": 5}
    assert not listing.problems
    everything = iemocap.list_iemocap(root)  # no label choice: every labelled turn but xxx
    assert len(everything.utterances) == len(kept) + 10 and everything.stats["dropped_codes"] == {"xxx": 5}


def test_count_check_on_a_full_tree(tree, pretrained, tmp_path):
    root, kept = tree  # 5 sessions: the standard count (5531) is expected unless told otherwise
    with pytest.raises(CorpusError, match="5531.*--no-count-check"):
        prepare.prepare_iemocap(root, pretrained.root, tmp_path / "out")
    assert prepare_data.main(["iemocap", "--raw", str(root), "--pretrained", str(pretrained.root),
                              "--out", str(tmp_path / "out")]) == 1


def cli_args(root, pretrained, out):
    return ["iemocap", "--raw", str(root), "--pretrained", str(pretrained.root), "--out", str(out), "--no-count-check"]


@pytest.fixture(scope="module")
def prepared(tree, pretrained, tmp_path_factory):
    """The tree prepared by the command (default split), with fairseq-preprocess as a subprocess."""
    out = tmp_path_factory.mktemp("prepared") / "data"
    assert prepare_data.main(cli_args(tree[0], pretrained, out)) == 0
    return out


def test_cli_end_to_end_then_rerun_skips(tree, pretrained, prepared, caplog):
    root, kept = tree
    out, argv = prepared, cli_args(tree[0], pretrained, prepared)

    rows = read_manifest_rows(out)
    assert sorted(r["id"] for r in rows) == kept
    assert {r["split"] for r in rows if r["session"] in "123"} == {"train"}
    assert {r["split"] for r in rows if r["session"] == "4"} == {"valid"}
    assert {r["split"] for r in rows if r["session"] == "5"} == {"test"}
    assert all(r["speaker"] == r["id"][:5] + r["id"].rsplit("_", 1)[1][0] for r in rows)

    report = json.loads((out / "prepare_report.json").read_text())
    assert report["complete"] and report["counts"]["per_label"] == {"angry": 10, "happy": 10, "neutral": 5, "sad": 10}
    assert report["labels"] == json.loads((out / "labels.json").read_text()) == {
        "kind": "categorical", "names": ["neutral", "happy", "sad", "angry"]}  # the paper's order
    assert report["counts"]["left_out_labels"] == {}
    assert report["counts"]["per_session"] == {str(n): 7 for n in range(1, 6)}
    assert report["converted"] == {"resampled_to_16k": 1, "downmixed_to_mono": 1, "ids": ["Ses01F_impro01_F000"]}
    assert report["unknown_token_rate"] == {"speech": 0.0, "text": 0.0}
    assert (out / "speech" / "dict.txt").read_bytes() == pretrained.speech_dict.read_bytes()

    from emotion_data.bpe import load_bpe
    bpe = load_bpe(pretrained.bpe_encoder_json, pretrained.bpe_vocab)
    cache = {line.split("\t")[1]: line.split("\t")[6]
             for line in (out / ".cache" / "speech_tokens.tsv").read_text().splitlines()[1:]}
    for split in ("train", "valid", "test"):
        ids = (out / "ids" / f"{split}.id").read_text().split()
        labels = (out / "label" / f"{split}.label").read_text().split()
        texts = {r["id"]: r["text"] for r in rows}
        assert load_split(out, "speech", split) == [cache[i] for i in ids]
        assert load_split(out, "text", split) == [bpe.encode(texts[i]) for i in ids]
        assert labels == [{r["id"]: r["label"] for r in rows}[i] for i in ids]
        assert len(ids) == {"train": 21, "valid": 7, "test": 7}[split]

    caplog.clear()
    with caplog.at_level("INFO"):
        assert prepare_data.main(argv) == 0
    assert "already complete" in caplog.text


def test_fold_reuses_the_token_cache_and_leave_one_speaker_out(tree, pretrained, prepared, tmp_path, fast_binarize):
    root, _ = tree
    shutil.copytree(prepared / ".cache", tmp_path / "f2" / ".cache")  # tokens do not depend on the split
    report = prepare.prepare_iemocap(root, pretrained.root, tmp_path / "f2", fold=2, count_check=False)
    assert report["speech_tokenization"]["done"] == 0 and report["speech_tokenization"]["skipped"] == 35
    assert report["split"] == {"strategy": "fold", "fold": 2, "train": [1, 4, 5], "valid": [3], "test": [2]}
    rows = read_manifest_rows(tmp_path / "f2")
    assert {r["session"] for r in rows if r["split"] == "test"} == {"2"}
    listing = iemocap.list_iemocap(root)
    from emotion_data.splits import assign_splits
    assigned, _, _ = assign_splits(listing.utterances, "speaker", speaker="Ses01F")
    assert {u.speaker for u in assigned if u.split == "test"} == {"Ses01F"}
    assert {u.speaker for u in assigned if u.split == "valid"} == {"Ses01M"}
    assert {u.session for u in assigned if u.split == "train"} == {"2", "3", "4", "5"}


class Interrupt(Exception):
    """A crash in the middle of tokenization."""


def test_interrupted_run_resumes_without_redoing(pretrained, tmp_path, fast_binarize):
    root = tmp_path / "IEMOCAP_full_release"
    kept = make_iemocap_tree(root, sessions=(1, 2))
    calls = []

    def crashing_factory(checkpoint):
        tok = speech_tokens.load_speech_tokenizer(checkpoint)

        class Crashing:
            def tokenize(self, wav):
                if len(calls) == 4:
                    raise Interrupt("simulated crash")
                calls.append(len(wav))
                return tok.tokenize(wav)
        return Crashing()

    out = tmp_path / "data"
    with pytest.raises(Interrupt):
        prepare.prepare_iemocap(root, pretrained.root, out, count_check=False, tokenizer_factory=crashing_factory)
    assert not (out / "prepare_report.json").exists() and not (out / "manifest.tsv").exists()
    with open(out / ".cache" / "speech_tokens.tsv", "a") as f:
        f.write("torn\tline")  # a write cut short
    calls.clear()

    def counting_factory(checkpoint):
        tok = speech_tokens.load_speech_tokenizer(checkpoint)

        class Counting:
            def tokenize(self, wav):
                calls.append(len(wav))
                return tok.tokenize(wav)
        return Counting()

    report = prepare.prepare_iemocap(root, pretrained.root, out, count_check=False, tokenizer_factory=counting_factory)
    assert len(calls) == len(kept) - 4
    assert report["speech_tokenization"]["skipped"] == 4 and report["complete"]
    assert len(load_split(out, "speech", "train")) == len(kept)  # sessions 1-2: all train
    assert not (out / "speech" / "valid.bin").exists() and not (out / "label" / "test.label").exists()


def test_another_label_set_with_classes_and_no_map(tree, pretrained, tmp_path, fast_binarize):
    """IEMOCAP's 6-class set (excited and frustrated as classes of their own): options only, no code change."""
    out = tmp_path / "six"
    argv = cli_args(tree[0], pretrained, out) + ["--classes", "neutral,happy,excited,sad,angry,frustrated",
                                                   "--label-map", "none"]
    assert prepare_data.main(argv) == 0
    assert json.loads((out / "labels.json").read_text())["names"] == ["neutral", "happy", "excited", "sad", "angry",
                                                                       "frustrated"]
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["counts"]["per_label"] == {"angry": 10, "excited": 5, "frustrated": 5, "happy": 5, "neutral": 5,
                                             "sad": 10}
    assert prepare_data.main(cli_args(tree[0], pretrained, tmp_path / "typo") + ["--classes", "neutral,hapy"]) == 1


def test_bad_inputs_are_reported_by_file(tmp_path, pretrained, fast_binarize):
    root = tmp_path / "IEMOCAP_full_release"
    kept = make_iemocap_tree(root, sessions=(1, 2))
    wavs = root / "Session1" / "sentences" / "wav"
    (wavs / "Ses01F_impro01" / "Ses01F_impro01_M000.wav").unlink()  # missing wav
    write_wav(wavs / "Ses01F_impro01" / "Ses01F_impro01_F001.wav", silent=True)  # silent
    (wavs / "Ses01F_impro01" / "Ses01F_impro01_M001.wav").write_bytes(b"not a wav")  # unreadable
    write_wav(wavs / "Ses01F_impro01" / "Ses01F_impro01_F002.wav", seconds=0.001)  # too short for a frame
    ev = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01M_script01_1.txt"
    ev.write_text(ev.read_text().replace("\tsad\t", "\tjoy\t"))  # unknown label
    tr = root / "Session1" / "dialog" / "transcriptions" / "Ses01M_script01_1.txt"
    tr.write_text("\n".join(l for l in tr.read_text().splitlines() if "_F002 " not in l))  # missing transcript line
    tr = root / "Session1" / "dialog" / "transcriptions" / "Ses01F_impro01.txt"
    tr.write_text(tr.read_text().replace(": " + TEXTS[1], ": "))  # empty transcript (F000)

    out = tmp_path / "data"
    with pytest.raises(prepare.PreparationError) as err:
        prepare.prepare_iemocap(root, pretrained.root, out)
    message = str(err.value)
    for needle in ("Ses01F_impro01_M000.wav: missing wav", "Ses01F_impro01_F001.wav: silent",
                   "Ses01F_impro01_M001.wav: unreadable", "Ses01F_impro01_F002.wav: audio too short",
                   "Ses01M_script01_1.txt: unknown label 'joy'", "Ses01M_script01_1.txt: missing transcript line",
                   "Ses01F_impro01.txt: empty transcript"):
        assert needle in message, f"{needle!r} not in:\n{message}"
    report = json.loads((out / "prepare_report.json").read_text())
    assert not report["complete"] and len(report["failed"]) == 7
    assert not (out / "manifest.tsv").exists()

    report = prepare.prepare_iemocap(root, pretrained.root, out, skip_bad=True)  # session 2 survives
    assert report["complete"] and report["counts"]["kept"] == 7 and report["counts"]["failed"] == 7
    assert sorted(r["id"] for r in read_manifest_rows(out)) == [k for k in kept if k.startswith("Ses02")]
    dropped = (out / "dropped.tsv").read_text().splitlines()
    assert dropped[0] == "id\tfile\tproblem" and len(dropped) == 8
