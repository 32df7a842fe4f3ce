"""Discrete speech tokens from a legacy vq-wav2vec k-means checkpoint, as Speech-BERT reads them.

Every 10 ms frame becomes one token ``"g0-g1"``: the k-means codeword index of each of the two
groups, exactly as fairseq's ``examples/wav2vec/vq-wav2vec_featurize.py`` writes them.

The nearest-codeword search is exact but faster than fairseq's ``KmeansVectorQuantizer``, which
materialises a (vars x batch x frames x groups x dim) difference tensor (650 MB per 10 s with the
release's 320 x 256 codebook): :func:`nearest_codewords` ranks codewords by a float64 matmul
distance, then recomputes fairseq's own float32 distances, bit for bit, on a short list that
provably holds fairseq's choice (other frames fall back to the full fairseq computation).

>>> tok = SpeechTokenizer.from_checkpoint("pretrained/vq-wav2vec_kmeans.pt")  # doctest: +SKIP
>>> tok.tokenize(load_audio("utt.wav"))[:3]  # doctest: +SKIP
['12-205', '12-205', '97-31']
"""
import torch
from fairseq import checkpoint_utils
from fairseq.models.wav2vec import Wav2VecModel

from emotion_fast.matmul_features import MatmulFeatureExtractor
import emotion_fairseq  # noqa: F401  (safe checkpoint loading)

MAX_SAMPLES = 1_300_000  # vq-wav2vec_featurize.py's --max-size: longer audio is cut in equal chunks
SHORTLIST = 8  # codewords per frame and group whose exact fairseq distance is recomputed


def _fairseq_distances(ze, codes):
    """fairseq's float32 L2 distances, bit for bit: ze (G, D, T), codes (K, G, D, T or 1) -> (K, T, G).

    The difference is laid out as in ``KmeansVectorQuantizer.forward`` (frames innermost), so that
    torch reduces over D with the same kernel and summation order (a contiguous D gives other bits).
    """
    diff = torch.empty((codes.shape[0], *ze.shape), dtype=ze.dtype, device=ze.device)  # (K, G, D, T)
    torch.sub(ze.unsqueeze(0), codes, out=diff)
    return diff.permute(0, 3, 1, 2).norm(dim=-1, p=2)  # (K, T, G)


def nearest_codewords(ze, codebook, shortlist=SHORTLIST):
    """Nearest codeword per frame and group, identical to fairseq's ``forward_idx`` (ties: lowest index).

    ze: (G, D, T) projected features of one utterance; codebook: (V, G, D) (``expand_embedding``).
    Returns (T, G) long. Codewords are ranked by a float64 matmul distance; fairseq's own float32
    distance is recomputed for the ``shortlist`` best, which provably hold fairseq's choice where the
    last of them is far enough from the best; other frames get fairseq's full computation.
    """
    groups, dim, tsz = ze.shape
    num_vars = codebook.shape[0]
    k = min(shortlist, num_vars)
    z64, e64 = ze.double().transpose(1, 2), codebook.double().transpose(0, 1)  # (G, T, D), (G, V, D)
    z_sq, e_sq = (z64 * z64).sum(-1), (e64 * e64).sum(-1)  # (G, T), (G, V)
    approx = (z_sq.unsqueeze(-1) - 2 * z64 @ e64.transpose(1, 2) + e_sq.unsqueeze(1)).clamp_min(0)  # (G, T, V)
    top_val, top_idx = approx.topk(k, dim=-1, largest=False, sorted=True)  # (G, T, k)

    # fairseq's float32 norm of D terms is within a relative `rel` of the true distance, and the
    # float64 squared distance within `slack` of the true one, so fairseq's argmin has an
    # approximate squared distance <= bound: the short list is safe where its last value exceeds it.
    rel = 2 * (dim + 4) * 2.0 ** -24
    slack = 1e-9 * (z_sq.unsqueeze(-1) + e_sq.max(-1).values.view(groups, 1, 1))  # (G, T, 1)
    bound = (top_val[..., :1] + slack) * ((1 + rel) / (1 - rel)) ** 2 + slack
    unsafe = (top_val[..., -1:] <= bound).squeeze(-1).any(0) & (k < num_vars)  # (T,)

    candidates, _ = top_idx.sort(dim=-1)  # index order, so that ties go to the lowest index
    codes = codebook.transpose(0, 1)[torch.arange(groups).view(groups, 1, 1), candidates]  # (G, T, k, D)
    dist = _fairseq_distances(ze, codes.permute(2, 0, 3, 1))  # (k, T, G)
    idx = candidates.permute(1, 0, 2).gather(-1, dist.argmin(0).unsqueeze(-1)).squeeze(-1)  # (T, G)

    cols = unsafe.nonzero().squeeze(-1)
    if cols.numel():
        # a single frame would take torch's contiguous kernel: keep two, as fairseq had T > 1
        sub = ze[:, :, cols.repeat(2)] if cols.numel() == 1 < tsz else ze[:, :, cols]
        full = _fairseq_distances(sub, codebook.unsqueeze(-1)).argmin(0)  # (T', G)
        idx[cols] = full[:cols.numel()]
    return idx


