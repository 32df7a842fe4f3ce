"""Timed transcripts (.srt, .vtt, .json) and the words that fall inside a stretch of time.

Formats:

* SubRip ``.srt``: blocks of an optional number, ``00:00:01,000 --> 00:00:03,500`` and text lines;
* WebVTT ``.vtt``: ``WEBVTT`` first, cues of ``[hh:]mm:ss.mmm --> [hh:]mm:ss.mmm [settings]`` and
  text lines (cue identifiers, NOTE, STYLE and REGION blocks, tags such as ``<v Ann>`` and
  entities are handled);
* ``.json``: a list of cues, or an object whose ``segments`` is one (Whisper's output), each cue
  ``{"start": s, "end": s, "text": "..."}`` with optional timed ``"words"``:
  ``[{"start": s, "end": s, "word": "..."}]``.

A cue without word times spreads its words over its span in proportion to their characters. The
text of a stretch ``start..end`` is every word whose middle lies in it, in time order. Every file is
untrusted: errors name the file and the line or cue.

>>> t = parse_transcript("1\\n00:00:00,000 --> 00:00:02,000\\nHello there.\\n", "srt", "x.srt")
>>> t.text_between(0.0, 1.0), t.text_between(1.0, 2.0)
('Hello', 'there.')
"""
import bisect
import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List

FORMATS = ("srt", "vtt", "json")
MAX_BYTES = 20 * 2 ** 20  # a transcript larger than this is refused (about 3 million words)
_SRT_TIME = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*$")
_VTT_STAMP = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})\.(\d{3})"
_VTT_TIME = re.compile(rf"^\s*{_VTT_STAMP}\s+-->\s+{_VTT_STAMP}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")
_VTT_BLOCKS = ("NOTE", "STYLE", "REGION")  # WebVTT blocks that hold no cue


class TranscriptError(ValueError):
    """A transcript that cannot be used; the message names the file and the place."""


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


def _seconds(h, m, s, ms, where):
    h, m, s = int(h or 0), int(m), int(s)
    if m > 59 or s > 59:
        raise TranscriptError(f"{where}: minutes and seconds must be below 60")
    return h * 3600 + m * 60 + s + int(ms.ljust(3, "0")) / 1000


def _check_span(start, end, where):
    if not (isinstance(start, (int, float)) and isinstance(end, (int, float))) or isinstance(start, bool) \
            or isinstance(end, bool) or not (math.isfinite(start) and math.isfinite(end)):
        raise TranscriptError(f"{where}: start and end must be finite numbers of seconds")
    if start < 0 or end <= start:
        raise TranscriptError(f"{where}: the span {start}..{end} s must start at 0 or later and end after it starts")
    return float(start), float(end)


def _spread(start, end, text):
    """Words of a cue without word times, spread over start..end in proportion to their characters."""
    matches = list(re.finditer(r"\S+", text))
    length = max(1, len(text))
    return [Word(start + (end - start) * m.start() / length, start + (end - start) * m.end() / length, m.group())
            for m in matches]


def _cues_from_blocks(text, timing, where, skip_first=False):
    """(start, end, text) of the timed blocks of a SubRip or WebVTT file."""
    lines, cues, i = text.splitlines(), [], 0
    if skip_first:
        i = 1
    while i < len(lines):
        if lines[i].split(" ")[0] in _VTT_BLOCKS and (i == 0 or not lines[i - 1].strip()):
            while i < len(lines) and lines[i].strip():  # a comment, style or region block: no cue
                i += 1
            continue
        match = timing.match(lines[i])
        if not match:
            i += 1
            continue
        g, line_no = match.groups(), i + 1
        half = len(g) // 2
        start = _seconds(*g[:half], where=f"{where}:{line_no}")
        end = _seconds(*g[half:], where=f"{where}:{line_no}")
        _check_span(start, end, f"{where}:{line_no}")
        body = []
        i += 1
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        cues.append((start, end, html.unescape(_TAG.sub("", " ".join(body))).strip()))
    return cues


