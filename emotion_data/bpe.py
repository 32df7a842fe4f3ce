"""GPT-2 byte-level BPE: fairseq's own reader of the release's ``encoder.json`` and ``vocab.bpe``.

:func:`load_bpe` returns fairseq's ``GPT2BPE`` reading the local files (never a URL).

>>> bpe = load_bpe("gpt2_bpe/encoder.json", "gpt2_bpe/vocab.bpe")  # doctest: +SKIP
>>> bpe.decode(bpe.encode("I love the boxes."))  # doctest: +SKIP
'I love the boxes.'
"""
from pathlib import Path

from fairseq.data.encoders.gpt2_bpe import GPT2BPE, GPT2BPEConfig


def load_bpe(encoder_json, vocab_bpe):
    """fairseq's ``GPT2BPE`` reading local ``encoder.json`` and ``vocab.bpe`` (never a download).

    ``.encode(text)`` gives space-separated BPE ids (the symbols of roberta's dict.txt) and
    ``.decode(ids)`` gives the text back.
    """
    for path in (encoder_json, vocab_bpe):
        if not Path(path).is_file():
            raise FileNotFoundError(f"GPT-2 BPE file not found: {path}")
    return GPT2BPE(GPT2BPEConfig(gpt2_encoder_json=str(encoder_json), gpt2_vocab_bpe=str(vocab_bpe)))
