"""One worker thread owns the model and serves every request, in batches of what arrived together.

Request handlers :meth:`Batcher.submit` an utterance (audio array, text) and wait on the returned
future; the worker takes every job waiting, encodes each (a job whose input is bad gets its
ValueError), and predicts the rest in one :meth:`EmotionRecognizer.predict_encoded` call (length-
sorted batches). Timeline segments go through the same queue, so a long recording does not stop
other requests from being served between its batches.
"""
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)
_STOP = object()


@dataclass
class Job:
    audio: object  # float32 array or None
    text: object  # str or None
    sample_rate: object  # Hz of the array, or None
    explain: bool
    future: Future = field(default_factory=Future)


class Batcher:
    """The single worker thread in front of a recognizer; ``stats`` counts requests and batches."""

    def __init__(self, recognizer):
        self.recognizer = recognizer
        self.jobs = queue.Queue()
        self.stats = {"requests": 0, "batches": 0, "largest_batch": 0}
        self.thread = threading.Thread(target=self._run, name="model-worker", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.jobs.put(_STOP)
        self.thread.join()

    def submit(self, audio, text, sample_rate, explain=False):
        """A future of ``predict(audio, text, sample_rate, explain)``'s result (or its ValueError)."""
        job = Job(audio, text, sample_rate, explain)
        self.jobs.put(job)
        return job.future

    def _run(self):
        while True:
            first = self.jobs.get()
            if first is _STOP:
                return
            jobs, stop = [first], False
            while True:  # everything that arrived meanwhile joins this batch
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                jobs.append(job)
            self._serve(jobs)
            if stop:
                return

    def _serve(self, jobs):
        self.stats["requests"] += len(jobs)
        self.stats["batches"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(jobs))
        for explain in (False, True):
            group = [j for j in jobs if j.explain == explain]
            encoded, ready = [], []
            for job in group:
                try:
                    encoded.append(self.recognizer.encode(job.audio, job.text, job.sample_rate))
                    ready.append(job)
                except ValueError as err:
                    job.future.set_exception(err)
                except Exception as err:  # never let one request kill the worker
                    logger.exception("encoding failed")
                    job.future.set_exception(err)
            if not ready:
                continue
            try:
                results = self.recognizer.predict_encoded(encoded, explain)
            except Exception as err:
                logger.exception("prediction failed")
                for job in ready:
                    job.future.set_exception(err)
                continue
            for job, result in zip(ready, results):
                job.future.set_result(result)
