"""Which modality decided (emotion_inference/explain.py, modality_means.py): the exact linear split of the
shallow fusion's logits, training-mean replacement for co-attention and single-modality models, and the
means file written next to the checkpoint by emotion-modality-means."""
import json
import shutil

import pytest
import torch
from helpers import joined_recording, recognizer_for

from emotion_inference.cli import main as predict_main
from emotion_inference.modality_means import ModalityMeans, compute_modality_means, main as means_main, means_path
from emotion_inference.recognizer import EmotionRecognizer
from emotion_tasks.datasets import load_tokens


@pytest.fixture(scope="module")
def rec(demo_checkpoint):
    return EmotionRecognizer.from_checkpoint(demo_checkpoint["checkpoint"], demo_checkpoint["pretrained"])


@pytest.fixture(scope="module")
def utterances(demo_assets, tmp_path_factory):
    return joined_recording(demo_assets / "corpus", tmp_path_factory.mktemp("utts"), per_label=2)[2]


def test_linear_split_adds_up_to_each_logit(rec, utterances):
    encoded = [rec.encode(u["wav"], u["text"]) for u in utterances]
    explained = rec.predict_encoded(encoded, explain=True)  # batched, as the service does
    with torch.inference_mode():
        logits = rec.model(**rec.collate(encoded)).reshape(len(encoded), -1)  # (B, 8): the model's own forward
    names = rec.label_space.logit_names()
    assert names[:2] == ["neutral:absent", "neutral:present"]
    for b, (result, plain) in enumerate(zip(explained, rec.predict_encoded(encoded))):
        assert result["prediction"] == pytest.approx(plain, abs=1e-6)
        parts = result["explanation"]["logits"]
        assert result["explanation"]["method"] == "linear_split" and [p["name"] for p in parts] == names
        for o, p in enumerate(parts):
            assert p["speech"] + p["text"] + p["bias"] == pytest.approx(p["logit"], abs=1e-12)  # exact split
            assert p["logit"] == pytest.approx(float(logits[b, o]), abs=1e-5)  # = the model's logit


def test_the_split_of_calibrated_logits_adds_up_too(rec, utterances):
    u = utterances[0]
    plain = rec.predict(u["wav"], u["text"], explain=True)
    rec.temperature = 2.0  # as from_checkpoint sets it from the checkpoint's .calibration.json
    try:
        calibrated = rec.predict(u["wav"], u["text"], explain=True)
        assert calibrated["prediction"] == pytest.approx(rec.predict(u["wav"], u["text"]), abs=1e-6)
    finally:
        rec.temperature = None
    assert calibrated["explanation"]["temperature"] == 2.0 and plain["explanation"]["temperature"] == 1.0
    for half, whole in zip(calibrated["explanation"]["logits"], plain["explanation"]["logits"]):
        assert half["speech"] + half["text"] + half["bias"] == pytest.approx(half["logit"], abs=1e-12)
        assert half["logit"] == pytest.approx(whole["logit"] / 2) and half["text"] == pytest.approx(whole["text"] / 2)


def _fused_mean(recognizer, data_dir, split):
    """Each modality's mean fused part over ``split``, one utterance at a time (no padding)."""
    tokens = {m: load_tokens(str(data_dir), m, split, recognizer.dicts[m], recognizer.max_positions[m])
              for m in recognizer.modalities}
    rows = []
    with torch.inference_mode():
        for i in range(len(next(iter(tokens.values())))):
            rows.append(recognizer.model.fused_features(**{f"{m}_tokens": t[i][None] for m, t in tokens.items()})[0])
    return torch.stack(rows).mean(0)  # (D,)


