"""A small GPT-2 byte-level BPE trainer that writes GPT-2's file format (for the demo's stand-in).

:func:`train_bpe` learns merges on a list of texts and writes ``encoder.json`` and ``vocab.bpe`` as
GPT-2's release lays them out: the 256 byte symbols first (in ``bytes_to_unicode`` order), then one
symbol per merge in merge order, then ``<|endoftext|>``; ``vocab.bpe`` is the ``#version: 0.2``
header followed by one merge per line. Texts are split into words with the very pattern of fairseq's
GPT-2 encoder, so that fairseq applies the merges to the same pieces they were learnt on.

>>> train_bpe(["I love the car!", "We moved the boxes."], "gpt2_bpe", vocab_size=300)  # doctest: +SKIP
"""
import collections
import json
import logging
from pathlib import Path

from fairseq.data.encoders.gpt2_bpe_utils import Encoder, bytes_to_unicode

logger = logging.getLogger(__name__)

END_OF_TEXT = "<|endoftext|>"  # GPT-2's one special symbol, last in encoder.json
VERSION_HEADER = "#version: 0.2"  # first line of GPT-2's vocab.bpe


def _word_counts(texts):
    """Count the pre-tokenised words of ``texts`` as tuples of byte symbols."""
    splitter = Encoder({}, [])  # only for fairseq's GPT-2 pre-tokenisation pattern and byte map
    counts = collections.Counter()
    for text in texts:
        for word in splitter.re.findall(splitter.pat, text):
            counts[tuple(splitter.byte_encoder[b] for b in word.encode("utf-8"))] += 1
    return counts


def _merge_word(word, pair, merged):
    """Replace every occurrence of ``pair`` in the symbol tuple ``word``, left to right."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(merged)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def learn_merges(texts, num_merges, min_frequency=2):
    """Learn up to ``num_merges`` BPE merges: each step merges the most frequent adjacent pair.

    Ties go to the lexicographically smallest pair, so the result is deterministic. Stops early
    when no pair occurs ``min_frequency`` times. Returns the merges in order, as pairs of symbols.
    """
    words = _word_counts(texts)
    merges = []
    while len(merges) < num_merges:
        pairs = collections.Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < min_frequency:
            break
        merges.append(best)
        merged = best[0] + best[1]
        words = collections.Counter({_merge_word(w, best, merged): c for w, c in words.items()})
    return merges


def train_bpe(texts, out_dir, vocab_size=1000, min_frequency=2):
    """Train a byte-level BPE on ``texts``; write ``out_dir/encoder.json`` and ``out_dir/vocab.bpe``.

    ``vocab_size`` counts the 256 byte symbols and ``<|endoftext|>``; fewer symbols are made when the
    texts have no pair left that occurs ``min_frequency`` times. Returns the final vocabulary size.
    """
    assert vocab_size > 257, f"vocab_size must exceed the 256 byte symbols + {END_OF_TEXT}, got {vocab_size}"
    merges = learn_merges(texts, vocab_size - 257, min_frequency)
    encoder = {symbol: i for i, symbol in enumerate(bytes_to_unicode().values())}
    for a, b in merges:
        encoder.setdefault(a + b, len(encoder))  # two merges may spell the same symbol: one id
    encoder[END_OF_TEXT] = len(encoder)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "encoder.json").write_text(json.dumps(encoder, ensure_ascii=False), encoding="utf-8")
    # fairseq's reader drops the first line (header) and the last (empty after the final newline)
    lines = [VERSION_HEADER] + [f"{a} {b}" for a, b in merges]
    (out_dir / "vocab.bpe").write_text("\n".join(lines) + "\n", encoding="utf-8")
    logger.info("BPE: %d merges, %d symbols -> %s", len(merges), len(encoder), out_dir)
    return len(encoder)
