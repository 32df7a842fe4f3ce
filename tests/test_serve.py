"""emotion-serve's HTTP API: through an HTTP client against ``scripts/serve.py`` running the demo checkpoint
(every status, concurrent requests batched by one model, results equal to EmotionRecognizer's, timelines),
and through the app in-process for a score-valued speech-only model."""
import io
import threading

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from helpers import joined_recording, recognizer_for

from emotion_inference.recognizer import EmotionRecognizer
from emotion_serve.app import create_app


@pytest.fixture(scope="module")
def rec(demo_checkpoint):
    return EmotionRecognizer.from_checkpoint(demo_checkpoint["checkpoint"], demo_checkpoint["pretrained"])


@pytest.fixture(scope="module")
def recording(demo_assets, tmp_path_factory):
    return joined_recording(demo_assets / "corpus", tmp_path_factory.mktemp("recording"), per_label=2)


def _predict(url, wav_path, text=None, explain=None, client=httpx):
    data = {k: v for k, v in (("text", text), ("explain", explain)) if v is not None}
    with open(wav_path, "rb") as f:
        return client.post(f"{url}/predict", files={"audio": (wav_path.name, f, "audio/wav")}, data=data, timeout=120)


def test_health_reports_the_model(demo_server):
    health = httpx.get(f"{demo_server['url']}/health").json()
    assert health["status"] == "ok"
    assert health["model"]["architecture"] == "ssl_emotion_shallow"
    assert health["model"]["value_names"] == ["neutral", "happy", "sad", "angry"]
    assert health["model"]["label_space"]["target_type"] == "iemocap_binary"
    assert health["model"]["probabilities"] is True and health["model"]["explanation"] == "linear_split"
    assert health["limits"] == {"max_upload_mb": 2.0, "max_utterance_s": 20.46} and health["vad"] == "silero"


def test_predict_equals_the_recognizer(demo_server, rec, recording):
    u = recording[2][0]
    response = _predict(demo_server["url"], u["wav"], u["text"], explain="true")
    assert response.status_code == 200, response.text
    body = response.json()
    expected = rec.predict(u["wav"], u["text"], explain=True)
    assert body["prediction"] == pytest.approx(expected["prediction"], abs=1e-6)
    assert body["values"] == body["prediction"] and body["decision"] == rec.decisions(expected["prediction"])
    assert [p["speech"] for p in body["explanation"]["logits"]] == \
        pytest.approx([p["speech"] for p in expected["explanation"]["logits"]], abs=1e-6)


def test_concurrent_requests_are_served_by_one_model_in_batches(demo_server, rec, recording):
    utterances = recording[2]
    expected = rec.predict_batch([(u["wav"], u["text"]) for u in utterances])
    before = httpx.get(f"{demo_server['url']}/health").json()["served"]
    results, errors = {}, []

    def client(k):
        with httpx.Client() as session:
            for repeat in range(3):
                i = (k + repeat) % len(utterances)
                response = _predict(demo_server["url"], utterances[i]["wav"], utterances[i]["text"], client=session)
                if response.status_code != 200:
                    errors.append(response.text)
                results[(k, repeat)] = (i, response.json().get("prediction"))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 24
    for i, prediction in results.values():
        assert prediction == pytest.approx(expected[i], abs=1e-5)  # padding in a batch: float rounding only
    after = httpx.get(f"{demo_server['url']}/health").json()["served"]
    assert after["requests"] - before["requests"] == 24
    assert after["batches"] - before["batches"] < 24 and after["largest_batch"] > 1  # requests arriving together


