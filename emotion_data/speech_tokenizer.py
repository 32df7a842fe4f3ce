"""Discrete speech tokens from a legacy vq-wav2vec k-means checkpoint, as Speech-BERT reads them.

Every 10 ms frame becomes one token ``"g0-g1"``: the k-means codeword index of each of the two
groups, exactly as fairseq's ``examples/wav2vec/vq-wav2vec_featurize.py`` writes them.

The nearest-codeword search is exact but faster than fairseq's ``KmeansVectorQuantizer``, which
materialises a (vars x batch x frames x groups x dim) difference tensor (650 MB per 10 s with the
release's 320 x 256 codebook): :func:`nearest_codewords` ranks codewords by a float64 matmul
distance, then recomputes fairseq's own float32 distance on a short list that provably holds
fairseq's choice (frames where that cannot be shown fall back to the full fairseq computation).

>>> tok = SpeechTokenizer.from_checkpoint("pretrained/vq-wav2vec_kmeans.pt")  # doctest: +SKIP
>>> tok.tokenize(load_audio("utt.wav"))[:3]  # doctest: +SKIP
['12-205', '12-205', '97-31']
"""
import torch
from fairseq import checkpoint_utils
from fairseq.models.wav2vec import Wav2VecModel

from emotion_models import safe_checkpoint

MAX_SAMPLES = 1_300_000  # vq-wav2vec_featurize.py's --max-size: longer audio is cut in equal chunks
SHORTLIST = 8  # codewords per frame and group whose exact fairseq distance is recomputed


def _fairseq_distances(ze, codebook):
    """fairseq's float32 L2 distances, same operations: ze (N, G, D), codebook (V, G, D) -> (N, G, V)."""
    return (ze.unsqueeze(0) - codebook.unsqueeze(1)).norm(dim=-1, p=2).permute(1, 2, 0)


def nearest_codewords(ze, codebook, shortlist=SHORTLIST):
    """Index of the nearest codeword per frame and group, identical to fairseq's ``forward_idx``.

    ze: (N, G, D) projected features; codebook: (V, G, D) (``expand_embedding``). Returns (N, G) long.
    Ties go to the lowest index, as ``argmin`` does in fairseq.
    """
    n, groups, dim = ze.shape
    num_vars = codebook.shape[0]
    k = min(shortlist, num_vars)
    z64, e64 = ze.double().transpose(0, 1), codebook.double().transpose(0, 1)  # (G, N, D), (G, V, D)
    z_sq, e_sq = (z64 * z64).sum(-1), (e64 * e64).sum(-1)  # (G, N), (G, V)
    approx = (z_sq.unsqueeze(-1) - 2 * z64 @ e64.transpose(1, 2) + e_sq.unsqueeze(1)).clamp_min(0)
    approx = approx.transpose(0, 1)  # (N, G, V) squared distances, float64
    top_val, top_idx = approx.topk(k, dim=-1, largest=False, sorted=True)  # (N, G, k)

    # fairseq's float32 norm of D terms is within a relative `rel` of the true distance, and the
    # float64 squared distance within `slack` of the true one, so fairseq's argmin has an
    # approximate squared distance <= bound; the short list is safe where its last value exceeds it.
    rel = 2 * (dim + 4) * 2.0 ** -24
    slack = 1e-9 * (z_sq.t().unsqueeze(-1) + e_sq.max(-1).values.view(1, groups, 1))  # (N, G, 1)
    bound = (top_val[..., :1] + slack) * ((1 + rel) / (1 - rel)) ** 2 + slack
    safe = (top_val[..., -1:] > bound).squeeze(-1) | (k == num_vars)  # (N, G)

    candidates, _ = top_idx.sort(dim=-1)  # index order, so that ties go to the lowest index
    cand_codes = codebook.transpose(0, 1)[torch.arange(groups).view(1, groups, 1), candidates]  # (N, G, k, D)
    dist = (ze.unsqueeze(2) - cand_codes).norm(dim=-1, p=2)  # (N, G, k), fairseq's float32 distances
    idx = candidates.gather(-1, dist.argmin(-1, keepdim=True)).squeeze(-1)  # (N, G)

    rows = (~safe).any(-1).nonzero().squeeze(-1)
    if rows.numel():
        idx[rows] = _fairseq_distances(ze[rows], codebook).argmin(-1)
    return idx


class SpeechTokenizer:
    """vq-wav2vec k-means tokenizer: 16 kHz float audio -> one ``"g0-g1"`` token per 10 ms frame."""

    def __init__(self, model: Wav2VecModel, device="cpu"):
        assert model.vector_quantizer is not None and hasattr(model.vector_quantizer, "expand_embedding"), \
            "the checkpoint is not a k-means vq-wav2vec model (vq_type must be 'kmeans')"
        self.model = model.eval().float().to(device)
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, path, device="cpu"):
        """Load a legacy (argparse ``args``) or new (``cfg``) vq-wav2vec k-means fairseq checkpoint."""
        safe_checkpoint.install()
        state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
        model = Wav2VecModel.build_model(state["cfg"].model, task=None)
        model.load_state_dict(state["model"], strict=True)
        return cls(model, device)

    @property
    def num_vars(self):
        """Codewords per group (320 in the release)."""
        return self.model.vector_quantizer.num_vars

    def _quantize(self, features):
        """(1, C, T) features -> (T, G) indices, identical to ``vector_quantizer.forward_idx``."""
        vq = self.model.vector_quantizer
        ze = vq.projection(features)  # (1, C, T), the same call as fairseq's
        ze = ze.view(vq.groups, vq.var_dim, -1).permute(2, 0, 1).contiguous()  # (T, G, D)
        return nearest_codewords(ze, vq.expand_embedding.detach())

    def indices(self, wav):
        """k-means indices of ``wav`` (1-D float array at 16 kHz): LongTensor (frames, groups)."""
        x = torch.as_tensor(wav, dtype=torch.float32).view(1, -1).to(self.device)  # (1, samples)
        div = 1  # as vq-wav2vec_featurize.py: equal chunks of at most MAX_SAMPLES
        while x.size(-1) // div > MAX_SAMPLES:
            div += 1
        result = []
        with torch.inference_mode():
            for chunk in x.chunk(div, dim=-1):
                try:
                    features = self.model.feature_extractor(chunk)  # (1, C, T)
                except RuntimeError as err:
                    raise ValueError(f"audio too short for vq-wav2vec ({chunk.size(-1)} samples)") from err
                if features.size(-1) == 0:
                    raise ValueError(f"audio too short for vq-wav2vec ({chunk.size(-1)} samples)")
                result.append(self._quantize(features).cpu())
        return torch.cat(result, dim=0)

    def tokenize(self, wav):
        """One ``"g0-g1"`` string per frame (vq-wav2vec_featurize.py's ``"-".join(map(str, idx))``)."""
        return ["-".join(map(str, frame)) for frame in self.indices(wav).tolist()]