class SpeechTokenizer:
    """vq-wav2vec k-means tokenizer: 16 kHz float audio -> one ``"g0-g1"`` token per 10 ms frame."""

    def __init__(self, model: Wav2VecModel, device="cpu", exact=True):
        """``exact=False`` computes the convolutions as matrix products (:mod:`.matmul_features`):
        faster on CPU (BENCHMARKS.md), but a token whose two nearest codewords are within float
        rounding of each other can differ from fairseq's (measured: 0 to 2 frames in 3,267)."""
        assert model.vector_quantizer is not None and hasattr(model.vector_quantizer, "expand_embedding"), \
            "the checkpoint is not a k-means vq-wav2vec model (vq_type must be 'kmeans')"
        self.model = model.eval().float().to(device)
        self.device = torch.device(device)
        self.exact = exact
        self.features = model.feature_extractor if exact else MatmulFeatureExtractor(model.feature_extractor)

    @classmethod
    def from_checkpoint(cls, path, device="cpu", exact=True):
        """Load a legacy (argparse ``args``) or new (``cfg``) vq-wav2vec k-means fairseq checkpoint."""
        state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
        model = Wav2VecModel.build_model(state["cfg"].model, task=None)
        model.load_state_dict(state["model"], strict=True)
        return cls(model, device, exact)

    @property
    def num_vars(self):
        """Codewords per group (320 in the release)."""
        return self.model.vector_quantizer.num_vars

    def _quantize(self, features):
        """(1, C, T) features -> (T, G) indices, identical to ``vector_quantizer.forward_idx``."""
        vq = self.model.vector_quantizer
        if features.device.type != "cpu":  # the bit-exact short list is shown for torch's CPU kernels
            return vq.forward_idx(features)[1].squeeze(0)
        ze = vq.projection(features)  # (1, C, T), the same call as fairseq's
        return nearest_codewords(ze.view(vq.groups, vq.var_dim, -1), vq.expand_embedding.detach())

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
                    features = self.features(chunk)  # (1, C, T)
                except RuntimeError as err:
                    raise ValueError(f"audio too short for vq-wav2vec ({chunk.size(-1)} samples)") from err
                if features.size(-1) == 0:
                    raise ValueError(f"audio too short for vq-wav2vec ({chunk.size(-1)} samples)")
                result.append(self._quantize(features).cpu())
        return torch.cat(result, dim=0)

    def tokenize(self, wav):
        """One ``"g0-g1"`` string per frame (vq-wav2vec_featurize.py's ``"-".join(map(str, idx))``)."""
        return ["-".join(map(str, frame)) for frame in self.indices(wav).tolist()]