def test_bad_requests_get_json_errors_and_the_server_goes_on(demo_server, recording, tmp_path):
    url, u = demo_server["url"], recording[2][0]
    wav = u["wav"].read_bytes()

    def post(path="/predict", files=None, data=None, **kw):
        response = httpx.post(f"{url}{path}", files=files, data=data, timeout=120, **kw)
        assert response.headers["content-type"] == "application/json", response.text
        return response.status_code, response.json()["error"]

    status, error = post(data={"text": "hello"})
    assert status == 400 and "missing audio" in error
    status, error = post(files={"audio": ("notes.txt", b"not audio at all", "text/plain")}, data={"text": "hi"})
    assert status == 400 and "'notes.txt' could not be decoded" in error
    status, error = post(files={"audio": ("empty.wav", b"", "audio/wav")}, data={"text": "hi"})
    assert status == 400 and "empty" in error
    status, error = post(files={"audio": ("u.wav", wav, "audio/wav")}, data={"text": "hi", "explain": "perhaps"})
    assert status == 422 and "explain" in error
    status, error = post(data={"audio": "/etc/passwd", "text": "hi"})  # a path is no file: never opened
    assert status == 422 and "audio" in error
    status, error = post(files={"audio": ("u.wav", wav, "audio/wav"), "text": ("t.txt", b"hello", "text/plain")})
    assert status == 422 and "text" in error
    status, error = post(files={"audio": ("u.wav", wav, "audio/wav")}, data={"text": "   "})
    assert status == 400 and "empty transcript" in error
    long_wav = io.BytesIO()
    sf.write(long_wav, 0.1 * np.random.default_rng(0).standard_normal(21 * 8000), 8000, format="WAV")
    status, error = post(files={"audio": ("long.wav", long_wav.getvalue(), "audio/wav")}, data={"text": "hi"})
    assert status == 400 and "21.0 s" in error and "POST /timeline" in error
    too_big = b"\0" * (demo_server["max_upload_mb"] * 2 ** 20 + 1)
    status, error = post(files={"audio": ("big.wav", too_big, "audio/wav")}, data={"text": "hi"})
    assert status == 413 and "upload limit of 2 MB" in error

    def chunks():  # no Content-Length: the body is counted as it arrives
        yield b"--x\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\n"
        for _ in range(3):
            yield b"\0" * 2 ** 20
    status, error = post(content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert status == 413
    status, error = post("/timeline", files={"audio": ("u.wav", wav, "audio/wav")})
    assert status == 400 and "timed transcript" in error
    status, error = post("/timeline", files={"audio": ("u.wav", wav, "audio/wav"),
                                             "transcript": ("t.srt", b"1\n00:00:02,000 --> 00:00:01,000\nx\n", "")})
    assert status == 400 and "transcript 't.srt':2: the span" in error
    assert httpx.get(f"{url}/no/such/page").status_code == 404
    assert demo_server["process"].poll() is None and httpx.get(f"{url}/health").status_code == 200


def test_timeline_endpoint_equals_the_recognizer(demo_server, rec, recording):
    wav, srt, utterances = recording
    with open(wav, "rb") as audio, open(srt, "rb") as transcript:
        response = httpx.post(f"{demo_server['url']}/timeline", timeout=300,
                              files={"audio": ("rec.wav", audio, "audio/wav"), "transcript": ("rec.srt", transcript)})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = list(rec.timeline(wav, srt).rows)
    assert body["header"]["segments"] == len(utterances) == len(body["segments"])
    assert body["header"]["audio"] == "audio 'rec.wav'"
    for got, want in zip(body["segments"], expected):
        assert (got["start"], got["end"], got["text"]) == (want["start"], want["end"], want["text"])
        assert got["prediction"] == pytest.approx(want["prediction"], abs=1e-5)


def test_score_valued_speech_only_model_through_the_app(rec, demo_checkpoint, recording):
    speech = recognizer_for(rec, demo_checkpoint["pretrained"], "ssl_emotion_speech_only", "regression")
    wav, _, utterances = recording
    with TestClient(create_app(speech)) as client:
        health = client.get("/health").json()["model"]
        assert health["value_names"] == ["sentiment"] and health["probabilities"] is False
        assert health["explanation"] is None  # no training means for this model
        body = _predict("", utterances[0]["wav"], client=client).json()  # no transcript needed
        assert body["prediction"] == pytest.approx(speech.predict(utterances[0]["wav"]), abs=1e-6)
        assert body["values"] == {"sentiment": body["prediction"]}
        response = _predict("", utterances[0]["wav"], explain="true", client=client)
        assert response.status_code == 400 and "emotion-modality-means" in response.json()["error"]
        with open(wav, "rb") as audio:
            timeline = client.post("/timeline", files={"audio": ("rec.wav", audio, "audio/wav")}).json()
        assert [isinstance(s["prediction"], float) for s in timeline["segments"]] == [True] * len(utterances)
        assert client.get("/").headers["content-type"].startswith("text/html")
