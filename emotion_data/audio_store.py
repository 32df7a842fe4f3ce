"""The 16 kHz mono audio of a data directory's splits, decoded and resampled once, read without decoding.

``emotion-prepare --speech-input waveform`` (or ``both``) writes, per split::

    DATA_DIR/audio/{split}.bin   every utterance's samples, one after another, as int16 (x 32768)
    DATA_DIR/audio/{split}.idx   fairseq's MMapIndexedDataset index: the dtype, each utterance's
                                 sample count (its length, for batching) and its offset in .bin

in the row order of ``label/{split}.label`` and ``ids/{split}.id``. It is fairseq's own
memory-mapped indexed format (``fairseq.data.indexed_dataset``, as ``fairseq-preprocess
--dataset-impl mmap`` writes token ids), so the task reads an utterance as a slice of a mapped
file: no audio decoding, no resampling, no per-file open. int16 holds 16-bit recordings exactly
(IEMOCAP, CMU-MOSI/MOSEI are 16-bit PCM); resampled audio is rounded to the nearest step and
samples beyond [-1, 1) are clipped (counted in the report).
"""
import multiprocessing
import os
from pathlib import Path

import numpy as np
import torch
from fairseq.data.indexed_dataset import MMapIndexedDataset, MMapIndexedDatasetBuilder

from emotion_core.manifest import Problem

AUDIO_DIR = "audio"  # DATA_DIR/audio/{split}.bin/.idx
SCALE = 32768.0  # int16 sample = round(float sample x SCALE)


def to_int16(wav):
    """Float samples in [-1, 1) -> (int16 array, number of samples clipped to the int16 range)."""
    scaled = np.rint(np.asarray(wav, dtype=np.float64) * SCALE)
    clipped = int(np.count_nonzero((scaled < -SCALE) | (scaled > SCALE - 1)))
    return np.clip(scaled, -SCALE, SCALE - 1).astype(np.int16), clipped


def audio_prefix(data_dir, split):
    """``DATA_DIR/audio/{split}``: the path of the split's .bin/.idx without extension."""
    return Path(data_dir) / AUDIO_DIR / split


def open_split(data_dir, split):
    """The split's stored audio (a fairseq MMapIndexedDataset of int16 rows; ``.sizes`` = sample counts).

    Raises FileNotFoundError naming the missing files and how to make them.
    """
    prefix = audio_prefix(data_dir, split)
    missing = [str(prefix) + ext for ext in (".bin", ".idx") if not os.path.isfile(str(prefix) + ext)]
    if missing:
        raise FileNotFoundError(
            f"missing 16 kHz audio of split '{split}': {', '.join(missing)} not found. A wav2vec 2.0 / HuBERT / "
            "data2vec speech encoder reads audio: prepare the data directory with scripts/prepare_data.py "
            "--speech-input waveform (or both)")
    return MMapIndexedDataset(str(prefix))


def samples_as_float(row):
    """A stored row (int16 values in any integer tensor) -> float32 samples in [-1, 1)."""
    return row.to(torch.float32) / SCALE


# ----------------------------------------------------------------------------------------- writing
def _load(item):
    """(id, audio, start, end, max samples) -> a record with the int16 samples, or a dict with ``problem``."""
    from emotion_data.audio import AudioError, load_audio_with_info

    uid, audio, start, end, max_samples = item
    try:
        wav, info = load_audio_with_info(audio, start, end)
    except AudioError as err:
        return {"id": uid, "file": err.path, "problem": err.problem}
    samples, clipped = to_int16(wav[:max_samples])
    return {"id": uid, "samples": samples, "length": len(wav), "clipped": clipped,
            "sample_rate": info.sample_rate, "channels": info.channels}


def write_splits(work_dir, utterances_by_split, max_samples, workers=1):
    """Read, convert and write each split's audio into ``work_dir/{split}.bin/.idx``, rows in the given order.

    Audio is read as data preparation reads it (:func:`emotion_data.audio.load_audio_with_info`:
    cut, downmixed, resampled to 16 kHz) by ``workers`` processes, and kept to ``max_samples``.
    An utterance that cannot be read is left out of its split's file and returned as a problem.
    Returns ``(records by id: length (before truncation), clipped, sample_rate, channels; problems)``.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    records, problems = {}, []
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        for split, utterances in utterances_by_split.items():
            if not utterances:
                continue
            items = [(u.id, u.audio, u.start, u.end, max_samples) for u in utterances]
            results = pool.imap(_load, items, chunksize=4) if pool else map(_load, items)
            builder = MMapIndexedDatasetBuilder(str(work_dir / f"{split}.bin"), dtype=np.int16)
            for r in results:  # in order: the rows follow the split's utterance order
                if "problem" in r:
                    problems.append(Problem(r["id"], r["file"], r["problem"]))
                    continue
                builder.add_item(torch.from_numpy(r.pop("samples")))
                records[r["id"]] = r
            builder.finalize(str(work_dir / f"{split}.idx"))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return records, problems


def commit_splits(work_dir, data_dir, splits):
    """Move the written ``splits`` from ``work_dir`` into ``DATA_DIR/audio/`` (other splits' old files removed)."""
    target = Path(data_dir) / AUDIO_DIR
    target.mkdir(parents=True, exist_ok=True)
    for split in splits:
        for ext in (".bin", ".idx"):
            src = Path(work_dir) / f"{split}{ext}"
            if src.is_file():
                os.replace(src, target / f"{split}{ext}")
            else:  # a split that is empty now must not keep an older run's rows
                (target / f"{split}{ext}").unlink(missing_ok=True)
