"""Timelines of long recordings (emotion_inference/timeline.py, vad.py, long_audio.py) on a recording made of
demo utterances of known emotions joined by silences: the segments must find the utterances' boundaries
within 0.3 s and predict them as the utterance-level model does."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from helpers import joined_recording, recognizer_for

from emotion_data.audio import load_audio
from emotion_inference import vad as vad_mod
from emotion_inference.cli import main as predict_main
from emotion_inference.long_audio import LongAudio
from emotion_inference.recognizer import EmotionRecognizer
from emotion_inference.timeline import BATCH_SEGMENTS, Segmentation, cut_regions, timeline
from emotion_inference.transcripts import read_transcript
from emotion_inference.vad import Region, load_vad

TOLERANCE_S = 0.3


@pytest.fixture(scope="module")
def rec(demo_checkpoint):
    return EmotionRecognizer.from_checkpoint(demo_checkpoint["checkpoint"], demo_checkpoint["pretrained"])


@pytest.fixture(scope="module")
def recording(demo_assets, tmp_path_factory):
    return joined_recording(demo_assets / "corpus", tmp_path_factory.mktemp("recording"))


def _top(prediction):
    return max(prediction, key=prediction.get)


@pytest.mark.parametrize("kind", ["silero", "energy"])
def test_vad_finds_the_utterances(recording, kind):
    wav, _, utterances = recording
    regions = load_vad(kind).regions(LongAudio(wav).blocks(block_s=3.0))  # blocks cut inside utterances
    assert len(regions) == len(utterances) == 4
    for region, u in zip(regions, utterances):
        assert abs(region.start - u["start"]) <= TOLERANCE_S and abs(region.end - u["end"]) <= TOLERANCE_S, (region, u)


def test_timeline_predicts_each_utterance_as_the_utterance_level_model(rec, recording):
    wav, srt, utterances = recording
    timeline = rec.timeline(wav, srt)
    assert timeline.header["vad"] == "silero" and timeline.header["segments"] == 4
    segmentation = timeline.header["segmentation"]
    assert segmentation["max_segment_s"] == 10.0 and segmentation["overlap_s"] == 1.0
    rows = list(timeline.rows)
    assert len(rows) == len(utterances)
    for row, u in zip(rows, utterances):
        assert abs(row["start"] - u["start"]) <= TOLERANCE_S and abs(row["end"] - u["end"]) <= TOLERANCE_S
        assert row["text"] == u["text"] and row["error"] == ""
        utterance_level = rec.predict(u["wav"], u["text"])
        assert _top(row["prediction"]) == _top(utterance_level)  # the same emotion
        assert row["decision"] == rec.decisions(utterance_level)
        assert row["prediction"] == pytest.approx(utterance_level, abs=0.05)  # a little more silence around it
        exact = rec.predict(load_audio(wav, row["start"], row["end"]), u["text"], sample_rate=16000)
        assert row["prediction"] == pytest.approx(exact, abs=1e-5)  # the segment, as load_audio cuts it


def test_explained_timeline_rows(rec, recording):
    wav, srt, _ = recording
    rows = list(rec.timeline(wav, srt, explain=True).rows)
    assert all(r["explanation"]["method"] == "linear_split" for r in rows)


def test_segments_are_predicted_a_batch_at_a_time_as_rows_are_read(rec, demo_assets, tmp_path):
    wav, srt, utterances = joined_recording(demo_assets / "corpus", tmp_path, per_label=3, silence_s=0.8)
    calls = []

    def predict(items):  # the recognizer's own batch prediction, counted
        calls.append(len(items))
        return rec.predict_batch([(audio, text, 16000) for audio, text in items])

    result = timeline(rec, wav, read_transcript(srt), predict=predict)
    assert result.header["segments"] == len(utterances) == 12 and calls == []  # voice activity only, so far
    rows = iter(result.rows)
    next(rows)
    assert calls == [BATCH_SEGMENTS]  # one batch of segments exists at a time
    assert len([next(rows) for _ in range(11)]) == 11 and calls == [BATCH_SEGMENTS, 12 - BATCH_SEGMENTS]


@pytest.mark.parametrize("duration", [4.0, 10.0, 10.5, 19.0, 25.0, 61.3])
def test_long_regions_become_bounded_windows_with_exact_overlap(duration):
    segments = cut_regions([Region(2.0, 2.0 + duration)], max_segment_s=10.0, overlap_s=1.0)
    assert segments[0][0] == 2.0 and segments[-1][1] == pytest.approx(2.0 + duration)
    assert all(end - start <= 10.0 + 1e-9 for start, end in segments)
    if duration <= 10.0:
        assert segments == [(2.0, 2.0 + duration)]
    for (_, end), (start, _) in zip(segments, segments[1:]):
        assert end - start == pytest.approx(1.0)
    with pytest.raises(ValueError, match="overlap_s"):
        Segmentation(max_segment_s=10.0, overlap_s=6.0)
    with pytest.raises(ValueError, match="max_segment_s"):
        Segmentation(max_segment_s=30.0)


def test_fused_models_need_a_transcript_and_speech_only_models_do_not(rec, recording, demo_checkpoint):
    wav, _, utterances = recording
    with pytest.raises(ValueError, match="timed transcript"):
        rec.timeline(wav)
    speech = recognizer_for(rec, demo_checkpoint["pretrained"], "ssl_emotion_speech_only", "regression")
    rows = list(speech.timeline(wav).rows)
    assert len(rows) == len(utterances) and all(r["text"] == "" and isinstance(r["prediction"], float) for r in rows)


def test_a_segment_without_words_keeps_its_row_with_the_reason(rec, recording, tmp_path):
    wav, srt, utterances = recording
    first_cue = srt.read_text().split("\n\n")[0] + "\n"
    (tmp_path / "one.srt").write_text(first_cue)
    rows = list(rec.timeline(wav, tmp_path / "one.srt").rows)
    assert rows[0]["prediction"] is not None and rows[0]["text"] == utterances[0]["text"]
    assert [r["error"] for r in rows[1:]] == ["no transcript word falls in this segment"] * 3
    assert all(r["prediction"] is None for r in rows[1:])


def test_a_resampled_stereo_file_is_streamed_as_load_audio_reads_it(tmp_path):
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((44100 * 13, 2))).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 44100, subtype="FLOAT")
    source = LongAudio(tmp_path / "s.wav")
    blocks = list(source.blocks(block_s=2.5))
    assert max(len(b) for b in blocks) <= 2.5 * 16000 + 512
    streamed, whole = np.concatenate(blocks), load_audio(tmp_path / "s.wav")
    assert abs(len(streamed) - len(whole)) <= 1 and np.abs(streamed[:len(whole)] - whole[:len(streamed)]).max() < 1e-3
    assert np.array_equal(source.segment(3.25, 7.5), load_audio(tmp_path / "s.wav", 3.25, 7.5))


def test_silero_loads_its_packaged_onnx_model_without_torchaudio_downloads_or_thread_changes():
    code = """
