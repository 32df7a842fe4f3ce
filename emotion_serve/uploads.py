"""Uploaded files, checked at the edge: audio decoded from the bytes sent (never a path), transcripts parsed."""
import io

import soundfile as sf

from emotion_inference.transcripts import TranscriptError, decode_transcript
from emotion_serve.errors import ApiError

NAME_CHARS = 120  # of a client's file name, kept for messages only


def client_name(upload, default):
    """The file name a client gave (for messages; never used as a path)."""
    name = (upload.filename or "").strip()
    return repr(name[:NAME_CHARS]) if name else default


def _why(err):
    """libsndfile's reason, without the in-memory file's repr that soundfile puts before it."""
    return getattr(err, "error_string", None) or str(err)


def decode_audio(data: bytes, name):
    """(samples (n, channels) float32, sample rate) of an uploaded audio file; 400 when it is not audio."""
    if not data:
        raise ApiError(400, f"audio {name} is empty")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError or TypeError
        raise ApiError(400, f"audio {name} could not be decoded ({_why(err)}); send WAV, FLAC or OGG") from None
    if not len(samples):
        raise ApiError(400, f"audio {name} holds no sample")
    return samples, rate


def open_audio(upload, name):
    """The uploaded audio's file object, checked to be decodable (400 otherwise), rewound."""
    upload.file.seek(0)
    try:
        info = sf.info(upload.file)
    except Exception as err:
        raise ApiError(400, f"audio {name} could not be decoded ({_why(err)}); send WAV, FLAC or OGG") from None
    if info.frames <= 0:
        raise ApiError(400, f"audio {name} holds no sample")
    upload.file.seek(0)
    return upload.file


def parse_transcript_upload(data: bytes, name):
    """A Transcript from uploaded bytes (format sniffed from the text); 400 naming the problem."""
    try:
        return decode_transcript(data, f"transcript {name}")
    except TranscriptError as err:
        raise ApiError(400, str(err)) from None
