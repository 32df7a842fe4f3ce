"""The fairseq release whose internals the plugin wraps or patches, checked at import."""
import fairseq

SUPPORTED = "0.12."  # fairseq-fixed 0.12.3.1 = upstream 0.12.2 importable on Python 3.11


def check_fairseq_version(version=None):
    """Raise RuntimeError unless ``version`` (default: the installed fairseq's) is a 0.12 release.

    The safe checkpoint loading wraps ``checkpoint_utils.load_checkpoint_to_cpu`` and
    ``_upgrade_state_dict`` and the speed paths re-implement parts of fairseq's transformer layer
    and vq-wav2vec feature extractor, each tested against 0.12's code; another release may differ.
    """
    version = fairseq.__version__ if version is None else version
    if not version.startswith(SUPPORTED):
        raise RuntimeError(f"fairseq {version} is installed, but this plugin wraps and patches fairseq "
                           f"{SUPPORTED}x internals (checkpoint loading, transformer layers); install "
                           "fairseq-fixed==0.12.3.1 (scripts/setup_env.sh)")
