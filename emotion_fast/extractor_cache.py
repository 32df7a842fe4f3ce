"""Cache of a frozen convolutional feature extractor's outputs, for ``--cache-extractor-features``.

wav2vec 2.0, HuBERT and data2vec audio fine-tune with their convolutional feature extractor frozen
(``feature_grad_mult`` 0, the default here): its output for an utterance never changes, yet fairseq
recomputes it at every epoch, about a fifth of a base-size training step on a CPU. With the cache
each utterance's output is computed once, alone (its own samples, no padding: what the recognizer
computes), and later epochs read it back. Entries are keyed by the task's feature keys (split and
sample id, :func:`emotion_fast.feature_cache.feature_keys`) and hold (C, T_i) in the dtype they
were computed in (bf16 under autocast): 512 x 50 values per second of audio, 51 kB in bf16 (IEMOCAP's
5531 four-class utterances, about 7 h: 1.3 GB), on the device that computed them.

In a padded batch each row's cached frames are followed by zeros up to the batch's frame count.
Where fairseq's extractor runs on the padded batch instead, the first block's group norm of the
base releases spans the padding and HuBERT counts the frames its last real samples reach as real,
so a padded row's features differ slightly between the two; rows without padding are equal.
"""
from contextlib import contextmanager

import torch
from fairseq.models.wav2vec.wav2vec2 import ConvFeatureExtractionModel


class CachedFeatureExtractor(ConvFeatureExtractionModel):
    """fairseq's extractor (same parameters); while :meth:`rows` names a batch's rows, their outputs come from the cache."""

    def forward(self, x):
        """(B, S) samples -> (B, C, T) features; cached per row when the rows are named."""
        if self.batch_rows is None:
            return super().forward(x)
        keys, lengths = self.batch_rows
        dtype = self._compute_dtype(x)
        rows = [self._row(key, x[i:i + 1, :length], dtype) for i, (key, length) in enumerate(zip(keys, lengths))]
        out = rows[0].new_zeros(len(rows), rows[0].size(0), self.frames(x.size(1)))
        for i, row in enumerate(rows):
            out[i, :, :row.size(1)] = row
        return out

    def _row(self, key, source, dtype):
        entry = self.entries.get(key)
        if entry is None or entry.dtype != dtype:  # new, or computed under another precision
            self.misses += 1
            entry = self.entries[key] = super().forward(source)[0]
        else:
            self.hits += 1
        return entry

    def _compute_dtype(self, x):
        device = x.device.type
        if torch.is_autocast_enabled(device):
            return torch.get_autocast_dtype(device)
        return self.conv_layers[0][0].weight.dtype

    def frames(self, samples):
        """Frames the extractor makes of ``samples`` samples."""
        for block in self.conv_layers:
            conv = block[0]
            samples = (samples - conv.kernel_size[0]) // conv.stride[0] + 1
        return samples

    @contextmanager
    def rows(self, keys, lengths):
        """Within the block, the extractor's input rows are the utterances ``keys`` with ``lengths`` real samples."""
        self.batch_rows = (keys.tolist(), lengths.tolist())
        try:
            yield
        finally:
            self.batch_rows = None

    def clear(self):
        """Forget every entry (weights changed)."""
        self.entries.clear()


def use_extractor_cache(extractor):
    """Switch fairseq's ``ConvFeatureExtractionModel`` to :class:`CachedFeatureExtractor` (no new parameters)."""
    if type(extractor) is not ConvFeatureExtractionModel:
        raise TypeError(f"cannot cache the outputs of a {type(extractor).__name__}")
    extractor.__class__ = CachedFeatureExtractor
    extractor.entries, extractor.batch_rows = {}, None
    extractor.hits = extractor.misses = 0
    return extractor
