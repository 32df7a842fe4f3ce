"""Datasets of one split of a prepared data directory (layout: notes in docs/model.md).

``DATA_DIR/{speech,text}/{split}.bin/.idx`` hold the binarized tokens (a speech-only directory,
prepared with ``--modalities speech``, has no ``text/``), ``DATA_DIR/audio/{split}.bin/.idx`` the
16 kHz audio (``--speech-input waveform``, :mod:`emotion_data.audio_store`), ``label/{split}.label``
one label per line (a class name, a score, or tab-separated scores of the dimensions named in
``labels.json``), ``ids/{split}.id`` one utterance id per line, all in the same order.
"""
import os

import numpy as np
import torch
from fairseq.data import (
    BaseWrapperDataset,
    FairseqDataset,
    IdDataset,
    NestedDictionaryDataset,
    NumSamplesDataset,
    PrependTokenDataset,
    RawLabelDataset,
    RightPadDataset,
    SortDataset,
    TruncateDataset,
    data_utils,
    indexed_dataset,
)

from emotion_data.audio_store import open_split, samples_as_float

MODALITIES = ("speech", "text")


def token_modalities(data_dir):
    """The modalities whose tokens a data directory holds: speech when it has ``speech/dict.txt`` (not
    with audio only), text unless it is speech-only (no ``text/``)."""
    held = {"speech": os.path.isfile(os.path.join(data_dir, "speech", "dict.txt")),
            "text": os.path.isdir(os.path.join(data_dir, "text"))}
    return tuple(m for m in MODALITIES if held[m])


def has_tokens(data_dir, modality, split):
    """Whether the data directory holds binarized tokens of ``modality`` for ``split``."""
    return indexed_dataset.infer_dataset_impl(os.path.join(data_dir, modality, split)) is not None


class AudioDataset(BaseWrapperDataset):
    """Rows of a split's stored audio as float32 samples in [-1, 1), at most ``max_samples`` each.

    ``sizes`` are the kept lengths (what a row costs a batch: ``--max-tokens`` counts samples);
    :meth:`collater` right-pads a batch with zeros to (B, S).
    """

    def __init__(self, store, max_samples=None):
        super().__init__(store)
        self.max_samples = max_samples
        self._sizes = store.sizes if max_samples is None else np.minimum(store.sizes, max_samples)

    @property
    def sizes(self):
        return self._sizes

    def __getitem__(self, index):
        return samples_as_float(self.dataset[index][: self.max_samples])  # (S_i,)

    def size(self, index):
        return int(self._sizes[index])

    def num_tokens(self, index):
        return int(self._sizes[index])

    def collater(self, samples):
        source = samples[0].new_zeros(len(samples), max(len(s) for s in samples))  # (B, S)
        for i, s in enumerate(samples):
            source[i, : len(s)] = s
        return source


class _RowSizes(FairseqDataset):
    """Each row's size (an int); subclasses say what a batch of sizes collates into."""

    def __init__(self, sizes):
        self.sizes = np.asarray(sizes)

    def __getitem__(self, index):
        return int(self.sizes[index])

    def __len__(self):
        return len(self.sizes)


class PaddingMaskDataset(_RowSizes):
    """A row's length; collated into the (B, S) padding mask of right-padded rows (True = padding)."""

    def collater(self, lengths):
        lengths = torch.tensor(lengths)
        return torch.arange(int(lengths.max()))[None, :] >= lengths[:, None]  # (B, S)


class TotalSizeDataset(_RowSizes):
    """A row's cost (its speech + text size); collated into the batch's sum (``ntokens``)."""

    def collater(self, sizes):
        return sum(sizes)


def load_audio(data_dir, split, max_samples=None):
    """The split's 16 kHz audio (:class:`AudioDataset`), each row kept to ``max_samples`` (the long-audio policy)."""
    return AudioDataset(open_split(data_dir, split), max_samples)