def test_mean_replacement_for_coattention_and_single_modality_models(rec, demo_checkpoint, demo_data, utterances):
    u = utterances[0]
    for arch, modalities in (("ssl_emotion_coattn", ["speech", "text"]), ("ssl_emotion_speech_only", ["speech"])):
        other = recognizer_for(rec, demo_checkpoint["pretrained"], arch)
        with pytest.raises(ValueError, match="emotion-modality-means"):
            other.predict(u["wav"], u["text"], explain=True)
        other.modality_means = compute_modality_means(other, demo_data, split="valid")  # a small split: quicker
        if arch == "ssl_emotion_coattn":  # attention over padded batches: the means equal unbatched ones
            means = torch.cat([other.modality_means.means[m] for m in modalities])
            assert means == pytest.approx(_fused_mean(other, demo_data, "valid"), abs=1e-5)
        result = other.predict(u["wav"], u["text"], explain=True)
        explanation = result["explanation"]
        assert explanation["method"] == "mean_replacement" and sorted(explanation["change"]) == modalities
        assert explanation["means"] == {"split": "valid", "utterances": 32}
        encoded = other.encode(u["wav"], u["text"])
        with torch.inference_mode():
            fused = other.model.fused_features(**other.collate([encoded]))
            width = other.model.fusion.widths["speech"]
            fused[:, :width] = other.modality_means.means["speech"]
            without_speech = other.label_space.outputs(other.model.head(fused))[0]
        assert explanation["without"]["speech"] == pytest.approx(without_speech, abs=1e-6)
        assert explanation["change"]["speech"] == pytest.approx(
            {n: result["prediction"][n] - without_speech[n] for n in without_speech}, abs=1e-6)


def test_the_means_file_lives_next_to_the_checkpoint(rec, demo_checkpoint, demo_data, tmp_path):
    checkpoint = shutil.copy(demo_checkpoint["checkpoint"], tmp_path / "checkpoint_best.pt")
    assert means_main(["--checkpoint", str(checkpoint), "--pretrained", str(demo_checkpoint["pretrained"]),
                       "--data", str(demo_data)]) == 0
    path = means_path(checkpoint)
    assert path.name == "checkpoint_best.modality_means.json"
    loaded = EmotionRecognizer.from_checkpoint(checkpoint, demo_checkpoint["pretrained"])  # read when present
    assert loaded.modality_means.utterances == 96
    assert loaded.modality_means.means["text"] == pytest.approx(compute_modality_means(rec, demo_data).means["text"])
    obj = json.loads(path.read_text())
    obj["means"]["text"][0] += 1.0
    obj["head"] = "0" * 16  # means of another checkpoint
    path.write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="computed with another checkpoint"):
        EmotionRecognizer.from_checkpoint(checkpoint, demo_checkpoint["pretrained"])
    for broken, message in (("{", "unreadable modality means"), ('{"means": {}}', "not a modality means file"),
                            (json.dumps(dict(obj, means={"speech": [0.0]})), "means of \\['speech'\\]"),
                            (json.dumps(dict(obj, means=dict(obj["means"], text=[float("nan")] * 64))),
                             "the text mean must be 64 finite numbers")):
        path.write_text(broken)
        with pytest.raises(ValueError, match=message):
            ModalityMeans.load(path, rec.model)
    assert EmotionRecognizer.from_checkpoint(checkpoint, demo_checkpoint["pretrained"],
                                             modality_means=None).modality_means is None


def test_predict_cli_explains(rec, demo_checkpoint, utterances, tmp_path):
    u = utterances[0]
    out = tmp_path / "p.jsonl"
    assert predict_main(["--checkpoint", str(demo_checkpoint["checkpoint"]), "--pretrained",
                         str(demo_checkpoint["pretrained"]), "--audio", str(u["wav"]), "--text", u["text"],
                         "--explain", "--output", str(out)]) == 0
    row = json.loads(out.read_text())
    assert row["explanation"]["method"] == "linear_split" and len(row["explanation"]["logits"]) == 8
    assert set(row) == {"id", "neutral", "happy", "sad", "angry", "explanation", "error"}
    api = rec.predict(u["wav"], u["text"], explain=True)["explanation"]["logits"]
    assert [p["text"] for p in row["explanation"]["logits"]] == pytest.approx([p["text"] for p in api], abs=1e-6)
