"""The demo assets load through the very functions that load the real releases, and the build is
deterministic, resumable and good enough (pretraining beats the unigram baseline).

Uses the session fixture ``demo_assets`` (tests/conftest.py): ``scripts/make_demo_assets.py --small``.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from emotion_data.audio import load_audio
from emotion_data.bpe import load_bpe
from emotion_demo.bpe_training import train_bpe
from emotion_demo.assets import PRESETS
from emotion_demo.pretrain import load_roberta, unigram_bits
from emotion_data.speech_tokenizer import SpeechTokenizer
from emotion_demo.synthetic_corpus import MANIFEST_COLUMNS, build_corpus, plan_corpus, read_manifest
from emotion_core.layout import PretrainedLayout
from emotion_core.labels import PAPER_CLASSES as EMOTIONS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def layout(demo_assets):
    return PretrainedLayout(demo_assets / "pretrained").check()


@pytest.fixture(scope="module")
def corpus(demo_assets):
    manifest = demo_assets / "corpus" / "manifest.tsv"
    return manifest, read_manifest(manifest)


def test_corpus_manifest(corpus):
    manifest, rows = corpus
    assert manifest.read_text().split("\n")[0].split("\t") == list(MANIFEST_COLUMNS)
    assert len(rows) == PRESETS["small"].num_utterances
    assert {r["label"] for r in rows} == set(EMOTIONS)
    assert len({r["session"] for r in rows}) == 5 and len({r["speaker"] for r in rows}) == 10
    for r in rows:
        assert r["id"].startswith(r["speaker"] + "_demo_") and r["speaker"].startswith(r["session"])
        assert r["start"] == r["end"] == ""
        assert -3.0 <= float(r["sentiment"]) <= 3.0
    for r in rows[:: len(rows) // 8]:
        info = sf.info(str(manifest.parent / r["audio"]))
        assert info.samplerate == 16000 and info.channels == 1 and 0.5 < info.duration < 3.5


@pytest.fixture
def one_thread():
    """Tokenize with one torch thread: on a shared 2-core machine more threads only spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_vq_wav2vec_is_legacy_and_speech_dict_covers_its_tokens(layout, corpus, one_thread):
    raw = torch.load(str(layout.vq_wav2vec), map_location="cpu", weights_only=True)
    assert isinstance(raw["args"], argparse.Namespace) and "cfg" not in raw
    tokenizer = SpeechTokenizer.from_checkpoint(layout.vq_wav2vec)
    manifest, rows = corpus
    speech_dict = {line.split()[0] for line in layout.speech_dict.read_text().splitlines()}
    emitted = set()
    for r in rows:
        emitted.update(tokenizer.tokenize(load_audio(manifest.parent / r["audio"])))
    assert all(len(t.split("-")) == 2 for t in emitted)
    assert emitted <= speech_dict, f"tokens missing from bert_kmeans/dict.txt: {sorted(emitted - speech_dict)[:10]}"


@pytest.mark.parametrize("which,dim,positions", [("speech", 48, 2048), ("text", 64, 512)])
def test_encoders_load_like_the_releases(layout, which, dim, positions):
    checkpoint, dict_txt = ((layout.speech_bert, layout.speech_dict) if which == "speech"
                            else (layout.roberta, layout.text_dict))
    raw = torch.load(str(checkpoint), map_location="cpu", weights_only=True)  # allowlist installed on import
    assert isinstance(raw["args"], argparse.Namespace) and "cfg" not in raw
    assert set(raw) == {"args", "model", "optimizer_history", "extra_state"}
    assert raw["args"].arch == "roberta_base" and raw["args"].task == "masked_lm"
    assert all(k.startswith("decoder.") for k in raw["model"]), "2019 releases name the encoder 'decoder'"

    model, dictionary, state = load_roberta(checkpoint, dict_txt)
    assert dictionary[len(dictionary) - 1] == "<mask>"
    assert model.args.encoder_embed_dim == dim and model.max_positions() == positions
    tokens = torch.tensor([[dictionary.bos(), dictionary.index(dictionary[10]), dictionary.eos()]])
    features, _ = model(tokens, features_only=True)
    logits, _ = model(tokens)
    assert features.shape == (1, 3, dim) and logits.shape == (1, 3, len(dictionary))


def test_bpe_round_trip_through_fairseq(layout, corpus):
    bpe = load_bpe(layout.bpe_encoder_json, layout.bpe_vocab)
    text_dict = {line.split()[0] for line in layout.text_dict.read_text().splitlines()}
    for r in corpus[1]:
        ids = bpe.encode(r["text"])
        assert bpe.decode(ids) == r["text"] and set(ids.split()) <= text_dict
    odd = "Ünïcode — tabs\tand  spaces 123!"
    assert bpe.decode(bpe.encode(odd)) == odd


