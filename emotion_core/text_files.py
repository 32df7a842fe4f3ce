"""Whole text files read as untrusted input: UTF-8 (a byte-order mark dropped), or an error naming the file."""
from pathlib import Path


def read_utf8(path, error=ValueError, hint=""):
    """The text of ``path``; ``error(f"{path}: not valid UTF-8 (...){hint}")`` when it is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start}){hint}") from None
