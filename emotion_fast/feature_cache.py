"""Cache of frozen encoders' outputs, for ``--freeze-ssl --cache-frozen-features`` runs.

With the pretrained encoders frozen (no gradients, always in eval mode, so no dropout) their
output for an utterance never changes: the cache runs them once per utterance and afterwards only
the fusion and the head compute. Entries are keyed by a *feature key* per row, which the task puts
in ``net_input["feature_keys"]``: ``split_code << 32 | dataset index`` (see :func:`feature_keys`),
so the key names the split and the sample ``id``. The cache is not part of the model's state dict;
loading weights into the model clears it (``SSLEmotionModel.load_state_dict``).

Each entry holds, per modality, what the fusion reads: the CLS vector (C,) for the shallow fusion,
or the unpadded sequence (T_i, C) for the co-attention (about 1.4 MB per 450-token utterance of
Speech-BERT features in fp32: IEMOCAP's 5531 utterances need about 8 GB, in the device's memory).
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
        cls_only: keep only features[:, 0] (enough for the shallow fusion); otherwise the whole
            unpadded sequence of each utterance.
    """

    def __init__(self, cls_only):
        self.cls_only = cls_only
        self.entries = {}  # feature key -> {modality: (C,) or (T_i, C) tensor}
        self.hits = self.misses = 0

    def clear(self):
        """Forget every entry (weights changed)."""
        self.entries.clear()

    def __len__(self):
        return len(self.entries)

    @torch.no_grad()
    def encode(self, encoders, tokens, padding_idx, keys):
        """{modality: (features (B, T, C), padding mask (B, T))} as the encoders would give, from the cache.

        Rows whose key is not cached yet are encoded (as one sub-batch, extra padding trimmed) and stored.
        With ``cls_only`` the features are (B, 1, C): only position 0 (the CLS vector) is returned.
        """
        keys = keys.tolist()
        missing = [i for i, k in enumerate(keys) if k not in self.entries]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            self._fill(encoders, tokens, padding_idx, keys, missing)
        encoded = {}
        for m in encoders:
            rows = [self.entries[k][m] for k in keys]
            if self.cls_only:
                features = torch.stack(rows).unsqueeze(1)  # (B, 1, C)
                encoded[m] = (features, features.new_zeros(features.shape[:2], dtype=torch.bool))
            else:
                pad_mask = tokens[m].eq(padding_idx[m])  # (B, T)
                features = rows[0].new_zeros(len(rows), pad_mask.size(1), rows[0].size(-1))  # (B, T, C)
                for i, row in enumerate(rows):
                    features[i, : row.size(0)] = row
                encoded[m] = (features, pad_mask)
        return encoded

    def _fill(self, encoders, tokens, padding_idx, keys, missing):
        index = torch.tensor(missing, device=tokens[next(iter(encoders))].device)
        new = {}
        for m, enc in encoders.items():
            sub = tokens[m].index_select(0, index)  # (b, T)
            lengths = sub.ne(padding_idx[m]).sum(1)  # right-padded rows: valid prefix lengths
            sub = sub[:, : int(lengths.max())]
            features = enc(sub, cls_only=self.cls_only)  # (b, T', C) or (b, 1, C)
            new[m] = [features[j, 0].clone() if self.cls_only else features[j, : int(n)].clone()
                      for j, n in enumerate(lengths.tolist())]
        for j, i in enumerate(missing):
            self.entries[keys[i]] = {m: new[m][j] for m in encoders}
