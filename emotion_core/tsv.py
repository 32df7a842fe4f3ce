"""Tab-separated files with a header row, read line by line with an error per bad line.

A bad line (invalid UTF-8, a wrong number of cells) becomes a :class:`Row` holding its error, so
that callers report every problem with its file and line instead of stopping at the first one. A
UTF-8 byte-order mark before the header is accepted; a file that is not UTF-8 at all is reported
line by line.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional


class TsvError(ValueError):
    """The file as a whole cannot be read (missing, empty, no usable header)."""


@dataclass
class Row:
    """One data line: its number (1-based, the header is line 1), its cells by column, and its error (the
    cells of a line with the wrong number of cells are kept, to name the row; they are not to be used)."""

    line: int
    cells: Dict[str, str] = field(default_factory=dict)
    error: Optional[str] = None


def read_tsv(path, required=()):
    """``(header, rows)`` of a TSV file with a header row; empty lines are skipped.

    ``required``: columns the header must name (TsvError otherwise). A line with another number of
    cells than the header is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise TsvError(f"{path}: file not found" if not path.exists() else f"{path}: not a regular file")
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines and raw_lines[0].startswith(b"\xef\xbb\xbf"):
        raw_lines[0] = raw_lines[0][3:]  # UTF-8 byte-order mark
    lines = [line[:-1] if line.endswith(b"\r") else line for line in raw_lines]
    if not lines or not lines[0].strip():
        raise TsvError(f"{path}: empty file (expected a header row naming the columns)")
    try:
        header = lines[0].decode("utf-8").split("\t")
    except UnicodeDecodeError as err:
        raise TsvError(f"{path}:1: the header is not valid UTF-8 ({err.reason} at byte {err.start})") from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise TsvError(f"{path}: header lacks column(s) {', '.join(missing)} (found: {', '.join(header)})")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise TsvError(f"{path}: header names column(s) {', '.join(duplicated)} more than once")
    rows: List[Row] = []
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            rows.append(Row(number, error=f"not valid UTF-8 ({err.reason} at byte {err.start}); "
                                          "save the file as UTF-8"))
            continue
        cells = text.split("\t")
        if len(cells) != len(header):
            rows.append(Row(number, dict(zip(header, (c.strip() for c in cells))),  # kept to name the row
                            error=f"{len(cells)} cells, the header has {len(header)} (tabs inside a cell?)"))
            continue
        rows.append(Row(number, dict(zip(header, (c.strip() for c in cells)))))
    return header, rows
