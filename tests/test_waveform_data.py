"""``--speech-input waveform|both``: the 16 kHz audio stored once by data preparation, and read by the task."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from fairseq.models import ARCH_CONFIG_REGISTRY
from helpers import load_split, make_manifest, make_task, read_manifest_rows, write_wav
from omegaconf import OmegaConf
from tiny_waveform import save_pretraining

from emotion_data import cli as prepare_data
from emotion_data import prepare
from emotion_data.audio import load_audio
from emotion_data.audio_store import open_split, to_int16
from emotion_models.ssl_emotion import SSLEmotionConfig
from emotion_tasks import datasets


def audio_only_pretrained(pretrained, dest):
    """A pretrained directory with the text side only: no vq-wav2vec, no Speech-BERT dictionary."""
    for part in ("roberta.large", "gpt2_bpe"):
        shutil.copytree(pretrained.root / part, dest / part)
    return dest


def test_waveform_input_stores_what_load_audio_reads_without_vq_wav2vec(tmp_path, pretrained, fast_binarize):
    manifest = make_manifest(tmp_path / "corpus")
    write_wav(tmp_path / "corpus" / "wav" / "a3.wav", seconds=0.5, sr=44100, channels=2, seed=3)  # converted once
    out = tmp_path / "data"
    assert prepare_data.main(["manifest", "--raw", str(manifest), "--pretrained",
                              str(audio_only_pretrained(pretrained, tmp_path / "pre")), "--out", str(out),
                              "--label-column", "sentiment", "--speech-input", "waveform", "--workers", "2"]) == 0
    assert not (out / "speech").exists() and (out / "text" / "train.bin").is_file()
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["speech_tokenization"] is None and report["options"]["speech_input"] == "waveform"
    assert report["converted"] == {"resampled_to_16k": 1, "downmixed_to_mono": 1, "ids": ["a3"]}
    assert report["audio"]["max_samples"] == 327_360 and report["audio"]["truncated"]["count"] == 0
    assert {f"audio/{s}.{e}" for s in ("train", "valid", "test") for e in ("bin", "idx")} <= set(report["files"])
    rows = read_manifest_rows(out)
    for split in ("train", "valid", "test"):
        store = open_split(out, split)
        expected = [r for r in rows if r["split"] == split]
        ids = (out / "ids" / f"{split}.id").read_text().split()
        assert ids == [r["id"] for r in expected] and len(store) == len(ids)
        for i, r in enumerate(expected):
            start, end = (float(r[c]) if r[c] else None for c in ("start", "end"))
            wav, _ = to_int16(load_audio(r["audio"], start, end))
            assert store.sizes[i] == len(wav) and torch.equal(store[i], torch.from_numpy(wav).long())


def test_long_audio_is_kept_to_max_frames_and_clipping_is_counted(tmp_path, pretrained, fast_binarize):
    manifest = make_manifest(tmp_path / "corpus")
    loud = 1.5 * np.sin(np.linspace(0, 200, 8000))
    sf.write(str(tmp_path / "corpus" / "wav" / "a2.wav"), loud, 16000, subtype="FLOAT")
    report = prepare.prepare_manifest(manifest, audio_only_pretrained(pretrained, tmp_path / "pre"), tmp_path / "data",
                                      label_columns=("sentiment",), speech_input="waveform", max_frames=25)
    assert report["audio"]["max_samples"] == 4000  # 25 frames of 10 ms
    assert report["truncated"]["count"] == report["audio"]["truncated"]["count"] == 6  # 0.3-0.5 s each
    assert report["audio"]["clipped"]["ids"] == ["a2"] and report["audio"]["clipped"]["samples"] > 0
    assert max(open_split(tmp_path / "data", "train").sizes) == 4000


def test_both_inputs_then_tokens_only(tmp_path, pretrained, fast_binarize):
    manifest = make_manifest(tmp_path / "corpus")
    both = prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "both", label_columns=("sentiment",),
                                    speech_input="both")
    prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "tokens", label_columns=("sentiment",))
    assert both["speech_tokenization"]["done"] == 6 and both["audio"]["audio_seconds"] > 0
    for split in ("train", "valid", "test"):
        assert load_split(tmp_path / "both", "speech", split) == load_split(tmp_path / "tokens", "speech", split)
        assert len(open_split(tmp_path / "both", split)) == len(load_split(tmp_path / "both", "text", split))
    prepare.prepare_manifest(manifest, pretrained.root, tmp_path / "both", label_columns=("sentiment",))
    assert not (tmp_path / "both" / "audio").exists(), "a tokens-only preparation leaves no stale audio"


def test_unreadable_audio_fails_the_run_or_is_left_out(tmp_path, pretrained, fast_binarize):
    manifest = make_manifest(tmp_path / "corpus")
    (tmp_path / "corpus" / "wav" / "a2.wav").write_bytes(b"not audio")
    pre = audio_only_pretrained(pretrained, tmp_path / "pre")
    with pytest.raises(prepare.PreparationError, match=r"a2\.wav: unreadable audio"):
        prepare.prepare_manifest(manifest, pre, tmp_path / "data", label_columns=("sentiment",),
                                 speech_input="waveform")
    assert not (tmp_path / "data" / "audio").exists()
    report = prepare.prepare_manifest(manifest, pre, tmp_path / "data", label_columns=("sentiment",),
                                      speech_input="waveform", skip_bad=True)
    assert [f["id"] for f in report["failed"]] == ["a2"]
    assert len(open_split(tmp_path / "data", "train")) == report["counts"]["per_split"]["train"] == 3


@pytest.fixture(scope="module")
def audio_data(tmp_path_factory, pretrained):
    """The helpers' six-utterance manifest prepared with both speech inputs (session split)."""
    root = tmp_path_factory.mktemp("audio_data")
    prepare.prepare_manifest(make_manifest(root / "corpus"), pretrained.root, root / "data",
                             label_columns=("sentiment",), speech_input="both")
    return root / "data"


