"""emotion_data.audio: mono 16 kHz float32 from any wav, with errors naming the file and problem."""
import numpy as np
import pytest
import soundfile as sf
from helpers import write_mp4

from emotion_data.audio import AudioError, audio_duration, load_audio, load_audio_with_info

SR = 16000


def tone(sr, seconds=2.0, freq=220.0, amp=0.3):
    """A sine of ``freq`` Hz sampled at ``sr``: (samples,) float64."""
    t = np.arange(int(sr * seconds)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def write(path, data, sr, subtype="PCM_16"):
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def test_mono_16k_roundtrip(tmp_path):
    path = write(tmp_path / "mono.wav", tone(SR), SR, subtype="FLOAT")
    wav, info = load_audio_with_info(path)
    assert wav.dtype == np.float32 and wav.ndim == 1 and len(wav) == 2 * SR
    assert info.sample_rate == SR and info.channels == 1 and info.duration == pytest.approx(2.0)
    np.testing.assert_allclose(wav, tone(SR), atol=1e-6)


def test_stereo_44k_is_downmixed_and_resampled(tmp_path):
    """A 44.1 kHz stereo file (the mean of its channels is the tone) matches the 16 kHz mono tone."""
    sr = 44100
    noise = 0.1 * np.random.default_rng(0).standard_normal(int(sr * 2.0))
    stereo = np.stack([tone(sr) + noise, tone(sr) - noise], axis=1)  # (samples, 2)
    path = write(tmp_path / "stereo.wav", stereo, sr, subtype="FLOAT")
    wav, info = load_audio_with_info(path)
    assert (info.sample_rate, info.channels) == (sr, 2)
    assert len(wav) == 2 * SR
    inner = slice(800, -800)  # the resampler's edges aside
    np.testing.assert_allclose(wav[inner], tone(SR)[inner], atol=2e-3)


def test_int16_and_segment_cut(tmp_path):
    path = write(tmp_path / "pcm.wav", tone(SR, seconds=3.0), SR)  # 16-bit PCM
    full = load_audio(path)
    assert np.abs(full - tone(SR, 3.0)).max() < 1e-4  # scaled to [-1, 1]
    np.testing.assert_array_equal(load_audio(path, start=0.5, end=1.25), full[8000:20000])
    np.testing.assert_array_equal(load_audio(path, start=2.0), full[32000:])
    np.testing.assert_array_equal(load_audio(path, end=1.0), full[:16000])
    assert len(load_audio(path, start=2.5, end=3.03)) == 8000  # end within the tolerance: clipped


def test_segment_cut_at_original_rate(tmp_path):
    sr = 8000
    path = write(tmp_path / "narrow.wav", tone(sr, seconds=2.0, freq=100.0), sr, subtype="FLOAT")
    seg = load_audio(path, start=0.5, end=1.5)
    assert len(seg) == SR  # 1 s at 16 kHz
    inner = slice(400, -400)
    np.testing.assert_allclose(seg[inner], tone(SR, 2.0, freq=100.0)[SR // 2:SR // 2 + SR][inner], atol=2e-3)


@pytest.mark.parametrize("start,end", [(2.0, None), (2.5, 3.0), (0.0, 2.2), (1.0, 1.0), (1.5, 0.5), (-1, 1)])
def test_segment_outside_the_audio(tmp_path, start, end):
    path = write(tmp_path / "short_utt.wav", tone(SR, seconds=2.0), SR)
    with pytest.raises(AudioError, match="short_utt.wav.*segment"):
        load_audio(path, start, end)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="absent.wav: file not found"):
        load_audio(tmp_path / "absent.wav")


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really a wav file" * 3)
    with pytest.raises(AudioError, match="corrupt.wav: unreadable"):
        load_audio(path)


def test_empty_file(tmp_path):
    path = write(tmp_path / "empty.wav", np.zeros(0), SR)
    with pytest.raises(AudioError, match="empty.wav: empty"):
        load_audio(path)


def test_silent_file(tmp_path):
    path = write(tmp_path / "silent.wav", np.zeros(SR), SR)
    with pytest.raises(AudioError, match="silent.wav: silent"):
        load_audio(path)
    quiet = write(tmp_path / "quiet.wav", tone(SR, amp=1e-3), SR, subtype="FLOAT")
    assert load_audio(quiet).max() > 5e-4  # quiet but not silent


def test_error_carries_path_and_problem(tmp_path):
    err = pytest.raises(AudioError, load_audio, tmp_path / "x.wav").value
    assert err.path.endswith("x.wav") and err.problem == "file not found"


# ------------------------------------------------------------------------------ video clips (mp4, PyAV)
def test_mp4_audio_track_is_decoded_downmixed_and_resampled(tmp_path):
    """A 48 kHz stereo AAC track beside a video track, as MELD's clips: the 16 kHz mono tone comes back."""
    clip = write_mp4(tmp_path / "dia0_utt0.mp4", seconds=1.0, sr=48000, channels=2, seed=0)
    wav, info = load_audio_with_info(clip)
    assert (info.sample_rate, info.channels) == (48000, 2) and wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) - SR) < 0.05 * SR  # the AAC encoder pads up to one frame
    assert audio_duration(clip) == pytest.approx(1.0, abs=0.05)
    reference = tone(SR, 1.0, freq=150.0)  # the clip's tone; AAC is lossy: compare by correlation
    inner = slice(1600, SR - 1600)
    assert np.corrcoef(wav[inner], reference[inner])[0, 1] > 0.95
    segment = load_audio(clip, start=0.25, end=0.75)
    np.testing.assert_allclose(segment[2000:6000], wav[6000:10000], atol=1e-3)  # cut at 48 kHz, then resampled


def test_undecodable_or_silent_clips_name_the_file(tmp_path):
    clip = write_mp4(tmp_path / "good.mp4", seconds=0.5)
    broken = tmp_path / "dia125_utt3.mp4"
    broken.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # cut off: the index is lost
    with pytest.raises(AudioError, match=r"dia125_utt3\.mp4: undecodable clip"):
        load_audio(broken)
    assert audio_duration(broken) is None
    mute = write_mp4(tmp_path / "video_only.mp4", seconds=0.5, audio=False)
    with pytest.raises(AudioError, match=r"video_only\.mp4: no audio track in the clip"):
        load_audio(mute)
