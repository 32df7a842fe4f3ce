"""A small synthetic emotional speech corpus in the project's manifest format (see docs/demo_corpus.md).

Each utterance carries its emotion through the wording, through the prosody, or through both, so
that neither modality alone can classify every utterance and a fused model can beat both:

* ``text`` cue: emotional wording spoken with the speaker's neutral prosody;
* ``speech`` cue: neutral wording spoken with emotional prosody (pitch level and range, speaking
  rate, loudness, pauses and, for anger, a harsher voice);
* ``both``: emotional wording spoken with emotional prosody.

Ambiguity without label noise: a quarter of the emotional wordings are *weak* phrases shared by two
emotions (e.g. "I can't believe" for happy and angry), and the strength of emotional prosody varies
per utterance (``intensity``), so a weak one is close to neutral. Neutral utterances use neutral
wording (sometimes a weak phrase shared with an emotion) and neutral prosody.

Speech is synthesised with espeak-ng (``engine="espeak"``) when it is installed, otherwise with a
pure-numpy harmonic "vowel" synthesiser (``engine="numpy"``) that renders the same prosody.
Everything is seeded: the same options give byte-identical files.

>>> build_corpus("demo/corpus", num_utterances=440, seed=0)  # doctest: +SKIP
PosixPath('demo/corpus/manifest.tsv')
"""
import json
import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from emotion_core.constants import SAMPLE_RATE

logger = logging.getLogger(__name__)

EMOTIONS = ("neutral", "happy", "sad", "angry")  # the corpus's emotions: IEMOCAP's four
NUM_SESSIONS = 5  # Ses01..Ses05, each with one female and one male speaker (as IEMOCAP)
MANIFEST_COLUMNS = ("id", "audio", "start", "end", "text", "label", "speaker", "session", "sentiment")
CUES = ("text", "speech", "both")  # which modality carries a non-neutral emotion
WEAK_WORDING_RATE = 0.25  # share of emotional wordings that use a phrase shared by two emotions
NEUTRAL_WEAK_RATE = 0.15  # share of neutral utterances that use a phrase shared with an emotion
INTENSITY_RANGE = (0.45, 1.0)  # strength of emotional prosody, uniform per utterance
NEUTRAL_ZERO_RATE = 0.8  # share of neutral utterances whose sentiment is exactly 0: about a fifth of the corpus,
#                         as CMU-MOSEI's test set (1,025 of 4,662 segments), so both scoring protocols differ

# ---- wording: "<phrase> <object>", at most five words so that audio stays about 1-2.5 s ----------
OBJECTS = ("the car", "the garden", "the letter", "the kitchen", "the report", "the house", "the dog",
           "the tickets", "the photos", "the window", "the present", "the boxes", "the piano", "the door")
NEUTRAL_PHRASES = ("I checked", "we moved", "she opened", "he painted", "they cleaned", "please bring",
                   "I saw", "we need", "he fixed", "she found", "they sold", "you can take")
STRONG_PHRASES = {  # wording that names one emotion
    "happy": ("I love", "I adore", "I enjoyed", "hooray for", "so glad about", "great news about"),
    "sad": ("I miss", "we lost", "I cried over", "so sorry about", "I grieve for", "we never found"),
    "angry": ("I hate", "stop touching", "who ruined", "I despise", "I am sick of", "get rid of"),
}
WEAK_PHRASES = {  # wording shared by two emotions: ambiguous on its own
    ("happy", "angry"): ("I can't believe", "oh my god,"),
    ("sad", "angry"): ("not again,", "why take"),
    ("happy", "sad"): ("I keep remembering", "I dream about"),
    ("neutral", "happy"): ("did you see",),
    ("neutral", "sad"): ("I think about",),
    ("neutral", "angry"): ("what about",),
}
VALENCE = {"neutral": 0.0, "happy": 1.0, "sad": -1.0, "angry": -1.15}  # sign and scale of sentiment
LEXICAL_SENTIMENT = {"neutral": 0.0, "weak": 0.5, "strong": 1.2}  # contribution of the wording

# ---- prosody at full intensity; an utterance interpolates between neutral and these ------------
@dataclass(frozen=True)
class Prosody:
    """Prosodic settings, relative to a speaker's own neutral voice."""

    pitch: float  # shift of espeak-ng's -p (0-99) pitch level
    range: float  # pitch range in percent of the voice's normal range
    rate: float  # words per minute (espeak-ng -s)
    amplitude: float  # espeak-ng -a (0-200), before the speaker's scale
    gap: float  # extra pause between words, in 10 ms units (espeak-ng -g)
    drive: float  # tanh overdrive amount, 0 = clean voice (a harsher voice quality for anger)


