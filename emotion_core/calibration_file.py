"""The temperature fitted for a checkpoint, kept beside it as ``<checkpoint>.calibration.json``.

``emotion-experiment`` fits it on the validation split (emotion_eval.calibration) and writes it;
``EmotionRecognizer`` and ``emotion-predict`` divide the logits by it when the file is there.

>>> calibration_path("ckpt/checkpoint_best.pt").name
'checkpoint_best.calibration.json'
"""
import json
import math
from pathlib import Path

from emotion_core.files import atomic_write_text

T_BOUNDS = (1e-3, 1e3)  # a temperature outside is refused as malformed


def calibration_path(checkpoint):
    """Where the temperature of ``checkpoint`` is kept."""
    return Path(checkpoint).with_suffix(".calibration.json")


def write_temperature(checkpoint, temperature, space):
    """Write ``temperature`` (fitted on the validation split for ``space``) beside ``checkpoint``."""
    atomic_write_text(calibration_path(checkpoint), json.dumps(
        {"temperature": float(temperature), "fitted_on": "valid", **space.describe()}, indent=1) + "\n")


def read_temperature(checkpoint):
    """The temperature kept beside ``checkpoint``, or None when there is none; ValueError naming the file if malformed."""
    path = calibration_path(checkpoint)
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["temperature"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a calibration file ({type(err).__name__}: {err}); delete it to predict "
                         "without temperature scaling") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not T_BOUNDS[0] <= value <= T_BOUNDS[1]:
        raise ValueError(f"{path}: temperature {value!r} is not a number in {list(T_BOUNDS)}")
    return float(value)
