"""Where each released (or demo stand-in) pretrained file lives inside a ``--pretrained`` directory."""
from pathlib import Path


class PretrainedLayout:
    """Paths of the pretrained files, laid out as the fairseq releases unpack::

        PRETRAINED/vq-wav2vec_kmeans.pt
        PRETRAINED/bert_kmeans/{bert_kmeans.pt,dict.txt}
        PRETRAINED/roberta.large/{model.pt,dict.txt}
        PRETRAINED/gpt2_bpe/{encoder.json,vocab.bpe}
        PRETRAINED/wav2vec_small.pt, hubert_base_ls960.pt   (waveform speech encoders, beyond the paper)
    """

    def __init__(self, root):
        self.root = Path(root)
        self.vq_wav2vec = self.root / "vq-wav2vec_kmeans.pt"
        self.speech_bert = self.root / "bert_kmeans" / "bert_kmeans.pt"
        self.speech_dict = self.root / "bert_kmeans" / "dict.txt"
        self.roberta = self.root / "roberta.large" / "model.pt"
        self.text_dict = self.root / "roberta.large" / "dict.txt"
        self.bpe_encoder_json = self.root / "gpt2_bpe" / "encoder.json"
        self.bpe_vocab = self.root / "gpt2_bpe" / "vocab.bpe"
        self.wav2vec2 = self.root / "wav2vec_small.pt"
        self.hubert = self.root / "hubert_base_ls960.pt"

    def files(self):
        """All files of the layout, in a fixed order."""
        return [self.vq_wav2vec, self.speech_bert, self.speech_dict, self.roberta,
                self.text_dict, self.bpe_encoder_json, self.bpe_vocab, self.wav2vec2, self.hubert]

    def speech_encoder(self, name):
        """The checkpoint of a speech encoder by name: ``speech_bert``, ``wav2vec2`` or ``hubert``."""
        checkpoints = {"speech_bert": self.speech_bert, "wav2vec2": self.wav2vec2, "hubert": self.hubert}
        if name not in checkpoints:
            raise ValueError(f"unknown speech encoder {name!r}: choose one of {', '.join(checkpoints)}")
        return checkpoints[name]

    def check(self, *paths):
        """Raise FileNotFoundError naming every missing file (all of the layout when no path is given)."""
        missing = [str(p) for p in (paths or self.files()) if not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(
                f"pretrained directory {self.root} is incomplete; missing: {', '.join(missing)} "
                "(see README: 'Real data and released checkpoints', or build the demo stand-ins "
                "with scripts/make_demo_assets.py)"
            )
        return self
