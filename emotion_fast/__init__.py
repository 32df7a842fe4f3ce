"""Speed paths: opt-in re-implementations of parts of fairseq and torch, each tested to compute the same function.

See ``emotion_fast/README.md`` for what each module replaces and the reference it is tested against.
They wrap or re-implement fairseq 0.12 internals, so the fairseq version is checked on import.
"""
from emotion_fairseq.compat import check_fairseq_version

check_fairseq_version()
