"""Corpus adapters: each lists a raw corpus as :class:`emotion_core.manifest.Utterance` rows.

- :mod:`.iemocap`: an ``IEMOCAP_full_release`` tree.
- :mod:`.cmu_mosi`: CMU-MOSI and CMU-MOSEI raw releases (sentiment scores in [-3, 3]).
- :mod:`.msp_podcast`: an MSP-Podcast release (8 primary emotions, or arousal/valence/dominance).
- :mod:`.meld`: ``MELD.Raw`` (7 emotions or 3 sentiments; the audio of mp4 clips).

Any other corpus is given as the project's generic ``manifest.tsv`` (:mod:`emotion_core.manifest`).
"""
