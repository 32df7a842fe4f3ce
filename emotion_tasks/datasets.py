"""Datasets of one split of a prepared data directory (layout: notes in docs/model.md).

``DATA_DIR/{speech,text}/{split}.bin/.idx`` hold the binarized tokens (a speech-only directory,
prepared with ``--modalities speech``, has no ``text/``), ``label/{split}.label`` one
label per line (a class name, a score, or tab-separated scores of the dimensions named in
``labels.json``), ``ids/{split}.id`` one utterance id per line, all in the same order.
"""
import os

import numpy as np
from fairseq.data import (
    ConcatSentencesDataset,
    IdDataset,
    NestedDictionaryDataset,
    NumelDataset,
    NumSamplesDataset,
    PrependTokenDataset,
    RawLabelDataset,
    RightPadDataset,
    SortDataset,
    TruncateDataset,
    data_utils,
)

MODALITIES = ("speech", "text")


def data_modalities(data_dir):
    """The modalities a data directory holds: speech always, text unless it is speech-only (no ``text/``)."""
    return tuple(m for m in MODALITIES if m == "speech" or os.path.isdir(os.path.join(data_dir, m)))


def load_tokens(data_dir, modality, split, dictionary, max_positions=None):
    """<s> + binarized tokens of one modality, truncated to ``max_positions`` (None: no limit)."""
    prefix = os.path.join(data_dir, modality, split)
    dataset = data_utils.load_indexed_dataset(prefix, dictionary)
    if dataset is None:
        raise FileNotFoundError(
            f"missing {modality} tokens of split '{split}': {prefix}.bin/.idx not found "
            "(prepare the data directory with scripts/prepare_data.py)")
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


def build_split(tokens, labels, ids, pad, seed, where, feature_keys=None):
    """Nested dataset of a split, sorted by total length (ties shuffled) so batches have similar lengths.

    Batches of consecutive rows (fairseq's ``batch_by_size`` with ``--batch-size``/``--max-tokens``)
    are therefore length-grouped: little padding, and ``--max-tokens`` bounds the padded size.

    Args:
        tokens: {"speech": dataset, "text": dataset} (speech alone for a speech-only directory), each
            item a 1-D LongTensor starting with <s>.
        labels: parsed targets; ids: utterance ids (checked to have one entry per row).
        pad: {modality: pad index} of the modalities in ``tokens``.
        feature_keys: one int per row for the frozen-feature cache, put in ``net_input["feature_keys"]``
            (None: left out).
    """
    n = len(tokens["speech"])
    others = [(f"{m} tokens", len(tokens[m])) for m in tokens if m != "speech"]
    for name, size in [*others, ("labels", len(labels)), ("ids", len(ids))]:
        if size != n:
            raise ValueError(f"{where}: {size} {name} but {n} speech token rows; the files of a split "
                             "must have one entry per utterance, in the same order")
    sizes = sum(t.sizes for t in tokens.values())  # padded cost of a row in a batch
    net_input = {f"{m}_tokens": RightPadDataset(t, pad_idx=pad[m]) for m, t in tokens.items()}
    if feature_keys is not None:
        net_input["feature_keys"] = RawLabelDataset(feature_keys)  # collated to a (B,) LongTensor
    dataset = NestedDictionaryDataset(
        {
            "id": IdDataset(),
            "net_input": net_input,
            "target": RawLabelDataset(labels),
            "nsentences": NumSamplesDataset(),
            "ntokens": NumelDataset(ConcatSentencesDataset(*tokens.values()), reduce=True),
        },
        sizes=[sizes],
    )
    with data_utils.numpy_seed(seed):
        shuffle = np.random.permutation(n)
    return SortDataset(dataset, sort_order=[shuffle, sizes])
