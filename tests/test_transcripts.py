"""Timed transcripts (emotion_inference/transcripts.py): SubRip, WebVTT and JSON, words placed in time, errors."""
import json

import pytest

from emotion_inference.transcripts import TranscriptError, decode_transcript, parse_transcript, read_transcript

SRT = """1
00:00:01,000 --> 00:00:03,000
Hello there,
my friend.

2
00:00:05,500 --> 00:00:06,500
<i>Bye</i> &amp; see you.
"""

VTT = """WEBVTT - a header text

NOTE a comment block, skipped whole
00:00:09.000 --> 00:00:10.000
ignored words

intro
00:01.000 --> 00:03.000 align:start position:10%
<v Ann>Hello there,</v>
my friend.

00:00:05.500 --> 00:00:06.500
Bye &amp; see you.
"""


def test_srt_and_vtt_give_the_same_words():
    srt = parse_transcript(SRT, "srt", "a.srt")
    vtt = parse_transcript(VTT, "vtt", "a.vtt")
    assert [w.text for w in srt.words] == ["Hello", "there,", "my", "friend.", "Bye", "&", "see", "you."]
    assert [(w.text, round(w.start, 3), round(w.end, 3)) for w in srt.words] == \
        [(w.text, round(w.start, 3), round(w.end, 3)) for w in vtt.words]
    assert srt.text_between(0.0, 4.0) == "Hello there, my friend."
    assert srt.text_between(4.0, 10.0) == "Bye & see you."
    assert srt.text_between(3.0, 5.0) == ""


def test_words_are_spread_over_their_cue_by_characters():
    t = parse_transcript("1\n00:00:00,000 --> 00:00:02,000\naa bb\n", "srt", "x.srt")
    (a, b) = t.words
    assert (a.start, a.end, b.start, b.end) == (0.0, 0.8, 1.2, 2.0)  # "aa bb": characters 0-2 and 3-5 of 5
    assert t.text_between(0.0, 1.0) == "aa" and t.text_between(1.0, 2.0) == "bb"


def test_json_cues_and_word_times():
    cues = {"segments": [{"start": 0.0, "end": 2.0, "text": " one two"},
                         {"start": 3.0, "end": 5.0, "text": "three four",
                          "words": [{"start": 3.0, "end": 3.2, "word": " three"},
                                    {"start": 4.8, "end": 5.0, "word": " four"}]}]}
    t = decode_transcript(json.dumps(cues).encode(), "w.json")
    assert t.text_between(0, 10) == "one two three four"
    assert t.text_between(3.0, 4.0) == "three" and t.text_between(4.0, 5.0) == "four"  # the words' own times
    assert decode_transcript(json.dumps(cues["segments"]).encode(), "list.json").text_between(0, 10) == \
        "one two three four"


@pytest.mark.parametrize("text, fmt, message", [
    ("1\n00:00:03,000 --> 00:00:01,000\nbackwards\n", "srt", r"x:2: the span 3.0..1.0 s"),
    ("1\n00:00:01,000 --> 00:00:75,000\nbad\n", "srt", r"x:2: minutes and seconds must be below 60"),
    ("just words, no times\n", "srt", "x: no timed cue found"),
    ("00:01.000 --> 00:02.000\nhi\n", "vtt", "x: a WebVTT file starts with 'WEBVTT'"),
    ("[{\"start\": 0, \"end\": \"2\", \"text\": \"hi\"}]", "json", "x: cue 0: start and end must be finite"),
    ("[{\"start\": 0, \"end\": 1e999, \"text\": \"hi\"}]", "json", "x: cue 0: start and end must be finite"),
    ("[{\"start\": 0, \"end\": 1, \"text\": 3}]", "json", "x: cue 0: text must be a string"),
    ("[{\"start\": 0, \"end\": 1, \"text\": \"a\", \"words\": [{\"start\": 0}]}]", "json", r"x: cue 0, word 0"),
    ("{\"text\": \"no cues\"}", "json", "x: expected a list of cues"),
    ("{not json", "json", "x: invalid JSON"),
])
def test_bad_transcripts_name_the_file_and_place(text, fmt, message):
    with pytest.raises(TranscriptError, match=message):
        parse_transcript(text, fmt, "x")


def test_files_by_suffix_and_bytes_by_content(tmp_path):
    (tmp_path / "a.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "a.vtt").write_text(VTT, encoding="utf-8")
    (tmp_path / "a.txt").write_text(SRT, encoding="utf-8")
    assert read_transcript(tmp_path / "a.srt").text_between(0, 4) == "Hello there, my friend."
    assert read_transcript(tmp_path / "a.vtt").text_between(0, 4) == "Hello there, my friend."
    with pytest.raises(TranscriptError, match="a.txt: a transcript must be .srt, .vtt or .json"):
        read_transcript(tmp_path / "a.txt")
    with pytest.raises(TranscriptError, match="missing.srt: file not found"):
        read_transcript(tmp_path / "missing.srt")
    assert decode_transcript(VTT.encode(), "upload").text_between(4, 7) == "Bye & see you."  # sniffed: WEBVTT
    with pytest.raises(TranscriptError, match="upload: not UTF-8"):
        decode_transcript(b"\xff\xfe1\n", "upload")
