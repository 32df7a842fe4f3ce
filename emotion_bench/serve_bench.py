"""The HTTP service's cost over the Python API, and its memory under concurrent clients.

The server (``emotion_serve.app.create_app`` under uvicorn, as ``emotion-serve`` runs it) serves a
demo-size model (the small demo's stand-in sizes, random weights, :func:`demo_size_recognizer`) in
a child process; this process builds the same model (same seed) for the Python API and is the
HTTP client, on the loopback interface.

* overhead: ``repeats`` interleaved pairs of one demo-size request (``seconds`` of audio as a
  16-bit WAV upload and a sentence): ``EmotionRecognizer.predict`` on the decoded samples here,
  then ``POST /predict`` round trip, after ``WARMUP`` untimed pairs; the overhead is the median
  of the pairs' differences. Both processes run torch on one thread: with two each, the
  OpenMP threads of one process spin-wait after its call while the other computes, on the same
  two cores, and the pairs measured that instead of the service (tenfold swings);
* soak: ``clients`` threads send ``requests`` requests each at once; the server's resident memory
  (/proc/PID/status VmRSS) is read when the first 50 have been answered and after the last.
"""
import io
import multiprocessing
import socket
import statistics
import threading
import time

import numpy as np
import soundfile as sf
import torch

from emotion_core.constants import SAMPLE_RATE

TEXT = "I really did not expect to see you here today."
WARMUP = 10  # untimed pairs first (oneDNN builds its kernels on first use)


def _serve(port, threads, ready):
    import logging

    import uvicorn

    from emotion_bench.latency import demo_size_recognizer
    from emotion_serve.app import create_app

    logging.getLogger("fairseq").setLevel(logging.WARNING)
    torch.set_num_threads(threads)
    app = create_app(demo_size_recognizer())
    ready.set()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def utterance_wav(seconds, seed=0):
    """A demo-size utterance (noise-modulated tone) as 16-bit WAV bytes, and its decoded samples."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wav = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)
    buffer = io.BytesIO()
    sf.write(buffer, wav, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    data = buffer.getvalue()
    samples, _ = sf.read(io.BytesIO(data), dtype="float32")
    return data, samples


def _rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def measure_service(threads=1, seconds=2.0, repeats=40, clients=8, requests=50):
    """Overhead (ms) of POST /predict over EmotionRecognizer.predict, and the server's memory under load."""
    import httpx

    from emotion_bench.latency import demo_size_recognizer

    torch.set_num_threads(threads)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=_serve, args=(port, threads, ready), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        ready.wait(300)
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        recognizer = demo_size_recognizer()
        data, samples = utterance_wav(seconds)
        files = {"audio": ("utterance.wav", data, "audio/wav")}
        api, http, differences = [], [], []
        with httpx.Client(timeout=60) as client:
            for i in range(WARMUP + repeats):
                start = time.perf_counter()
                expected = recognizer.predict(samples, TEXT, SAMPLE_RATE)
                api_s = time.perf_counter() - start
                start = time.perf_counter()
                response = client.post(f"{url}/predict", files=files, data={"text": TEXT})
                http_s = time.perf_counter() - start
                assert response.status_code == 200, response.text
                got = response.json()["prediction"]
                assert max(abs(got[k] - expected[k]) for k in got) < 1e-5, (got, expected)
                if i >= WARMUP:
                    api.append(api_s)
                    http.append(http_s)
                    differences.append(http_s - api_s)
        soak = _soak(url, server.pid, files, clients, requests)
    finally:
        server.terminate()
        server.join(30)
    return {"request": {"audio_s": seconds, "upload_bytes": len(data), "text": TEXT, "threads": threads},
            "api_median_ms": round(1000 * statistics.median(api), 2),
            "http_median_ms": round(1000 * statistics.median(http), 2),
            "overhead_median_ms": round(1000 * statistics.median(differences), 2),
            "overhead_of_medians_ms": round(1000 * (statistics.median(http) - statistics.median(api)), 2),
            "pairs": repeats, "soak": soak}


def _soak(url, pid, files, clients, requests):
    """``clients`` threads x ``requests`` POST /predict at once; errors and the server's RSS (MB)."""
    import httpx

    lock, done, errors, rss = threading.Lock(), [0], [], {}

    def client():
        with httpx.Client(timeout=120) as session:
            for _ in range(requests):
                try:
                    response = session.post(f"{url}/predict", files=files, data={"text": TEXT})
                    if response.status_code != 200:
                        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as err:
                    errors.append(repr(err))
                with lock:
                    done[0] += 1
                    if done[0] == 50:
                        rss["after_first_50_mb"] = round(_rss_mb(pid), 1)

    start = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    rss["after_all_mb"] = round(_rss_mb(pid), 1)
    health = httpx.get(f"{url}/health").json()["served"]
    return {"clients": clients, "requests_each": requests, "errors": len(errors), "first_error": errors[:1],
            **rss, "rss_growth": round(rss["after_all_mb"] / rss["after_first_50_mb"] - 1, 4),
            "requests_per_s": round(clients * requests / wall, 1), "batches": health["batches"],
            "largest_batch": health["largest_batch"], "requests_served": health["requests"]}
