"""Corpus adapters: each lists a raw corpus as :class:`emotion_core.manifest.Utterance` rows.

- :mod:`.iemocap`: an ``IEMOCAP_full_release`` tree.
- :mod:`.cmu_mosi`: CMU-MOSI and CMU-MOSEI raw releases (sentiment scores in [-3, 3]).

Any other corpus is given as the project's generic ``manifest.tsv`` (:mod:`emotion_core.manifest`).
"""
