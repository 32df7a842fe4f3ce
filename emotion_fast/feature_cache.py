"""Cache of frozen encoders' outputs, for ``--freeze-ssl --cache-frozen-features`` runs.

With the pretrained encoders frozen (no gradients, always in eval mode, so no dropout) their
output for an utterance never changes: the cache runs them once per utterance and afterwards only
the fusion and the head compute. Entries are keyed by a *feature key* per row, which the task puts
in ``net_input["feature_keys"]``: ``split_code << 32 | dataset index`` (see :func:`feature_keys`),
so the key names the split and the sample ``id``. The cache is not part of the model's state dict;
loading weights into the model clears it (``SSLEmotionModel.load_state_dict``).

Each entry holds, per modality, what the fusion reads: the summary vector (C,) for the shallow
fusion, and also the unpadded sequence (T_i, C) for the co-attention (about 1.4 MB per 450-token
utterance of Speech-BERT features in fp32: IEMOCAP's 5531 utterances need about 8 GB, in the
device's memory). The encoders are any with ``encode(*inputs, summary_only)`` and
``input_lengths(*inputs)`` over right-padded (B, L, ...) inputs (token ids, or waveform samples
and their padding mask).
"""
import torch

KEY_BITS = 32  # dataset index bits of a feature key


def feature_keys(split_code, size):
    """Feature keys of the rows 0..size-1 of the split numbered ``split_code``."""
    assert size < 2 ** KEY_BITS, "split too large for feature keys"
    return [(split_code << KEY_BITS) | i for i in range(size)]


class FrozenFeatureCache:
    """Per-utterance outputs of frozen encoders.

    Args:
        summary_only: keep only the summary vectors (enough for the shallow fusion); otherwise
            also the whole unpadded sequence of each utterance.
    """

    def __init__(self, summary_only):
        self.summary_only = summary_only
        self.entries = {}  # feature key -> {modality: (C,) summary, or ((C,), (T_i, C)) summary and sequence}
        self.hits = self.misses = 0

    def clear(self):
        """Forget every entry (weights changed)."""
        self.entries.clear()

    def __len__(self):
        return len(self.entries)

    @torch.no_grad()
    def encode(self, encoders, inputs, keys):
        """{modality: (summary (B, C), sequence (B, T, C), padding mask (B, T))} as the encoders give, from the cache.

        ``inputs``: {modality: the tuple of tensors its encoder reads}. Rows whose key is not cached
        yet are encoded (as one sub-batch, extra padding trimmed) and stored. With ``summary_only``
        the sequence and its mask are None.
        """
        keys = keys.tolist()
        missing = [i for i, k in enumerate(keys) if k not in self.entries]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            self._fill(encoders, inputs, keys, missing)
        encoded = {}
        for m in encoders:
            rows = [self.entries[k][m] for k in keys]
            if self.summary_only:
                encoded[m] = (torch.stack(rows), None, None)
                continue
            summary = torch.stack([s for s, _ in rows])  # (B, C)
            lengths = torch.tensor([len(seq) for _, seq in rows], device=summary.device)
            sequence = summary.new_zeros(len(rows), int(lengths.max()), summary.size(-1))  # (B, T, C)
            for i, (_, seq) in enumerate(rows):
                sequence[i, : len(seq)] = seq
            padding = torch.arange(sequence.size(1), device=summary.device)[None, :] >= lengths[:, None]  # (B, T)
            encoded[m] = (summary, sequence, padding)
        return encoded

    def _fill(self, encoders, inputs, keys, missing):
        new = {}
        for m, enc in encoders.items():
            index = torch.tensor(missing, device=inputs[m][0].device)
            sub = [t.index_select(0, index) for t in inputs[m]]  # (b, L, ...) each
            width = int(enc.input_lengths(*sub).max())  # right-padded rows: trim the others' padding
            summary, sequence, padding = enc.encode(*[t[:, :width] for t in sub], summary_only=self.summary_only)
            new[m] = [summary[j].clone() if self.summary_only else (summary[j].clone(), sequence[j][~padding[j]].clone())
                      for j in range(len(missing))]
        for j, i in enumerate(missing):
            self.entries[keys[i]] = {m: new[m][j] for m in encoders}