def test_bpe_files_have_gpt2_format(tmp_path):
    size = train_bpe(["the cat sat on the mat", "the cat ate the hat"] * 3, tmp_path, vocab_size=270)
    encoder = json.loads((tmp_path / "encoder.json").read_text())
    lines = (tmp_path / "vocab.bpe").read_text().split("\n")
    assert lines[0] == "#version: 0.2" and lines[-1] == ""
    assert len(encoder) == size <= 270 and encoder["<|endoftext|>"] == size - 1
    assert encoder["!"] == 0 and encoder["Ġ"] == 220 and sorted(encoder.values()) == list(range(size))
    assert encoder[lines[1].replace(" ", "")] == 256  # the first merge makes the first new symbol
    bpe = load_bpe(tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    assert len(bpe.encode("the cat").split()) < len("the cat")


def test_pretraining_beats_unigram_baseline(demo_assets):
    report = json.loads((demo_assets / "build_report.json").read_text())
    for name in ("speech_bert", "roberta"):
        r = report[name]
        assert r["valid_loss_bits"] < 0.95 * r["unigram_bits"], f"{name}: {r}"


def test_waveform_pretraining_beats_its_trivial_baselines(demo_assets):
    report = json.loads((demo_assets / "build_report.json").read_text())
    w2v, hubert = report["wav2vec2"], report["hubert"]
    assert w2v["valid_contrastive_bits"] < 0.95 * w2v["uniform_bits"] and w2v["valid_accuracy"] > w2v["chance_accuracy"]
    assert hubert["valid_masked_bits"] < 0.95 * hubert["unigram_bits"]
    assert hubert["valid_accuracy"] > 1.5 * hubert["majority_accuracy"]


def test_waveform_standins_have_the_releases_formats_and_load_like_them(layout):
    """wav2vec_small.pt: legacy args, no cfg; hubert_base_ls960.pt: a cfg whose task names label files that are
    gone, and no task state. Both load into fairseq's own classes and into the plugin's encoder."""
    from fairseq import checkpoint_utils
    from fairseq.models.hubert import HubertModel
    from fairseq.models.wav2vec import Wav2Vec2Model

    from emotion_models.encoders import read_checkpoint
    from emotion_models.waveform import WaveformEncoder

    w2v = torch.load(str(layout.wav2vec2), map_location="cpu", weights_only=True)
    assert set(w2v) == {"args", "model", "optimizer_history", "extra_state"}
    assert (w2v["args"].arch, w2v["args"].task, w2v["args"].criterion) == ("wav2vec2", "audio_pretraining", "wav2vec")
    assert w2v["args"].conv_feature_layers == "[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2"
    assert any(k.startswith("quantizer.") for k in w2v["model"])
    hubert = torch.load(str(layout.hubert), map_location="cpu", weights_only=True)
    assert hubert["args"] is None and "task_state" not in hubert and "label_embs_concat" in hubert["model"]
    assert hubert["cfg"]["task"]["_name"] == "hubert_pretraining" and hubert["cfg"]["task"]["labels"] == ["km"]
    assert not Path(hubert["cfg"]["task"]["label_dir"]).exists(), "the build's working folder is removed"

    source = 0.1 * torch.randn(2, 16000)
    for path, fairseq_model in ((layout.wav2vec2, Wav2Vec2Model), (layout.hubert, HubertModel)):
        state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
        ours = WaveformEncoder(*read_checkpoint(path, "speech")).eval()
        if fairseq_model is HubertModel:  # fairseq's class needs the task's dictionaries: a stand-in of their size
            from fairseq.data import Dictionary

            clusters = Dictionary()
            for k in range(state["model"]["label_embs_concat"].shape[0] - clusters.nspecial):
                clusters.add_symbol(str(k))
            theirs = HubertModel(state["cfg"].model, state["cfg"].task, [clusters])
        else:
            theirs = Wav2Vec2Model.build_model(state["cfg"].model)
        theirs.load_state_dict(state["model"], strict=True)
        with torch.no_grad():
            out = theirs.eval().extract_features(source, None, mask=False)
            expected = out["x"] if isinstance(out, dict) else out[0]
            torch.testing.assert_close(ours(source)[0], expected, rtol=0, atol=0)


def test_unigram_baseline():
    # uniform over {<s>, a, b, </s>} (4 each in train, add-one: 5/20) -> 2 bits exactly
    assert unigram_bits(["a b"] * 4, ["a b"]) == pytest.approx(2.0)


def test_second_run_on_complete_dir_skips(demo_assets):
    t0 = time.time()
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "make_demo_assets.py"), "--out", str(demo_assets),
                           "--small"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipped" in proc.stderr and time.time() - t0 < 15


def test_corpus_is_deterministic(tmp_path):
    a = read_manifest(build_corpus(tmp_path / "a", num_utterances=40, seed=3))
    b = read_manifest(build_corpus(tmp_path / "b", num_utterances=40, seed=3))
    assert a == b
    for r in a[:3]:
        assert (tmp_path / "a" / r["audio"]).read_bytes() == (tmp_path / "b" / r["audio"]).read_bytes()
    c = read_manifest(build_corpus(tmp_path / "c", num_utterances=40, seed=4))
    assert [r["text"] for r in c] != [r["text"] for r in a]


def test_numpy_fallback_synthesiser(tmp_path):
    rows = read_manifest(build_corpus(tmp_path, num_utterances=40, seed=0, engine="numpy"))
    durations = [len(load_audio(tmp_path / r["audio"])) / 16000 for r in rows]
    assert len(rows) == 40 and 0.5 < min(durations) and max(durations) < 3.5


def test_cues_split_the_emotion_between_modalities():
    _, utts = plan_corpus(num_utterances=440, seed=0)
    emotional = [u for u in utts if u.label != "neutral"]
    counts = {cue: sum(u.cue == cue for u in emotional) for cue in ("text", "speech", "both")}
    assert max(counts.values()) - min(counts.values()) <= 0.1 * len(emotional) / 3, counts
    assert all(u.wording == "neutral" for u in emotional if u.cue == "speech")
    assert all(u.intensity == 0 for u in utts if u.cue in ("text", "none"))
    assert all(u.sentiment > 0 for u in utts if u.label == "happy")
    assert all(u.sentiment < 0 for u in utts if u.label in ("sad", "angry"))
    assert all(abs(u.sentiment) <= 0.4 for u in utts if u.label == "neutral")
