"""Waveform speech encoders end to end: fairseq-train a few updates with each encoder kind on the demo data, then
fairseq-validate, EmotionRecognizer and scripts/predict.py after the pretrained files are gone.

The demo build's really pretrained stand-ins ``wav2vec_small.pt`` (legacy ``args``) and ``hubert_base_ls960.pt``
(``cfg``, no task state), and a tiny random data2vec audio checkpoint; ``demo_data`` holds both speech inputs.
"""
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_train, run_validate
from tiny_waveform import save_pretraining

from emotion_inference.recognizer import EmotionRecognizer

REPO = Path(__file__).resolve().parents[1]
CASES = {  # encoder: (architecture, target type, extra fairseq-train options)
    "wav2vec2": ("ssl_emotion_shallow", "multiclass", ["--cache-extractor-features", "--fast-cpu-dropout"]),
    "hubert": ("ssl_emotion_coattn", "iemocap_binary", ["--speech-pooling", "weighted_layers"]),
    "data2vec_audio": ("ssl_emotion_speech_only", "multiclass", ["--freeze-ssl", "--speech-layerdrop", "0.1"]),
}


def text_side(pretrained, dest):
    """The part of a pretrained directory that a waveform model's inference reads: RoBERTa's dict and the BPE."""
    (dest / "roberta.large").mkdir(parents=True)
    shutil.copy(pretrained / "roberta.large" / "dict.txt", dest / "roberta.large")
    shutil.copytree(pretrained / "gpt2_bpe", dest / "gpt2_bpe")
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("encoder", list(CASES))
def test_train_validate_and_predict_without_the_pretrained_files(encoder, demo_assets, demo_data, tmp_path):
    arch, target_type, extra = CASES[encoder]
    pretrained = Path(shutil.copytree(demo_assets / "pretrained", tmp_path / "pretrained"))
    speech = {"wav2vec2": pretrained / "wav2vec_small.pt", "hubert": pretrained / "hubert_base_ls960.pt",
              "data2vec_audio": save_pretraining(pretrained / "audio_base_ls.pt", "data2vec_audio")}[encoder]
    flags = ["--speech-checkpoint", str(speech), "--target-type", target_type, "--batch-size", "16", *extra]
    if arch != "ssl_emotion_speech_only":
        flags += ["--text-checkpoint", str(pretrained / "roberta.large" / "model.pt")]
    run_train(demo_data, tmp_path / "ckpt", arch, flags)
    shutil.rmtree(pretrained)  # the checkpoint holds the encoders: neither their files nor vq-wav2vec are needed
    predictions = tmp_path / "predictions.jsonl"
    values = run_validate(demo_data, tmp_path / "ckpt" / "checkpoint_last.pt",
                          ["--save-predictions", str(predictions), "--batch-size", "1"])
    assert "loss" in values
    saved = {r["id"]: r for r in map(json.loads, predictions.read_text().splitlines())}

    rec = EmotionRecognizer.from_checkpoint(tmp_path / "ckpt" / "checkpoint_last.pt",
                                            text_side(demo_assets / "pretrained", tmp_path / "text_only"))
    assert rec.speech_input == "waveform" and rec.tokenizer is None
    with open(demo_data / "manifest.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == "test"][:6]
    got = rec.predict_batch([{"audio": r["audio"], "text": r["text"]} for r in rows])
    for r, prediction in zip(rows, got):
        assert rec.decisions(prediction) == saved[r["id"]]["pred"], r["id"]
        assert prediction == pytest.approx(saved[r["id"]]["probs"], abs=1e-5)  # one utterance per batch, as validated

    if encoder == "hubert":  # the command line too
        proc = subprocess.run([sys.executable, REPO / "scripts" / "predict.py", "--checkpoint",
                               tmp_path / "ckpt" / "checkpoint_last.pt", "--pretrained", tmp_path / "text_only",
                               "--audio", rows[0]["audio"], "--text", rows[0]["text"]],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert json.loads(proc.stdout)[rec.label_space.names[0]] == pytest.approx(got[0][rec.label_space.names[0]],
                                                                                   abs=1e-5)