PROSODY = {
    "neutral": Prosody(pitch=0, range=60, rate=165, amplitude=90, gap=0, drive=0.0),
    "happy": Prosody(pitch=22, range=220, rate=195, amplitude=140, gap=0, drive=0.0),
    "sad": Prosody(pitch=-18, range=10, rate=115, amplitude=45, gap=5, drive=0.0),
    "angry": Prosody(pitch=8, range=90, rate=210, amplitude=180, gap=0, drive=3.0),
}


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: IEMOCAP-like id (session + gender) and a voice of its own."""

    id: str  # e.g. "Ses01F"
    session: str  # e.g. "Ses01"
    gender: str  # "F" or "M"
    voice: str  # espeak-ng voice with variant, e.g. "en-us+f1"
    pitch: int  # espeak-ng -p of the neutral voice
    rate_scale: float  # personal speaking-rate factor
    amplitude_scale: float  # personal loudness factor


@dataclass(frozen=True)
class Utterance:
    """The plan of one utterance: what is said, how, and its labels."""

    id: str  # e.g. "Ses01F_demo_F003"
    speaker: str
    session: str
    label: str  # an emotion name from EMOTIONS
    cue: str  # "text", "speech", "both" or "none" (neutral)
    wording: str  # "neutral", "weak" or "strong"
    intensity: float  # 0 = neutral prosody, 1 = full emotional prosody
    text: str
    sentiment: float  # in [-3, 3]


def make_speakers(seed=0):
    """The 10 speakers: sessions Ses01..Ses05, one female and one male each."""
    rng = np.random.default_rng([seed, 1])
    speakers = []
    for s in range(1, NUM_SESSIONS + 1):
        for gender, variants, base in (("F", "f", 62), ("M", "m", 38)):
            speakers.append(Speaker(
                id=f"Ses{s:02d}{gender}", session=f"Ses{s:02d}", gender=gender,
                voice=f"en-us+{variants}{s}", pitch=int(base + rng.integers(-6, 7)),
                rate_scale=float(np.round(rng.uniform(0.94, 1.06), 3)),
                amplitude_scale=float(np.round(rng.uniform(0.9, 1.1), 3))))
    return speakers


def _sentence(phrase, obj, exclaim):
    """Capitalised sentence from a phrase and an object."""
    text = f"{phrase} {obj}{'!' if exclaim else '.'}"
    return text[0].upper() + text[1:]


def _wording(label, wording, rng):
    """Text for an emotion and a wording kind ("neutral", "weak", "strong")."""
    obj = OBJECTS[rng.integers(len(OBJECTS))]
    if wording == "neutral":
        return _sentence(NEUTRAL_PHRASES[rng.integers(len(NEUTRAL_PHRASES))], obj, False)
    if wording == "strong":
        phrases = STRONG_PHRASES[label]
        return _sentence(phrases[rng.integers(len(phrases))], obj, label != "sad" and rng.random() < 0.5)
    pool = [p for pair, ps in WEAK_PHRASES.items() if label in pair for p in ps]
    return _sentence(pool[rng.integers(len(pool))], obj, False)


def _sentiment(label, wording, intensity, rng, zero_rng):
    """Sentiment in [-3, 3]: the emotion's valence, stronger with each cue, plus a little spread; most
    neutral utterances are labelled exactly 0 (drawn from ``zero_rng``, leaving ``rng``'s stream as it was)."""
    if label == "neutral":
        spread = float(np.round(rng.uniform(-0.4, 0.4), 2))
        return 0.0 if zero_rng.random() < NEUTRAL_ZERO_RATE else spread
    magnitude = 0.6 + LEXICAL_SENTIMENT[wording] + intensity + rng.uniform(-0.2, 0.2)
    return float(np.round(np.clip(VALENCE[label] * magnitude, -3.0, 3.0), 2))


def plan_corpus(num_utterances=440, seed=0):
    """Plan every utterance (text, cue, prosody intensity, labels) without synthesising audio.

    Utterances are spread evenly over the 10 speakers and, per speaker, over the four emotions;
    the cues of non-neutral utterances cycle through text/speech/both. Returns (speakers, utterances).
    """
    speakers = make_speakers(seed)
    per_speaker = num_utterances // len(speakers)
    assert per_speaker >= len(EMOTIONS), f"num_utterances must be at least {4 * len(speakers)}"
    utterances = []
    for k, spk in enumerate(speakers):
        rng = np.random.default_rng([seed, 2, k])
        zero_rng = np.random.default_rng([seed, 3, k])
        labels = [EMOTIONS[i % len(EMOTIONS)] for i in range(per_speaker)]
        labels = [labels[i] for i in rng.permutation(per_speaker)]
        seen = {e: 0 for e in EMOTIONS}
        for i, label in enumerate(labels):
            if label == "neutral":
                cue = "none"
                wording = "weak" if rng.random() < NEUTRAL_WEAK_RATE else "neutral"
                intensity = 0.0
            else:
                cue = CUES[(seen[label] + k + EMOTIONS.index(label)) % len(CUES)]
                wording = "neutral" if cue == "speech" else (
                    "weak" if rng.random() < WEAK_WORDING_RATE else "strong")
                intensity = 0.0 if cue == "text" else float(np.round(rng.uniform(*INTENSITY_RANGE), 3))
            seen[label] += 1
            text = _wording(label, wording, rng)
            utterances.append(Utterance(
                id=f"{spk.id}_demo_{spk.gender}{i:03d}", speaker=spk.id, session=spk.session,
                label=label, cue=cue, wording=wording, intensity=intensity, text=text,
                sentiment=_sentiment(label, wording, intensity, rng, zero_rng)))
    return speakers, utterances


def _prosody(utt, speaker):
    """Concrete synthesis settings of an utterance: the speaker's neutral voice moved towards its emotion."""
    neutral, target, w = PROSODY["neutral"], PROSODY[utt.label], utt.intensity

    def mix(field):
        return (1 - w) * getattr(neutral, field) + w * getattr(target, field)

    return dict(pitch=int(np.clip(round(speaker.pitch + mix("pitch")), 0, 99)),
                range=int(round(mix("range"))),
                rate=int(round(mix("rate") * speaker.rate_scale)),
                amplitude=int(np.clip(round(mix("amplitude") * speaker.amplitude_scale), 1, 200)),
                gap=int(round(mix("gap"))), drive=float(mix("drive")))


def espeak_available():
    """Whether the espeak-ng program is on PATH."""
    return shutil.which("espeak-ng") is not None


def synthesize_espeak(text, voice, p):
    """Speak ``text`` with espeak-ng and settings ``p`` (see :func:`_prosody`): float32 16 kHz."""
    ssml = f'<speak><prosody range="{p["range"]}%">{text}</prosody></speak>'
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "out.wav"
        cmd = ["espeak-ng", "-m", "-z", "-v", voice, "-p", str(p["pitch"]), "-s", str(p["rate"]),
               "-a", str(p["amplitude"]), "-g", str(p["gap"]), "-w", str(wav_path), ssml]
        subprocess.run(cmd, check=True, capture_output=True)
        wav, sr = sf.read(str(wav_path), dtype="float32")
    return soxr.resample(wav, sr, SAMPLE_RATE).astype(np.float32) if sr != SAMPLE_RATE else wav


# vowel letter -> first two formants (Hz) of the numpy synthesiser
FORMANTS = {"a": (730, 1090), "e": (530, 1840), "i": (290, 2250), "o": (570, 840), "u": (320, 900),
            "y": (400, 1900)}


def _vowel(f0, dur, vowel):
    """One voiced syllable: harmonics of a pitch contour ``f0`` (Hz per sample) shaped by formants."""
    n = len(f0)
    t = np.arange(n) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    f1, f2 = FORMANTS.get(vowel, FORMANTS["a"])
    voiced = np.zeros(n)
    for h in range(1, int(5000 / f0.mean()) + 1):
        freq = h * f0.mean()
        gain = (1 + 3 * np.exp(-((freq - f1) / 120) ** 2) + 2 * np.exp(-((freq - f2) / 180) ** 2)) / h
        voiced += gain * np.sin(h * phase)
    return voiced * np.sin(np.pi * np.minimum(t / dur, 1.0)) ** 0.6  # rise-fall energy per syllable


def synthesize_numpy(text, gender, p, rng):
    """Pure-numpy fallback: one harmonic vowel per syllable, a consonant noise burst before each.

    Renders the same prosody as espeak-ng: pitch level (from -p) and range (declination plus an
    accent per syllable), rate (syllable durations), loudness (amplitude) and pauses (gap).
    Returns float32 16 kHz.
    """
    base_f0 = (170.0 if gender == "F" else 100.0) * 2 ** ((p["pitch"] - 50) / 40)  # Hz
    range_st = 4.0 * p["range"] / 100  # semitones of pitch movement
    words = [re.findall(r"[aeiouy]+", w) or ["a"] for w in re.findall(r"[a-z']+", text.lower())]
    n_syl = sum(len(w) for w in words)
    pieces, j = [], 0
    for vowels in words:
        dur = 0.85 * 60.0 / p["rate"] / len(vowels)  # seconds per syllable
        t = np.arange(int(dur * SAMPLE_RATE)) / SAMPLE_RATE
        for vowel in vowels:
            semitones = range_st * (0.5 - j / max(n_syl - 1, 1)) + 0.5 * range_st * np.sin(np.pi * t / dur)
            burst = int(0.04 * SAMPLE_RATE)
            pieces.append(np.diff(rng.standard_normal(burst + 1)) * np.hanning(burst) * 0.15)
            pieces.append(0.12 * _vowel(base_f0 * 2 ** (semitones / 12), dur, vowel[0]))
            j += 1
        pieces.append(np.zeros(int((0.03 + 0.01 * p["gap"]) * SAMPLE_RATE)))  # pause between words
    return (np.concatenate(pieces) * p["amplitude"] / 100.0).astype(np.float32)


def _finish(wav, drive, rng):
    """Trim silence, apply the voice-quality overdrive, add a faint seeded noise floor, clip."""
    loud = np.flatnonzero(np.abs(wav) > 0.01)
    if len(loud):
        pad = int(0.05 * SAMPLE_RATE)
        wav = wav[max(loud[0] - pad, 0):loud[-1] + pad]
    if drive > 0:
        peak = float(np.abs(wav).max())
        k = 1.0 + drive
        wav = np.tanh(k * wav / peak) / np.tanh(k) * peak
    wav = wav + 3e-4 * rng.standard_normal(len(wav))
    return np.clip(wav, -1.0, 1.0).astype(np.float32)


def resolve_engine(engine="auto"):
    """"auto" -> "espeak" when espeak-ng is installed, else "numpy"; a forced engine is checked."""
    if engine == "auto":
        return "espeak" if espeak_available() else "numpy"
    if engine == "espeak" and not espeak_available():
        raise RuntimeError("engine 'espeak' requested but espeak-ng is not installed "
                           "(apt-get install espeak-ng, or use engine 'numpy')")
    assert engine in ("espeak", "numpy"), f"unknown synthesis engine {engine!r}: use auto, espeak or numpy"
    return engine


def build_corpus(out_dir, num_utterances=440, seed=0, engine="auto"):
    """Synthesise the corpus into ``out_dir``: ``wav/<id>.wav`` files, ``manifest.tsv``, ``corpus.json``.

    The manifest's ``audio`` column holds paths relative to the manifest's folder; ``start`` and
    ``end`` are empty (whole files); ``label`` is an emotion name; ``sentiment`` a float in [-3, 3].
    ``corpus.json`` records the options, the engine used and each utterance's cue and prosody.
    Returns the manifest path.
    """
    out_dir = Path(out_dir)
    (out_dir / "wav").mkdir(parents=True, exist_ok=True)
    engine = resolve_engine(engine)
    speakers, utterances = plan_corpus(num_utterances, seed)
    by_id = {s.id: s for s in speakers}
    rows, details = [], []
    for n, utt in enumerate(utterances):
        spk = by_id[utt.speaker]
        p = _prosody(utt, spk)
        rng = np.random.default_rng([seed, 3, n])
        if engine == "espeak":
            wav = synthesize_espeak(utt.text, spk.voice, p)
        else:
            wav = synthesize_numpy(utt.text, spk.gender, p, rng)
        wav = _finish(wav, p["drive"], rng)
        rel = f"wav/{utt.id}.wav"
        sf.write(str(out_dir / rel), wav, SAMPLE_RATE, subtype="PCM_16")
        assert "\t" not in utt.text and "\n" not in utt.text, f"text of {utt.id} must be one TSV field"
        rows.append([utt.id, rel, "", "", utt.text, utt.label, utt.speaker, utt.session, f"{utt.sentiment:.2f}"])
        details.append({**asdict(utt), "prosody": p, "duration": round(len(wav) / SAMPLE_RATE, 3)})
    manifest = out_dir / "manifest.tsv"
    manifest.write_text("\n".join("\t".join(r) for r in [list(MANIFEST_COLUMNS), *rows]) + "\n")
    info = {"num_utterances": len(utterances), "seed": seed, "engine": engine,
            "speakers": [asdict(s) for s in speakers], "utterances": details}
    (out_dir / "corpus.json").write_text(json.dumps(info, indent=1))
    durations = [d["duration"] for d in details]
    logger.info("corpus: %d utterances (%s engine), %.1f-%.1f s each, %.1f min in all -> %s",
                len(rows), engine, min(durations), max(durations), sum(durations) / 60, manifest)
    return manifest


def read_manifest(path):
    """Rows of a corpus manifest as dicts (column name -> string)."""
    lines = Path(path).read_text().rstrip("\n").split("\n")
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]
