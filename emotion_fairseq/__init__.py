"""The plugin's contact points with fairseq's internals: safe checkpoint loading and the fairseq version.

Importing this package installs the safe checkpoint loading (:mod:`.safe_checkpoint`) once, for
every entry point: the plugin's ``--user-dir``, data preparation (vq-wav2vec), inference.
"""
from emotion_fairseq import safe_checkpoint
from emotion_fairseq.compat import check_fairseq_version

check_fairseq_version()
safe_checkpoint.install()
