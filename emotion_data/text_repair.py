"""Repair transcripts whose characters went through the wrong encoding (mojibake).

Two kinds are repaired, both seen in MELD's CSV files:

* a Windows-1252 byte read as Latin-1: a C1 control character such as ``"\\x92"`` stands for the
  character Windows-1252 gives that byte (``"\\x92"`` -> ``"’"``, ``"\\x85"`` -> ``"…"``);
* UTF-8 bytes read as Windows-1252 (or Latin-1): ``"â€™"`` -> ``"’"``, ``"Ã©"`` -> ``"é"``.

>>> repair_mojibake("Oh my God, you\\x92re here!")
('Oh my God, you’re here!', 1)
>>> repair_mojibake("Itâ€™s fine â€” really.")
('It’s fine — really.', 2)
>>> repair_mojibake("Plain text, café and ’ stay.")
('Plain text, café and ’ stay.', 0)
"""


def _byte_of(char):
    """The byte a character came from when bytes were read as Windows-1252 or Latin-1; None if none."""
    if ord(char) < 0x100:
        return ord(char)
    try:
        return char.encode("cp1252")[0]
    except UnicodeEncodeError:
        return None


def _utf8_length(lead):
    """Bytes of the UTF-8 sequence a lead byte starts (0 for a byte that starts none)."""
    return 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0


def _utf8_at(text, i):
    """``(character, length)`` when ``text[i:]`` starts with a UTF-8 sequence read as single bytes, else None."""
    lead = _byte_of(text[i])
    n = _utf8_length(lead) if lead is not None else 0
    if not n or i + n > len(text):
        return None
    raw = [lead] + [_byte_of(c) for c in text[i + 1:i + n]]
    if any(b is None or not 0x80 <= b <= 0xBF for b in raw[1:]):
        return None
    try:
        return bytes(raw).decode("utf-8"), n
    except UnicodeDecodeError:
        return None


def repair_mojibake(text):
    """``(repaired text, number of repaired characters)``; text without mojibake comes back unchanged."""
    out, repairs, i = [], 0, 0
    while i < len(text):
        decoded = _utf8_at(text, i)
        if decoded:
            out.append(decoded[0])
            i += decoded[1]
            repairs += 1
            continue
        char = text[i]
        if 0x80 <= ord(char) <= 0x9F:  # a C1 control: a Windows-1252 byte read as Latin-1
            try:
                char = bytes([ord(char)]).decode("cp1252")
                repairs += 1
            except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: no Windows-1252 character
                pass
        out.append(char)
        i += 1
    return "".join(out), repairs
