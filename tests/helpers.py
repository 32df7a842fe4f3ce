"""Helpers shared by the test modules (no test module imports another): fairseq CLIs in-process, the
tiny task and model, training-loss probes, audio and corpus writers, the vq-wav2vec reference."""
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from fairseq import checkpoint_utils, options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.distributed import utils as distributed_utils
from fairseq.logging import progress_bar
from fairseq.models import ARCH_CONFIG_REGISTRY
from fairseq.modules import FairseqDropout
from fairseq_cli import train, validate
from omegaconf import OmegaConf
from tiny_pretrained import checkpoint_paths, tiny_assets

from emotion_criterions.multimodal_emotion import MultimodalEmotionCriterion
from emotion_models.ssl_emotion import SSLEmotionConfig
from emotion_tasks.multimodal_emotion import MultimodalEmotionConfig, MultimodalEmotionTask

REPO = Path(__file__).resolve().parents[1]
SR = 16000

HEADER = "id\taudio\tstart\tend\ttext\tlabel\tspeaker\tsession\tsentiment"
ROWS = [("a1", "neutral", "1", "0.5"), ("a2", "happy", "2", "2.25"), ("a3", "sad", "3", "-1"),
        ("a4", "angry", "4", "-2.5"), ("a5", "happy", "5", "1"), ("a6", "sad", "1", "-0.5")]


COMMON = ["--user-dir", str(REPO), "--task", "multimodal_emotion", "--cpu", "--num-workers", "0",
          "--log-format", "simple", "--log-interval", "1", "--seed", "1"]


def run_train(data, save_dir, arch, extra=()):
    argv = [str(data), *COMMON, "--arch", arch, "--criterion", "multimodal_emotion", "--save-dir", str(save_dir),
            "--optimizer", "adam", "--lr", "1e-4", "--lr-scheduler", "polynomial_decay", "--warmup-updates", "1",
            "--total-num-update", "2", "--max-update", "2", "--batch-size", "8", "--dropout", "0",
            "--attention-dropout", "0", "--pooler-dropout", "0", "--no-epoch-checkpoints", "--no-save-optimizer-state",
            *extra]
    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    if hasattr(checkpoint_utils.save_checkpoint, "best"):  # fairseq keeps the best score across runs
        del checkpoint_utils.save_checkpoint.best
    distributed_utils.call_main(convert_namespace_to_omegaconf(args), train.main)


def run_validate(data, checkpoint, extra=(), subset="test"):
    """fairseq-validate's cli_main on argv; returns the stats it prints for the subset."""
    argv = [str(data), *COMMON, "--path", str(checkpoint), "--valid-subset", subset, "--batch-size", "3", *extra]
    args = options.parse_args_and_arch(options.get_validation_parser(), argv)
    overrides = options.parse_args_and_arch(options.get_validation_parser(), argv, suppress_defaults=True)
    printed, make_bar = {}, progress_bar.progress_bar

    def recording_bar(*bar_args, **bar_kwargs):  # keeps what validate prints (hydra resets log handlers)
        bar = make_bar(*bar_args, **bar_kwargs)
        show = bar.print

        def print_(stats, tag=None, step=None):
            printed[tag] = dict(stats)
            show(stats, tag=tag, step=step)

        bar.print = print_
        return bar

    validate.progress_bar.progress_bar = recording_bar
    try:
        distributed_utils.call_main(convert_namespace_to_omegaconf(args), validate.main, override_args=overrides)
    finally:
        validate.progress_bar.progress_bar = make_bar
    return {k: float(v) for k, v in printed[subset].items()}


def make_task(target_type="iemocap_binary", data=None, **extra):
    assets = tiny_assets()
    cfg = OmegaConf.structured(MultimodalEmotionConfig(data=str(data or assets[target_type]),
                                                       target_type=target_type, seed=1, **extra))
    return MultimodalEmotionTask.setup_task(cfg)


_BUILT = {}


def shared(target_type="iemocap_binary"):
    """(task, shallow model) built once per target type; for tests that do not modify them."""
    if target_type not in _BUILT:
        task = make_task(target_type)
        _BUILT[target_type] = (task, make_model(task).eval())
    return _BUILT[target_type]


def make_model(task, arch="ssl_emotion_shallow", **overrides):
    speech, text = checkpoint_paths(tiny_assets()["pretrained"])
    cfg = OmegaConf.structured(SSLEmotionConfig(
        speech_checkpoint=str(speech), text_checkpoint=str(text), dropout=0.0, attention_dropout=0.0,
        pooler_dropout=0.0, **overrides))
    cfg._name = arch
    ARCH_CONFIG_REGISTRY[arch](cfg)  # what fairseq does with --arch
    return task.build_model(cfg)