import socket, sys, torch
socket.socket.connect = lambda *a, **k: (_ for _ in ()).throw(OSError("no network"))  # any download fails
torch.set_num_threads(2)
import numpy as np
from emotion_inference.vad import SileroVad
detector = SileroVad()
regions = detector.regions([np.zeros(16000, dtype=np.float32)])
assert regions == [], regions
assert torch.get_num_threads() == 2, torch.get_num_threads()
assert "torchaudio" not in sys.modules
print(detector.session._model_path if hasattr(detector.session, "_model_path") else "ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_energy_detector_when_silero_is_absent(monkeypatch):
    real = vad_mod.importlib.util.find_spec
    monkeypatch.setattr(vad_mod.importlib.util, "find_spec", lambda name: None if name == "silero_vad" else real(name))
    assert load_vad("auto").name == "energy"
    with pytest.raises(ValueError, match="silero-vad is not installed"):
        load_vad("silero")


def test_cli_timeline_writes_rows_and_a_plot(demo_checkpoint, recording, tmp_path, capsys, caplog):
    wav, srt, utterances = recording
    base = ["--checkpoint", str(demo_checkpoint["checkpoint"]), "--pretrained", str(demo_checkpoint["pretrained"]),
            "--timeline", "--audio", str(wav)]
    out, plot = tmp_path / "t.jsonl", tmp_path / "t.png"
    assert predict_main(base + ["--transcript", str(srt), "--output", str(out), "--plot", str(plot),
                                "--vad", "energy"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["header"]["vad"] == "energy" and lines[0]["header"]["segments"] == len(utterances)
    assert [r["text"] for r in lines[1:]] == [u["text"] for u in utterances]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert predict_main(base) == 1  # a fused model without a transcript
    assert "needs the recording's timed transcript" in caplog.text
    (tmp_path / "bad.srt").write_text("1\n00:00:02,000 --> 00:00:01,000\nbackwards\n")
    assert predict_main(base + ["--transcript", str(tmp_path / "bad.srt")]) == 1
    assert "bad.srt:2: the span 2.0..1.0 s" in caplog.text
    with pytest.raises(SystemExit):  # argparse: a timeline is written as JSON lines
        predict_main(base + ["--transcript", str(srt), "--output", str(tmp_path / "t.csv")])
    assert "--output must end in .jsonl" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_script_runs_a_timeline(demo_checkpoint, recording, tmp_path):
    wav, srt, utterances = recording
    proc = subprocess.run([sys.executable, "scripts/predict.py", "--checkpoint", str(demo_checkpoint["checkpoint"]),
                           "--pretrained", str(demo_checkpoint["pretrained"]), "--timeline", "--audio", str(wav),
                           "--transcript", str(srt)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["header"]["vad"] == "silero" and len(lines) == 1 + len(utterances)
