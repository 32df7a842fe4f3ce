"""Corpus adapters: each lists a raw corpus as :class:`~emotion_data.corpora.manifest.Utterance` rows.

- :mod:`.iemocap`: an ``IEMOCAP_full_release`` tree (4 classes, 5531 utterances).
- :mod:`.cmu_mosi`: CMU-MOSI and CMU-MOSEI raw releases (sentiment scores in [-3, 3]).
- :mod:`.manifest`: any corpus given as the project's generic ``manifest.tsv``.
"""
from .manifest import CorpusError, Listing, Problem, Utterance, read_manifest, write_manifest

__all__ = ["CorpusError", "Listing", "Problem", "Utterance", "read_manifest", "write_manifest"]