def load_tokens(data_dir, modality, split, dictionary, max_positions=None):
    """<s> + binarized tokens of one modality, truncated to ``max_positions`` (None: no limit)."""
    prefix = os.path.join(data_dir, modality, split)
    dataset = data_utils.load_indexed_dataset(prefix, dictionary) if dictionary is not None else None
    if dataset is None:
        how = " --speech-input tokens (or both): Speech-BERT reads vq-wav2vec tokens" if modality == "speech" else ""
        raise FileNotFoundError(
            f"missing {modality} tokens of split '{split}': {prefix}.bin/.idx not found "
            f"(prepare the data directory with scripts/prepare_data.py{how})")
    check_token_ids(dataset, dictionary, prefix)
    if max_positions is not None:
        dataset = TruncateDataset(dataset, max_positions - 1)  # room for the <s> prepended below
    return PrependTokenDataset(dataset, dictionary.bos())


def check_token_ids(dataset, dictionary, prefix):
    """Raise ValueError naming ``prefix.bin`` if a token id is beyond ``dictionary`` (binarized with another dict)."""
    top = max((int(dataset[i].max()) for i in range(len(dataset)) if dataset.sizes[i] > 0), default=-1)
    if top >= len(dictionary):
        raise ValueError(
            f"{prefix}.bin: token id {top} is beyond its dictionary ({len(dictionary)} symbols with <mask>): "
            "this split was binarized with another dict.txt; prepare the data directory again with the "
            "pretrained model's dictionary (scripts/prepare_data.py)")


def _read_lines(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"missing {what}: {path} not found (prepare the data directory "
                                "with scripts/prepare_data.py)")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def load_labels(data_dir, split, space):
    """Targets of a split, parsed from ``label/{split}.label`` by the label space; errors name the file and line."""
    path = os.path.join(data_dir, "label", f"{split}.label")
    return [space.parse(line, f"{path}:{i + 1}") for i, line in enumerate(_read_lines(path, f"labels of split '{split}'"))]


def load_ids(data_dir, split):
    """Utterance ids of a split, from ``ids/{split}.id``."""
    path = os.path.join(data_dir, "ids", f"{split}.id")
    return [line.strip() for line in _read_lines(path, f"utterance ids of split '{split}'")]


def build_split(inputs, labels, ids, pad, seed, where, feature_keys=None):
    """Nested dataset of a split, sorted by total length (ties shuffled) so batches have similar lengths.

    Batches of consecutive rows (fairseq's ``batch_by_size`` with ``--batch-size``/``--max-tokens``)
    are therefore length-grouped: little padding, and ``--max-tokens`` bounds the padded size, a row
    costing its speech size (tokens, or audio samples) plus its text tokens.

    Args:
        inputs: {"speech": dataset or None, "text": dataset or None}: token rows (1-D LongTensors
            starting with <s>), or for speech an :class:`AudioDataset` (float samples); None: not read.
        labels: parsed targets; ids: utterance ids (checked to have one entry per row).
        pad: {modality: pad index} of the token inputs.
        feature_keys: one int per row for the frozen-feature cache, put in ``net_input["feature_keys"]``
            (None: left out).
    """
    used = {m: d for m, d in inputs.items() if d is not None}
    n = len(ids)
    for name, size in [*((f"{m} rows", len(d)) for m, d in used.items()), ("labels", len(labels))]:
        if size != n:
            raise ValueError(f"{where}: {size} {name} but {n} utterance ids; the files of a split "
                             "must have one entry per utterance, in the same order")
    sizes = sum(np.asarray(d.sizes) for d in used.values())  # padded cost of a row in a batch
    net_input = {}
    for m, d in used.items():
        if isinstance(d, AudioDataset):
            net_input[f"{m}_source"] = d  # (B, S) float samples
            net_input[f"{m}_padding_mask"] = PaddingMaskDataset(d.sizes)  # (B, S) bool
        else:
            net_input[f"{m}_tokens"] = RightPadDataset(d, pad_idx=pad[m])
    if feature_keys is not None:
        net_input["feature_keys"] = RawLabelDataset(feature_keys)  # collated to a (B,) LongTensor
    dataset = NestedDictionaryDataset(
        {
            "id": IdDataset(),
            "net_input": net_input,
            "target": RawLabelDataset(labels),
            "nsentences": NumSamplesDataset(),
            "ntokens": TotalSizeDataset(sizes),
        },
        sizes=[sizes],
    )
    with data_utils.numpy_seed(seed):
        shuffle = np.random.permutation(n)
    return SortDataset(dataset, sort_order=[shuffle, sizes])