def first_batch(task, split="train", batch_size=8):
    task.load_dataset(split)
    itr = task.get_batch_iterator(dataset=task.dataset(split), max_sentences=batch_size)
    return next(iter(itr.next_epoch_itr(shuffle=False)))


UPDATES, PER_UPDATE = 3, 8


def batches(task, split="train", batch_size=PER_UPDATE):
    """Length-grouped batches (the task's sorted order, fairseq's batch_by_size), first UPDATES of them."""
    task.load_dataset(split)
    itr = task.get_batch_iterator(dataset=task.dataset(split), max_sentences=batch_size)
    return list(itr.next_epoch_itr(shuffle=False))[:UPDATES]


def singles(task, batch):
    """The utterances of ``batch`` as batch-size-1 samples (no padding), as the baseline sees them."""
    dataset = task.dataset("train")
    return [dataset.collater([dataset[int(i)]]) for i in batch["id"]]


def losses(model, task, updates, autocast=False, seed=0, optimizer=None):
    """Per-update summed losses of Adam updates; ``updates`` is a list of lists of samples (accumulated)."""
    torch.manual_seed(seed)
    criterion = MultimodalEmotionCriterion(task)
    optimizer = optimizer or torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    out = []
    for samples in updates:
        n = sum(s["nsentences"] for s in samples)
        total = 0.0
        for sample in samples:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss, _, _ = criterion(model, sample)
                (loss / n).backward()
            total += loss.item()
        optimizer.step()
        optimizer.zero_grad()
        out.append(total)
    return out


def with_dropout(model, p=0.1):
    """Set every fairseq dropout (encoders, attention) of ``model`` to ``p``."""
    for module in model.modules():
        if isinstance(module, FairseqDropout):  # MaskDropout (--fast-cpu-dropout) included
            module.p = p
    return model


TEXTS = ["Excuse me.", "Do you have your forms?", "Yeah.", "Let me see them.", "I am so happy today!",
         "This is terrible, I hate it.", "Okay, fine.", "Why did you do that?"]


