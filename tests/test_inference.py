"""Inference API and CLI (emotion_inference/recognizer.py, scripts/predict.py) on the demo assets.

One tiny shallow-fusion model is fine-tuned for a few updates with fairseq-train on the prepared
demo corpus; the API must reproduce, utterance by utterance, the tokens of the task's dataset and
the predictions of ``fairseq-validate --save-predictions``. Unimodal models are built in-process
from the same pretrained directory (no training needed to check which inputs they require).
"""
import csv
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from helpers import recognizer_for
from omegaconf import OmegaConf

from emotion_data.audio import AudioError, load_audio
from emotion_inference import recognizer as recognizer_mod
from emotion_bench.latency import measure_latency
from emotion_core.constants import MAX_SPEECH_FRAMES
from emotion_inference.audio_input import to_mono_16k
from emotion_inference.recognizer import EmotionRecognizer
from emotion_core.labels import PAPER_CLASSES as EMOTIONS

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
N_TEST = 8  # test-split utterances compared one by one (the whole split is validated)


def _run(cmd, cwd):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _manifest_rows(data_dir, split):
    with open(data_dir / "manifest.tsv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["split"] == split]
    for r in rows:
        r["start"] = float(r["start"]) if r["start"] else None
        r["end"] = float(r["end"]) if r["end"] else None
    return {r["id"]: r for r in rows}


@pytest.fixture(scope="module")
def trained(demo_checkpoint):
    """The shared fine-tuned demo checkpoint and fairseq-validate's test predictions (conftest)."""
    return demo_checkpoint


@pytest.fixture(scope="module")
def rec(trained):
    return EmotionRecognizer.from_checkpoint(trained["checkpoint"], trained["pretrained"])


@pytest.fixture(scope="module")
def test_utterances(trained):
    rows = _manifest_rows(trained["data"], "test")
    ids = sorted(rows)[:N_TEST]
    return [rows[i] for i in ids]


def _audio(row):
    return load_audio(row["audio"], row["start"], row["end"])


@pytest.fixture(scope="module")
def encoded(rec, test_utterances):
    """The API's model inputs of the compared utterances (vq-wav2vec runs once per utterance)."""
    return [rec.encode(_audio(u), u["text"], 16000) for u in test_utterances]


def test_loads_without_data_dir(trained, tmp_path):
    """The checkpoint's data directory need not exist: dictionaries come from the pretrained directory."""
    from fairseq import checkpoint_utils

    state = checkpoint_utils.load_checkpoint_to_cpu(str(trained["checkpoint"]))
    state["cfg"].task.data = str(tmp_path / "no-such-data-dir")  # (the shared demo data stays in place)
    state["cfg"] = OmegaConf.to_container(state["cfg"])
    torch.save(state, tmp_path / "moved.pt")
    rec = EmotionRecognizer.from_checkpoint(tmp_path / "moved.pt", trained["pretrained"])
    assert rec.modalities == ("speech", "text") and rec.target_type == "iemocap_binary"


def test_tokens_and_probabilities_match_the_task(rec, trained, test_utterances, encoded):
    """Token for token as prepare + fairseq-preprocess + the task; same probabilities as the model on its batch."""
    from emotion_tasks.multimodal_emotion import MultimodalEmotionTask

    cfg = OmegaConf.create({"data": str(trained["data"]), "target_type": "iemocap_binary",
                            "save_predictions": None, "seed": 1})
    task = MultimodalEmotionTask.setup_task(cfg)
    task.encoder_positions = rec.model.encoder_max_positions()
    dataset = task.load_dataset("test")
    row_of = {uid: i for i, uid in enumerate(task.utterance_ids["test"])}
    wanted = [row_of[u["id"]] for u in test_utterances]
    sample = dataset.collater([dataset[i] for i in wanted])  # SortDataset keeps the row indices
    with torch.inference_mode():
        expected = rec.model(**sample["net_input"]).softmax(-1)[..., 1]  # (B, 4)

    for k, (e, i) in enumerate(zip(encoded, wanted)):
        item = dataset[i]  # NestedDictionaryDataset items have flattened keys
        assert torch.equal(e.speech, item["net_input.speech_tokens"]), test_utterances[k]["id"]
        assert torch.equal(e.text, item["net_input.text_tokens"]), test_utterances[k]["id"]
    got = rec.predict_encoded(encoded)
    got = torch.tensor([[p[name] for name in rec.label_space.names] for p in got])  # the model's output order
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_predictions_equal_fairseq_validate(rec, trained, test_utterances, encoded):
    """The API's decisions equal what fairseq-validate --save-predictions wrote for the same utterances."""
    rec.max_tokens = 3 * max(e.cost() for e in encoded)  # several length-sorted batches, with padding
    try:
        preds = rec.predict_encoded(encoded)
    finally:
        rec.max_tokens = 8192
    for u, p in zip(test_utterances, preds):
        assert set(p) == set(EMOTIONS) and all(0.0 <= v <= 1.0 for v in p.values())
        assert rec.decisions(p) == trained["saved"][u["id"]]["pred"], u["id"]
    # predict_batch from wav paths (or segments) and predict give the same, in the input order
    items = [{"audio": u["audio"] if u["start"] is None else _audio(u), "text": u["text"],
              "sample_rate": None if u["start"] is None else 16000} for u in test_utterances[2::-1]]
    for got, want in zip(rec.predict_batch(items), preds[2::-1]):
        assert got == pytest.approx(want, abs=1e-5)  # batching and padding do not change a result
    single = rec.predict(_audio(test_utterances[0]), test_utterances[0]["text"], sample_rate=16000)
    assert single == pytest.approx(preds[0], abs=1e-5)


def test_unpadded_encoders_give_the_padded_probabilities(rec, encoded):
    """The recognizer's default unpadded forward equals fairseq's padded one on padded batches."""
    assert len({e.cost() for e in encoded}) > 1, "the utterances should differ in length (padding)"
    assert all(enc.unpadded for enc in rec.model.encoders.values())
    unpadded = rec.predict_encoded(encoded)
    rec.model.set_unpadded_encoders(False)
    try:
        padded = rec.predict_encoded(encoded)
    finally:
        rec.model.set_unpadded_encoders(True)
    for got, want in zip(unpadded, padded):
        assert got == pytest.approx(want, abs=1e-5)


def test_bf16_casts_the_linear_weights_once_with_autocasts_numbers(rec, encoded):
    """bf16=True: the same probabilities as the model under plain autocast, from weights cast once."""
    net_input = rec.collate(encoded[:3])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = rec.model(**net_input).float()
    rec.bf16 = True
    try:
        got = rec._forward(encoded[:3])
        weights = rec._bf16_weights
        rec._forward(encoded[:1])
        assert rec._bf16_weights is weights  # made once
    finally:
        rec.bf16 = False
    assert all(w.dtype == torch.bfloat16 for w in weights.values())
    assert "encoders.text.encoder.sentence_encoder.layers.0.fc1.weight" in weights
    assert not any("embed" in name for name in weights)  # only linear layers: embeddings stay fp32
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


def test_stereo_44k_equals_mono_16k(rec, test_utterances, tmp_path):
    """A stereo 44.1 kHz file gives the answer of its 16 kHz mono version; arrays equal files."""
    u = test_utterances[0]
    mono = _audio(u)
    stereo = soxr.resample(mono, 16000, 44100)
    stereo = np.stack([stereo * 1.1, stereo * 0.9], axis=1).astype(np.float32)  # (samples, 2), mean = signal
    path = tmp_path / "stereo44k.wav"
    sf.write(path, stereo, 44100, subtype="FLOAT")
    from_file, from_mono = rec.predict(path, u["text"]), rec.predict(mono, u["text"], sample_rate=16000)
    for e in EMOTIONS:
        assert from_file[e] == pytest.approx(from_mono[e], abs=0.02), e
    converted, original = rec.tokenizer.tokenize(load_audio(path)), rec.tokenizer.tokenize(mono)
    assert len(converted) == len(original)
    assert np.mean([a == b for a, b in zip(converted, original)]) > 0.9  # resampling moves a few frames only
    assert rec.predict(stereo, u["text"], sample_rate=44100) == pytest.approx(from_file, abs=1e-6)
    pcm = np.clip(np.round(stereo * 32767), -32768, 32767).astype(np.int16)
    sf.write(tmp_path / "pcm.wav", pcm, 44100, subtype="PCM_16")
    assert rec.predict(pcm, u["text"], sample_rate=44100) == pytest.approx(
        rec.predict(tmp_path / "pcm.wav", u["text"]), abs=1e-6)


def test_cli_one_row_per_manifest_row(trained, test_utterances, tmp_path):
    """CLI on a manifest (relative paths, a segment, a silent file): one row per row, errors in place."""
    rows = test_utterances[:3]
    sf.write(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    shutil.copy(rows[0]["audio"], tmp_path / "first.wav")
    lines = ["id\taudio\tstart\tend\ttext\tlabel"]
    lines.append(f"a\tfirst.wav\t{rows[0]['start'] or ''}\t{rows[0]['end'] or ''}\t{rows[0]['text']}\tneutral")
    lines += [f"{r['id']}\t{r['audio']}\t{r['start'] or ''}\t{r['end'] or ''}\t{r['text']}\t" for r in rows[1:]]
    lines.append("quiet\tsilent.wav\t\t\tHello there.\t")
    (tmp_path / "utts.tsv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "preds.csv"
    proc = subprocess.run([sys.executable, REPO / "scripts" / "predict.py", "--checkpoint", trained["checkpoint"],
                           "--pretrained", trained["pretrained"], "--manifest", tmp_path / "utts.tsv",
                           "--output", out], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]  # one utterance failed
    with open(out, newline="") as f:
        got = list(csv.DictReader(f))
    assert [r["id"] for r in got] == ["a", rows[1]["id"], rows[2]["id"], "quiet"]
    assert list(got[0]) == ["id", *EMOTIONS, "error"]
    assert all(r["error"] == "" and 0 <= float(r["happy"]) <= 1 for r in got[:3])
    assert "silent" in got[3]["error"] and got[3]["happy"] == ""
    saved = trained["saved"][rows[1]["id"]]["pred"]
    assert {e: int(float(got[1][e]) > 0.5) for e in EMOTIONS} == saved
    assert "predict" in proc.stderr  # tqdm progress bar


def test_cli_fast_tokenizer(rec, trained, test_utterances, tmp_path):
    """--fast-tokenizer: matrix-product vq-wav2vec features; the API's probabilities to rounding."""
    u = test_utterances[0]
    sf.write(tmp_path / "utt.wav", _audio(u), 16000)
    fast = EmotionRecognizer.from_checkpoint(trained["checkpoint"], trained["pretrained"], exact_tokens=False)
    assert not fast.tokenizer.exact and rec.tokenizer.exact
    ours, ref = fast.tokenizer.indices(_audio(u)), rec.tokenizer.indices(_audio(u))
    assert (ours != ref).any(1).float().mean() <= 0.01
    proc = _run([sys.executable, REPO / "scripts" / "predict.py", "--checkpoint", trained["checkpoint"],
                 "--pretrained", trained["pretrained"], "--audio", tmp_path / "utt.wav", "--text", u["text"],
                 "--fast-tokenizer"], cwd=tmp_path)
    assert "--fast-tokenizer: vq-wav2vec convolutions as matrix products" in proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = rec.predict(tmp_path / "utt.wav", u["text"])
    assert got["happy"] == pytest.approx(expected["happy"], abs=1e-2)
    assert {e: got[e] for e in EMOTIONS} == pytest.approx(fast.predict(tmp_path / "utt.wav", u["text"]), abs=1e-6)


def test_fused_model_refuses_missing_modality(rec, test_utterances):
    u = test_utterances[0]
    wav = _audio(u)
    for text in (None, "", "   \n"):
        with pytest.raises(ValueError, match="transcript"):
            rec.predict(wav, text, sample_rate=16000)
    with pytest.raises(ValueError, match="silent"):
        rec.predict(np.zeros(32000, dtype=np.float32), u["text"], sample_rate=16000)
    with pytest.raises(ValueError, match="reads speech"):
        rec.predict(None, u["text"])
    with pytest.raises(ValueError, match="sample_rate"):
        rec.predict(wav, u["text"])


def test_audio_conversion_errors(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        to_mono_16k(np.zeros((2, 16000), dtype=np.float32) + 0.1, 16000)  # (channels, samples)
    with pytest.raises(ValueError, match="empty"):
        to_mono_16k(np.zeros(0, dtype=np.float32), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="silent.wav"):
        to_mono_16k(tmp_path / "silent.wav")


def test_long_audio_policy(rec, test_utterances, caplog):
    """Over 2046 frames: truncated to the first 2046 (as data preparation) with a warning, or an error."""
    wav = _audio(test_utterances[0])
    long = np.tile(wav, int(np.ceil(21.0 * 16000 / len(wav))))  # > 20.46 s
    full = rec.tokenizer.tokenize(long)
    assert len(full) > MAX_SPEECH_FRAMES
    with caplog.at_level(logging.WARNING, logger=recognizer_mod.__name__):
        encoded = rec.encode(long, test_utterances[0]["text"], 16000)
    assert "truncated to the first 2046" in caplog.text
    assert encoded.speech_frames == len(full)
    expected = rec._finish("speech", " ".join(full[:MAX_SPEECH_FRAMES]))  # prepare's cut, then the task's
    assert torch.equal(encoded.speech, expected)
    assert len(encoded.speech) == min(MAX_SPEECH_FRAMES + 2, rec.max_positions["speech"])
    rec.long_audio = "error"
    try:
        with pytest.raises(ValueError, match="2046"):
            rec.predict(long, test_utterances[0]["text"], sample_rate=16000)
    finally:
        rec.long_audio = "truncate"
    with pytest.raises(ValueError, match="long_audio"):
        EmotionRecognizer(rec.model, rec.label_space, *rec.dicts.values(), rec.tokenizer, rec.bpe, long_audio="cut")


def test_unimodal_models_need_one_modality(rec, trained, test_utterances):
    u = test_utterances[0]
    speech = recognizer_for(rec, trained["pretrained"], "ssl_emotion_speech_only")
    assert speech.modalities == ("speech",)
    p = speech.predict(_audio(u), None, sample_rate=16000)  # no transcript needed
    assert set(p) == set(EMOTIONS) and sum(p.values()) == pytest.approx(1.0, abs=1e-5)
    assert speech.predict(_audio(u), "anything", sample_rate=16000) == pytest.approx(p, abs=1e-6)
    with pytest.raises(ValueError, match="silent"):
        speech.predict(np.zeros(16000, dtype=np.float32), None, sample_rate=16000)

    text = recognizer_for(rec, trained["pretrained"], "ssl_emotion_text_only")
    assert text.modalities == ("text",)
    p = text.predict(text=u["text"])  # no audio needed
    assert text.decisions(p) in EMOTIONS and sum(p.values()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="transcript"):
        text.predict(text="")
    with pytest.raises(ValueError, match="vq-wav2vec"):
        EmotionRecognizer(speech.model, speech.label_space, *rec.dicts.values(), tokenizer=None, bpe=None)


def test_measure_latency_reports_stages(rec):
    result = measure_latency(rec, seconds=1.0, repeats=1, warmup=0)
    assert result["median_s"] > 0 and 90 < result["speech_positions"] <= 102  # ~100 frames + <s> + </s>
    assert result["encode_median_s"] + result["model_median_s"] == pytest.approx(result["median_s"], rel=1e-3)


def test_text_only_checkpoint_needs_no_vq_wav2vec(rec, trained, tmp_path):
    """from_checkpoint of a text-only model loads neither vq-wav2vec nor needs audio."""
    from fairseq import checkpoint_utils

    from emotion_tasks.multimodal_emotion import MultimodalEmotionTask

    state = checkpoint_utils.load_checkpoint_to_cpu(str(trained["checkpoint"]))
    cfg = state["cfg"]
    cfg.model._name, cfg.model.modalities, cfg.model.speech_args = "ssl_emotion_text_only", "text", None
    task = MultimodalEmotionTask(cfg.task, rec.dicts["speech"], rec.dicts["text"])
    state["model"] = task.build_model(cfg.model).state_dict()
    state["cfg"] = OmegaConf.to_container(cfg)
    torch.save(state, tmp_path / "text_only.pt")
    pre = tmp_path / "pretrained"
    shutil.copytree(trained["pretrained"], pre, ignore=shutil.ignore_patterns("vq-wav2vec_kmeans.pt", "*.pt"))
    text = EmotionRecognizer.from_checkpoint(tmp_path / "text_only.pt", pre)
    assert text.modalities == ("text",) and text.tokenizer is None
    assert set(text.predict(text="I am so happy today.")) == set(EMOTIONS)


def test_a_fitted_temperature_is_applied_unless_turned_off(rec, trained, encoded, tmp_path):
    from emotion_core.calibration_file import write_temperature

    checkpoint = tmp_path / "checkpoint_best.pt"
    shutil.copy(trained["checkpoint"], checkpoint)
    write_temperature(checkpoint, 2.0, rec.label_space)
    calibrated = EmotionRecognizer.from_checkpoint(checkpoint, trained["pretrained"])
    assert calibrated.temperature == 2.0
    logits = rec._forward(encoded[:3])
    expected = rec.label_space.outputs(logits / 2.0)
    got = calibrated.predict_encoded(encoded[:3])
    for g, e in zip(got, expected):
        assert g == pytest.approx(e, abs=1e-6)
    assert EmotionRecognizer.from_checkpoint(checkpoint, trained["pretrained"], calibrated=False).temperature is None
