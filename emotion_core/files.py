"""Files written for a user: atomically, after checking the destination, never over an input.

Every file the project writes goes through a temporary file in the destination's folder, renamed
over the destination only once complete (``os.replace`` is atomic on POSIX): a failed or killed run
leaves any earlier file as it was, and at most a hidden ``.NAME.*.tmp`` beside it, which the next
write to the same destination removes.
"""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

TMP_SUFFIX = ".tmp"


class OutputPathError(ValueError):
    """An output path that cannot be written, or that names an input of the same run."""


def check_output_path(path, inputs=(), what="output"):
    """Raise :class:`OutputPathError` unless ``path`` can receive a file: its folder exists, it is not a
    folder, and it is none of ``inputs`` (same file after resolving links). Returns ``Path(path)``."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise OutputPathError(f"{what} {path}: folder {path.parent} does not exist (create it first)")
    if not os.access(path.parent, os.W_OK):
        raise OutputPathError(f"{what} {path}: folder {path.parent} is not writable")
    return check_not_an_input(path, inputs, what)


def check_not_an_input(path, inputs, what="output"):
    """Raise :class:`OutputPathError` when ``path`` is one of ``inputs`` (after resolving links); returns ``Path(path)``."""
    path = Path(path)
    target = path.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == target:
            raise OutputPathError(f"{what} {path} is also an input of this run ({item}); "
                                  "writing it would destroy the input: choose another file")
    return path


def remove_stale_temporaries(path):
    """Remove the ``.NAME.*.tmp`` files that an interrupted write to ``path`` left beside it."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"):
        stale.unlink(missing_ok=True)


class AtomicFile:
    """A file written under a temporary name in its destination's folder and renamed over the
    destination by :meth:`commit`; :meth:`discard` (or a crash) leaves the destination untouched."""

    def __init__(self, path, mode="w", encoding="utf-8", newline=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=TMP_SUFFIX)
        text = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        self.file = os.fdopen(fd, mode, **text)

    def write(self, data):
        return self.file.write(data)

    def commit(self):
        """Flush, sync and rename over the destination."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self):
        """Forget what was written; the destination keeps its earlier content."""
        self.file.close()
        Path(self.tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path, mode="w", encoding="utf-8", newline=None):
    """``with atomic_output(p) as f: ...`` writes ``p`` completely or not at all.

    The file object writes to a temporary file in ``p``'s folder; on a clean exit it is flushed,
    synced and renamed over ``p``; on an exception it is removed and ``p`` is untouched.
    """
    out = AtomicFile(path, mode, encoding, newline)
    try:
        yield out.file
    except BaseException:
        out.discard()
        raise
    out.commit()


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_output(path) as f:
        f.write(text)


def atomic_write_lines(path, lines):
    """Write one line per item (newline-terminated) atomically."""
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))


def atomic_copy(src, dst):
    """Copy ``src`` to ``dst`` atomically (the bytes, as ``shutil.copyfile``); returns ``dst``."""
    with open(src, "rb") as source, atomic_output(dst, "wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    return dst
