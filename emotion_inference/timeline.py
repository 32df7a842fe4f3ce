"""Emotion over time of a recording longer than an utterance (``EmotionRecognizer.timeline``, ``--timeline``).

1. voice activity (:mod:`.vad`) over the whole recording, streamed in blocks, gives speech regions;
2. each region becomes one segment, or, when longer than ``max_segment_s``, equal windows of at
   most ``max_segment_s`` that overlap by exactly ``overlap_s`` (:func:`cut_regions`);
3. each segment is read from the recording (:class:`.long_audio.LongAudio`), given the words
   that the timed transcript places in it (:mod:`.transcripts`), and predicted, a few segments at a
   time: the audio, tokens and activations of one batch are all that is held.

Rows: ``start``, ``end`` (seconds), ``text``, ``prediction`` (as :meth:`EmotionRecognizer.predict`),
``decision``, ``error`` ("" or why this segment has no prediction, e.g. no transcript word falls
in it) and, with ``explain=True``, ``explanation``. The header states the segmentation.
"""
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Optional

from emotion_core.constants import FRAME_SAMPLES, MAX_SPEECH_FRAMES, SAMPLE_RATE
from emotion_inference.long_audio import LongAudio
from emotion_inference.vad import VAD_CHOICES, VadSettings, load_vad

MAX_UTTERANCE_S = MAX_SPEECH_FRAMES * FRAME_SAMPLES / SAMPLE_RATE  # 20.46 s: Speech-BERT's positions
BATCH_SEGMENTS = 8  # segments read and predicted together


@dataclass(frozen=True)
class Segmentation:
    """How a recording is cut into segments (stated in every timeline's header)."""

    max_segment_s: float = 10.0  # longer speech regions are cut into windows of at most this
    overlap_s: float = 1.0  # consecutive windows of one region overlap by exactly this
    vad: str = "auto"  # auto (silero when installed), silero or energy
    vad_settings: VadSettings = field(default_factory=VadSettings)

    def __post_init__(self):
        if self.vad not in VAD_CHOICES:
            raise ValueError(f"vad must be one of {VAD_CHOICES}, got {self.vad!r}")
        if not 1.0 <= self.max_segment_s <= MAX_UTTERANCE_S:
            raise ValueError(f"max_segment_s must lie in [1, {MAX_UTTERANCE_S}] s (Speech-BERT's positions), "
                             f"got {self.max_segment_s}")
        if not 0.0 <= self.overlap_s <= self.max_segment_s / 2:
            raise ValueError(f"overlap_s must lie in [0, max_segment_s / 2], got {self.overlap_s}")


def cut_regions(regions, max_segment_s, overlap_s):
    """(start, end) segments: a region as it is, or n equal windows <= max_segment_s overlapping by overlap_s."""
    segments = []
    for r in regions:
        if r.duration <= max_segment_s:
            segments.append((r.start, r.end))
            continue
        n = math.ceil((r.duration - overlap_s) / (max_segment_s - overlap_s))  # windows needed
        length = (r.duration + (n - 1) * overlap_s) / n  # <= max_segment_s
        step = length - overlap_s
        segments.extend((r.start + i * step, min(r.end, r.start + i * step + length)) for i in range(n))
    return segments


@dataclass
class Timeline:
    """A timeline being computed: ``header`` (known at once) and ``rows`` (an iterator, one row per segment)."""

    header: dict
    rows: Iterator[dict]


def timeline(recognizer, audio, transcript=None, sample_rate=None, segmentation=Segmentation(), explain=False,
             predict: Optional[Callable] = None, detector=None, name=None):
    """The :class:`Timeline` of ``audio`` (a path, an open binary file, or an array with ``sample_rate``).

    ``transcript``: a :class:`~.transcripts.Transcript` (required by models that read text).
    ``predict``: ``items -> results`` for a list of ``(wav16k, text)`` (default:
    ``recognizer.predict_batch``; the server passes its batching queue); a result may be an exception.
    ``detector``: a voice activity detector to reuse (default: ``load_vad(segmentation.vad)``);
    ``name``: how the audio is named in the header and in errors.
    Voice activity runs here, before the header is returned; segments are predicted as ``rows`` is read.
    """
    if "text" in recognizer.modalities and transcript is None:
        raise ValueError("this model reads text: a timeline needs the recording's timed transcript "
                         "(a .srt, .vtt or .json file), or a speech-only model")
    source = LongAudio(audio, sample_rate, name)
    detector = detector or load_vad(segmentation.vad, segmentation.vad_settings)
    regions = detector.regions(source.blocks())
    segments = cut_regions(regions, segmentation.max_segment_s, segmentation.overlap_s)
    space = recognizer.label_space
    header = {"audio": source.name, "duration_s": round(source.duration, 3), "sample_rate": source.sample_rate,
              "transcript": None if transcript is None else transcript.name, "vad": detector.name,
              "speech_regions": len(regions), "segments": len(segments),
              "segmentation": {"max_segment_s": segmentation.max_segment_s, "overlap_s": segmentation.overlap_s,
                               **asdict(detector.settings)},
              "label_space": space.describe(), "value_names": space.value_names(),
              "probabilities": space.has_probabilities}
    if predict is None:
        def predict(items):
            return recognizer.predict_batch([(wav, text, SAMPLE_RATE) for wav, text in items], explain)
    return Timeline(header, _rows(recognizer, source, transcript, segments, explain, predict))


def _rows(recognizer, source, transcript, segments, explain, predict):
    needs_text, needs_audio = "text" in recognizer.modalities, "speech" in recognizer.modalities
    for first in range(0, len(segments), BATCH_SEGMENTS):
        rows, items, slots = [], [], []
        for start, end in segments[first:first + BATCH_SEGMENTS]:
            text = "" if transcript is None else transcript.text_between(start, end)
            row = {"start": round(start, 3), "end": round(end, 3), "text": text, "prediction": None,
                   "decision": None, "error": ""}
            if needs_text and not text:
                row["error"] = "no transcript word falls in this segment"
            else:
                items.append((source.segment(start, end) if needs_audio else None, text or None))
                slots.append(row)
            rows.append(row)
        for row, result in zip(slots, predict(items) if items else []):
            if isinstance(result, Exception):
                row["error"] = getattr(result, "message", str(result))
                continue
            prediction = result["prediction"] if explain else result
            row["prediction"], row["decision"] = prediction, recognizer.decisions(prediction)
            if explain:
                row["explanation"] = result["explanation"]
        yield from rows