def speech_only_model(task, checkpoint):
    cfg = OmegaConf.structured(SSLEmotionConfig(speech_checkpoint=str(checkpoint), dropout=0.0, attention_dropout=0.0,
                                                pooler_dropout=0.0))
    cfg._name = "ssl_emotion_speech_only"
    ARCH_CONFIG_REGISTRY[cfg._name](cfg)
    return task.build_model(cfg)


def test_the_task_reads_audio_for_a_waveform_model_and_counts_samples(audio_data, tmp_path):
    task = make_task("regression", data=audio_data)
    model = speech_only_model(task, save_pretraining(tmp_path / "w.pt", "wav2vec2"))
    assert task.speech_input == "waveform"
    task.load_dataset("train")
    dataset = task.dataset("train")
    store, text = open_split(audio_data, "train"), datasets.load_tokens(audio_data, "text", "train",
                                                                       task.text_dictionary)
    assert sorted(dataset.sizes[0].tolist()) == sorted((store.sizes + text.sizes).tolist())  # samples + text tokens
    batches = dataset.batch_by_size(dataset.ordered_indices(), max_tokens=12_000)
    for batch in batches:
        sample = dataset.collater([dataset[int(i)] for i in batch])
        source, padding = sample["net_input"]["speech_source"], sample["net_input"]["speech_padding_mask"]
        assert source.dtype == torch.float32 and padding.shape == source.shape
        assert torch.equal((~padding).sum(1), torch.tensor([store.sizes[int(i)] for i in sample["id"]]))
        assert source[padding].eq(0).all() and len(batch) * source.size(1) <= 12_000 + 100 * len(batch)
        assert model(**sample["net_input"]).shape == (len(batch),)
    assert len(batches) > 1


def test_the_long_audio_policy_in_samples_and_what_is_missing(audio_data, tmp_path):
    kept = datasets.load_audio(audio_data, "train", max_samples=1000)
    assert kept.sizes.max() == 1000 and all(len(kept[i]) <= 1000 for i in range(len(kept)))
    tokens_only = tmp_path / "tokens_only"
    shutil.copytree(audio_data, tokens_only)
    shutil.rmtree(tokens_only / "audio")
    task = make_task("regression", data=tokens_only)
    speech_only_model(task, save_pretraining(tmp_path / "w.pt", "hubert"))
    with pytest.raises(FileNotFoundError, match=r"audio/valid\.bin.*--speech-input waveform \(or both\)"):
        task.load_dataset("valid")


def test_a_speech_only_waveform_directory_needs_no_pretrained_file_and_trains_the_speech_model(tmp_path, pretrained,
                                                                                                fast_binarize):
    out = tmp_path / "data"
    report = prepare.prepare_manifest(make_manifest(tmp_path / "corpus"), tmp_path / "nothing_pretrained", out,
                                      label_columns=("sentiment",), modalities=("speech",), speech_input="waveform")
    assert report["modalities"] == ["speech"] and report["speech_tokenization"] is None
    assert not (out / "speech").exists() and not (out / "text").exists() and (out / "audio" / "train.bin").is_file()
    task = make_task("regression", data=out)
    assert task.speech_dictionary is None and task.text_dictionary is None
    model = speech_only_model(task, save_pretraining(tmp_path / "w.pt", "wav2vec2"))
    task.load_dataset("valid")
    sample = task.dataset("valid").collater([task.dataset("valid")[i] for i in range(len(task.dataset("valid")))])
    assert set(sample["net_input"]) == {"speech_source", "speech_padding_mask"}
    assert model(**sample["net_input"]).shape == (len(sample["id"]),)