def _words_of_json(obj, where):
    cues = obj.get("segments") if isinstance(obj, dict) else obj
    if not isinstance(cues, list):
        raise TranscriptError(f"{where}: expected a list of cues or an object with 'segments'")
    words = []
    for n, cue in enumerate(cues):
        at = f"{where}: cue {n}"
        if not isinstance(cue, dict):
            raise TranscriptError(f"{at}: expected an object with start, end and text")
        start, end = _check_span(cue.get("start"), cue.get("end"), at)
        text = cue.get("text", "")
        if not isinstance(text, str):
            raise TranscriptError(f"{at}: text must be a string")
        timed = cue.get("words")
        if timed is None:
            words.extend(_spread(start, end, text))
            continue
        if not isinstance(timed, list):
            raise TranscriptError(f"{at}: words must be a list")
        for k, w in enumerate(timed):
            token = w.get("word", w.get("text")) if isinstance(w, dict) else None
            if not isinstance(token, str):
                raise TranscriptError(f"{at}, word {k}: expected {{start, end, word}}")
            words.append(Word(*_check_span(w.get("start"), w.get("end"), f"{at}, word {k}"), token.strip()))
    return words


class Transcript:
    """Timed words of a recording's transcript."""

    def __init__(self, words: List[Word], name="transcript"):
        self.name = name
        self.words = sorted((w for w in words if w.text), key=lambda w: (w.start + w.end) / 2)
        self._middles = [(w.start + w.end) / 2 for w in self.words]

    def text_between(self, start, end):
        """The words whose middle lies in ``start <= t < end``, joined by spaces ('' for none)."""
        lo, hi = bisect.bisect_left(self._middles, start), bisect.bisect_left(self._middles, end)
        return " ".join(w.text for w in self.words[lo:hi])


def parse_transcript(text, fmt, name="transcript"):
    """A :class:`Transcript` from the text of a transcript file of format ``fmt`` (srt, vtt or json)."""
    if fmt == "json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise TranscriptError(f"{name}: invalid JSON ({err})") from None
        return Transcript(_words_of_json(obj, name), name)
    if fmt == "vtt":
        if not text.lstrip("\ufeff").startswith("WEBVTT"):
            raise TranscriptError(f"{name}: a WebVTT file starts with 'WEBVTT'")
        cues = _cues_from_blocks(text, _VTT_TIME, name, skip_first=True)
    elif fmt == "srt":
        cues = _cues_from_blocks(text.lstrip("\ufeff"), _SRT_TIME, name)
    else:
        raise TranscriptError(f"{name}: unknown transcript format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if text.strip() and not cues:
        raise TranscriptError(f"{name}: no timed cue found (expected lines such as "
                              f"{'00:00:01,000 --> 00:00:02,500' if fmt == 'srt' else '00:01.000 --> 00:02.500'})")
    return Transcript([w for start, end, body in cues for w in _spread(start, end, body)], name)


def sniff_format(text):
    """The format of a transcript's text: ``vtt`` (WEBVTT first), ``json`` (an object or a list), else ``srt``."""
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    return "json" if head[:1] in ("{", "[") else "srt"


def decode_transcript(data: bytes, name, fmt=None):
    """A :class:`Transcript` from a file's bytes (UTF-8); ``fmt`` None: sniffed from the text."""
    if len(data) > MAX_BYTES:
        raise TranscriptError(f"{name}: {len(data)} bytes, more than the {MAX_BYTES} a transcript may hold")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TranscriptError(f"{name}: not UTF-8 text ({err})") from None
    return parse_transcript(text, fmt or sniff_format(text), name)


def read_transcript(path):
    """A :class:`Transcript` from a ``.srt``, ``.vtt`` or ``.json`` file (the suffix names the format)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise TranscriptError(f"{path}: a transcript must be .srt, .vtt or .json")
    if not path.is_file():
        raise TranscriptError(f"{path}: file not found")
    if path.stat().st_size > MAX_BYTES:
        raise TranscriptError(f"{path}: larger than the {MAX_BYTES} bytes a transcript may hold")
    return decode_transcript(path.read_bytes(), str(path), fmt)