def write_wav(path, seconds=0.3, sr=16000, channels=1, seed=0, silent=False):
    """A short noisy tone (or silence) written with soundfile."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wav = 0.3 * np.sin(2 * np.pi * (150 + 20 * seed) * t) + 0.05 * rng.standard_normal(t.size)
    wav = np.zeros_like(t) if silent else wav
    sf.write(str(path), np.stack([wav] * channels, axis=1) if channels > 1 else wav, sr)
    return path


def write_mp4(path, seconds=0.4, sr=48000, channels=2, seed=0, video=True, audio=True):
    """A short clip laid out like MELD's (mp4, AAC audio beside a tiny video track) whose sound is a tone
    of 150 + 20 * seed Hz with a little noise."""
    from emotion_bench.clips import write_clip

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * (150 + 20 * seed) * t) + 0.05 * rng.standard_normal(t.size)
    return write_clip(path, tone, sr, channels=channels, video=video, audio=audio)


def make_pretrained(root):
    """The files preparation reads from PRETRAINED: vq-wav2vec stand-in, both dict.txt, GPT-2 BPE."""
    from emotion_demo.bpe_training import train_bpe
    from emotion_demo.vq_wav2vec_standin import STANDIN_VARS, build_standin
    from emotion_core.layout import PretrainedLayout

    layout = PretrainedLayout(root)
    for d in (layout.speech_dict.parent, layout.text_dict.parent, layout.bpe_vocab.parent):
        d.mkdir(parents=True, exist_ok=True)
    build_standin(layout.vq_wav2vec, seed=0)
    layout.speech_dict.write_text("".join(f"{i}-{j} 1\n" for i in range(STANDIN_VARS) for j in range(STANDIN_VARS)))
    train_bpe(TEXTS * 3, layout.bpe_vocab.parent, vocab_size=300)
    ids = json.loads(layout.bpe_encoder_json.read_text(encoding="utf-8")).values()
    layout.text_dict.write_text("".join(f"{i} 1\n" for i in sorted(ids)))
    return layout


class InProcessPreprocess:
    """``fairseq-preprocess`` run in this process (same arguments, same code, no interpreter start-up)."""

    def __init__(self, args):
        from fairseq import options
        from fairseq_cli.preprocess import main

        main(options.get_preprocessing_parser().parse_args(args))
        self.returncode = 0

    def communicate(self):
        return "", None


def load_split(data_dir, modality, split):
    """Rows of a binarized split, decoded back to token strings through its dict.txt."""
    from fairseq.data import Dictionary, data_utils

    d = Dictionary.load(str(Path(data_dir) / modality / "dict.txt"))
    ds = data_utils.load_indexed_dataset(str(Path(data_dir) / modality / split), d)
    assert ds is not None, f"{data_dir}/{modality}/{split}.bin missing"
    return [d.string(ds[i]) for i in range(len(ds))]


def read_manifest_rows(data_dir):
    lines = (Path(data_dir) / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def speechlike(seconds, seed):
    """Voiced-sounding audio: harmonics of a gliding pitch under a syllable envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    f0 = rng.uniform(90, 250) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.3, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(h * phase) / h for h in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None)
    return (0.1 * voiced * envelope + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def fairseq_indices(model, wav):
    """What examples/wav2vec/vq-wav2vec_featurize.py computes for one utterance: (frames, groups)."""
    with torch.inference_mode():
        features = model.feature_extractor(torch.from_numpy(wav)[None])
        return model.vector_quantizer.forward_idx(features)[1].squeeze(0)


def make_manifest(root, rows=ROWS, header=HEADER, extra=""):
    root = Path(root)
    lines = [header]
    for i, (uid, label, session, score) in enumerate(rows):
        write_wav(root / "wav" / f"{uid}.wav", seconds=0.6 if uid == "a1" else 0.3, seed=i)
        start, end = ("0.1", "0.5") if uid == "a1" else ("", "")  # one segment of a longer file
        lines.append(f"{uid}\twav/{uid}.wav\t{start}\t{end}\t{TEXTS[i]}\t{label}\tspk{session}\t{session}\t{score}{extra}")
    (root / "manifest.tsv").write_text("\n".join(lines) + "\n")
    return root / "manifest.tsv"


def recognizer_for(rec, pretrained_dir, arch, target_type="multiclass", info=None):
    """A recognizer for ``arch`` built by the task from the pretrained checkpoints (random head), sharing
    ``rec``'s dictionaries and tokenizers; ``target_type``/``info`` choose its label space."""
    from emotion_core.label_spaces import label_space
    from emotion_inference.recognizer import EmotionRecognizer
    from emotion_models import ssl_emotion
    from emotion_models.ssl_emotion import SSLEmotionModel

    pre = Path(pretrained_dir)
    cfg = OmegaConf.structured(SSLEmotionConfig(speech_checkpoint=str(pre / "bert_kmeans" / "bert_kmeans.pt"),
                                                text_checkpoint=str(pre / "roberta.large" / "model.pt")))
    getattr(ssl_emotion, arch)(cfg)
    task = type("Task", (), {"speech_dictionary": rec.dicts["speech"], "text_dictionary": rec.dicts["text"]})
    torch.manual_seed(0)
    model = SSLEmotionModel.build_model(cfg, task)
    space = label_space(target_type, info)
    model.register_classification_head(space.head_shape)
    tokenizer = rec.tokenizer if "speech" in model.encoder_max_positions() else None
    bpe = rec.bpe if "text" in model.encoder_max_positions() else None
    return EmotionRecognizer(model, space, rec.dicts["speech"], rec.dicts["text"], tokenizer, bpe)


def srt_time(seconds):
    """SubRip's hh:mm:ss,mmm."""
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def joined_recording(corpus_dir, out_dir, per_label=1, silence_s=1.5, seed=0):
    """Demo utterances of the test session (``per_label`` of each emotion, alternating) joined by
    ``silence_s`` of faint noise, as ``recording.wav`` and ``recording.srt`` (one cue per utterance).

    Returns (wav path, srt path, utterances: dicts with id, wav, text, label, start, end in the recording).
    """
    import csv

    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    with open(corpus_dir / "manifest.tsv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["session"] == "Ses05"]
    by_label = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    picks = [by_label[label][k] for k in range(per_label) for label in sorted(by_label)]
    rng = np.random.default_rng(seed)
    pause = lambda: (0.002 * rng.standard_normal(int(silence_s * SR))).astype(np.float32)  # noqa: E731
    parts, utterances, t = [pause()], [], silence_s
    for r in picks:
        wav, sr = sf.read(str(corpus_dir / r["audio"]), dtype="float32")
        assert sr == SR, "the demo corpus is 16 kHz"
        utterances.append({"id": r["id"], "wav": corpus_dir / r["audio"], "text": r["text"], "label": r["label"],
                           "start": t, "end": t + len(wav) / SR})
        parts += [wav, pause()]
        t += len(wav) / SR + silence_s
    out_dir.mkdir(parents=True, exist_ok=True)
    wav_path, srt_path = out_dir / "recording.wav", out_dir / "recording.srt"
    sf.write(str(wav_path), np.concatenate(parts), SR)
    srt_path.write_text("".join(f"{i + 1}\n{srt_time(u['start'])} --> {srt_time(u['end'])}\n{u['text']}\n\n"
                                for i, u in enumerate(utterances)), encoding="utf-8")
    return wav_path, srt_path, utterances
