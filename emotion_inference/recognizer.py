"""Emotion of new recordings and their transcripts with a fine-tuned ``ssl_emotion`` checkpoint.

:class:`EmotionRecognizer` loads, once, everything inference needs: the vq-wav2vec k-means
tokenizer, the fine-tuned model (through fairseq's ``checkpoint_utils``), both dictionaries and
the GPT-2 BPE. It tokenizes exactly as ``scripts/prepare_data.py`` + ``fairseq-preprocess`` + the
``multimodal_emotion`` task do, token for token:

* speech: audio -> float32 mono 16 kHz (soundfile/soxr) -> one ``"g0-g1"`` token per 10 ms frame ->
  at most :data:`MAX_SPEECH_FRAMES` frames -> dictionary ids + ``</s>`` -> truncated to the encoder's
  positions minus one -> ``<s>`` prepended; for a wav2vec 2.0 / HuBERT / data2vec model the 16 kHz
  samples themselves, at most :data:`MAX_SPEECH_SAMPLES` (the same 20.46 s; no vq-wav2vec needed);
* text: transcript -> GPT-2 BPE ids -> dictionary ids + ``</s>`` -> truncated likewise -> ``<s>``.

>>> rec = EmotionRecognizer.from_checkpoint("checkpoints/checkpoint_best.pt", "pretrained")  # doctest: +SKIP
>>> rec.predict("utt.wav", "I can't believe it!")  # doctest: +SKIP
{'neutral': 0.08, 'happy': 0.91, 'sad': 0.02, 'angry': 0.05}
"""
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import torch
from fairseq import checkpoint_utils
from fairseq.data import Dictionary, data_utils

import emotion_models  # noqa: F401  (registers model ssl_emotion, installs safe checkpoint loading)
import emotion_tasks  # noqa: F401  (registers task multimodal_emotion)
from emotion_core.calibration_file import read_temperature
from emotion_core.constants import FRAME_SAMPLES, MAX_SPEECH_FRAMES, MAX_SPEECH_SAMPLES, SAMPLE_RATE
from emotion_core.labels import LabelInfo
from emotion_core.layout import PretrainedLayout
from emotion_data.bpe import load_bpe
from emotion_data.speech_tokenizer import SpeechTokenizer
from emotion_fairseq.safe_checkpoint import CheckpointLoadError
from emotion_inference.audio_input import to_mono_16k
from emotion_inference.explain import explain_batch
from emotion_inference.modality_means import ModalityMeans, means_path
from emotion_inference.timeline import Segmentation, timeline
from emotion_inference.transcripts import read_transcript
from emotion_models.waveform import is_waveform
from emotion_tasks.multimodal_emotion import check_model_name, stored_label_space

logger = logging.getLogger(__name__)

LONG_AUDIO_POLICIES = ("truncate", "error")  # what to do with audio of more than MAX_SPEECH_FRAMES frames


class PredictionError(ValueError):
    """Why item ``index`` of :meth:`EmotionRecognizer.predict_batch` has no prediction (its place in the results)."""

    def __init__(self, index, message):
        self.index, self.message = index, message
        super().__init__(f"item {index}: {message}")


def _item_fields(item):
    """(audio, text, sample_rate) of a predict_batch item: a dict, or a 2- or 3-tuple."""
    if isinstance(item, dict):
        unknown = set(item) - {"audio", "text", "sample_rate"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(map(str, unknown))}; an item has audio, text, sample_rate")
        return item.get("audio"), item.get("text"), item.get("sample_rate")
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        return (*item, None)[:3]
    raise ValueError(f"expected a dict or an (audio, text[, sample_rate]) tuple, got {type(item).__name__}")


@dataclass
class Encoded:
    """Model inputs of one utterance: ``<s>``-prefixed token ids (or 16 kHz samples), None for a modality the
    model ignores."""

    speech: Optional[torch.Tensor]  # (Ts,) long token ids, or (S,) float samples for a waveform encoder
    text: Optional[torch.Tensor]  # (Tt,) long
    speech_frames: int = 0  # 10 ms frames of the audio before truncation (0 when speech is unused)

    def cost(self):
        """Padded length that this utterance adds to a batch (speech positions or samples + text positions)."""
        return sum(len(t) for t in (self.speech, self.text) if t is not None)


def pretrained_dictionary(path):
    """A pretrained model's ``dict.txt`` + ``<mask>``, as the task (and fairseq's masked_lm) builds it."""
    dictionary = Dictionary.load(str(path))
    dictionary.add_symbol("<mask>")
    return dictionary


class EmotionRecognizer:
    """A fine-tuned ``ssl_emotion`` model with its tokenizers, ready for raw audio and text.

    Args:
        model: ``SSLEmotionModel`` with its head registered.
        label_space: the checkpoint task's label space (:mod:`emotion_core.label_spaces`): its class
            or dimension names and how logits become predictions.
        speech_dict, text_dict: the task's dictionaries (``dict.txt`` + ``<mask>``); ``speech_dict`` is None
            for a waveform speech encoder.
        tokenizer: :class:`SpeechTokenizer` (None for a text-only model or a waveform speech encoder).
        bpe: fairseq ``GPT2BPE`` (None for a speech-only model).
        device: where the model and the tokenizer run.
        long_audio: ``"truncate"`` (keep the first :data:`MAX_SPEECH_FRAMES` frames, 20.46 s, log a
            warning, as data preparation does) or ``"error"`` (raise ValueError).
        max_tokens: padded positions per batch in :meth:`predict_batch`.
        bf16: run the model under bfloat16 autocast (CPU with AVX512-bf16/AMX, or CUDA); off by
            default because probabilities then differ from fp32 by up to about 1e-2. The linear
            layers' weights are cast once, at the first bf16 prediction (autocast would cast them
            at every call: same numbers, half the memory traffic); the model's weights must not
            change afterwards.
        unpadded: run the encoders on the real tokens only (``model.set_unpadded_encoders``; same
            probabilities to about 1e-6, less compute: no padding, and for the shallow fusion a
            last layer at the CLS position only).
        temperature: divide the logits by it before the softmax (temperature scaling of class
            probabilities, fitted on the validation split by ``emotion-experiment``); None: as trained.
        modality_means: :class:`~emotion_inference.modality_means.ModalityMeans` of the model, which
            explanations of co-attention and single-modality models need (None: not available).
    """

    def __init__(self, model, label_space, speech_dict, text_dict, tokenizer=None, bpe=None, device="cpu",
                 long_audio="truncate", max_tokens=8192, bf16=False, unpadded=True, temperature=None,
                 modality_means=None):
        if long_audio not in LONG_AUDIO_POLICIES:
            raise ValueError(f"long_audio must be one of {LONG_AUDIO_POLICIES}, got {long_audio!r}")
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.model.set_unpadded_encoders(unpadded)
        self.label_space = label_space
        self.target_type = label_space.target_type
        self.dicts = {"speech": speech_dict, "text": text_dict}
        self.max_positions = dict(model.encoder_max_positions())  # {modality: positions}
        self.modalities = tuple(m for m in ("speech", "text") if m in self.max_positions)
        self.speech_input = model.speech_input  # "tokens", "waveform" or None
        if self.speech_input == "tokens" and tokenizer is None:
            raise ValueError("this model reads speech tokens: a vq-wav2vec tokenizer is required")
        if "text" in self.modalities and bpe is None:
            raise ValueError("this model reads text: a GPT-2 BPE is required")
        self.tokenizer, self.bpe = tokenizer, bpe
        self.long_audio = long_audio
        self.max_tokens = max_tokens
        self.bf16 = bf16
        self._bf16_weights = None  # {parameter name: bf16 copy} of the linear layers, made on first use
        if temperature is not None and not label_space.has_probabilities:
            raise ValueError(f"a temperature applies to class probabilities, not to {label_space.kind} scores")
        self.temperature = temperature
        self.modality_means = modality_means

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_checkpoint(cls, checkpoint, pretrained_dir, device="cpu", exact_tokens=True, calibrated=True,
                        modality_means="auto", **kwargs):
        """Load a fairseq-train checkpoint of ``ssl_emotion`` and the pretrained tokenizers it needs.

        The checkpoint's data directory need not exist: the dictionaries come from
        ``pretrained_dir`` (``bert_kmeans/dict.txt``, ``roberta.large/dict.txt``, each + ``<mask>``),
        which must also hold ``vq-wav2vec_kmeans.pt`` (Speech-BERT models) and ``gpt2_bpe/`` (text
        models). A model with a wav2vec 2.0 / HuBERT / data2vec speech encoder reads the audio itself:
        it needs neither vq-wav2vec nor ``bert_kmeans/``. The pretrained encoders' weights are not
        read: the checkpoint holds them.
        ``exact_tokens=False`` runs vq-wav2vec's convolutions as matrix products (faster on CPU;
        a token can differ from fairseq's where two codewords tie to float rounding, see
        :class:`SpeechTokenizer`). ``calibrated``: apply the temperature kept beside the checkpoint
        (``<checkpoint>.calibration.json``, written by ``emotion-experiment``) when there is one.
        ``modality_means``: the file written by ``emotion-modality-means`` (for explanations of
        co-attention and single-modality models); ``"auto"`` reads the checkpoint's
        ``.modality_means.json`` when it exists, None reads none. ``kwargs`` go to the constructor (``long_audio``, ``max_tokens``, ``bf16``, ``unpadded``).
        """
        layout = PretrainedLayout(pretrained_dir)
        state = _read_checkpoint(checkpoint)
        waveform = is_waveform(getattr(state["cfg"]["model"], "speech_args", None))
        layout.check(*(() if waveform else (layout.speech_dict,)), layout.text_dict)
        speech_dict = None if waveform else pretrained_dictionary(layout.speech_dict)
        text_dict = pretrained_dictionary(layout.text_dict)
        model, task = _load_model_and_task(checkpoint, state, speech_dict, text_dict)
        modalities = model.encoder_max_positions()
        tokenizer = bpe = None
        if model.speech_input == "tokens":
            tokenizer = SpeechTokenizer.from_checkpoint(layout.check(layout.vq_wav2vec).vq_wav2vec, device=device,
                                                        exact=exact_tokens)
        if "text" in modalities:
            layout.check(layout.bpe_encoder_json, layout.bpe_vocab)
            bpe = load_bpe(layout.bpe_encoder_json, layout.bpe_vocab)
        temperature = read_temperature(checkpoint) if calibrated and task.label_space.has_probabilities else None
        if modality_means == "auto":
            modality_means = means_path(checkpoint) if means_path(checkpoint).is_file() else None
        means = None if modality_means is None else ModalityMeans.load(modality_means, model)
        return cls(model, task.label_space, speech_dict, text_dict, tokenizer, bpe, device, temperature=temperature,
                   modality_means=means, **kwargs)

    # ------------------------------------------------------------------ tokenization
    def _finish(self, modality, line):
        """Token line -> ids exactly as fairseq-preprocess + the task: ids + </s>, truncate, <s> first."""
        dictionary = self.dicts[modality]
        ids = dictionary.encode_line(line, add_if_not_exist=False, append_eos=True).long()
        ids = ids[: self.max_positions[modality] - 1]  # the task's TruncateDataset(max_positions - 1)
        return torch.cat([ids.new_tensor([dictionary.bos()]), ids])

    def speech_tokens(self, audio, sample_rate=None):
        """``"g0-g1"`` tokens of ``audio`` after the long-audio policy, and the frame count before it."""
        wav = to_mono_16k(audio, sample_rate)
        tokens = self.tokenizer.tokenize(wav)  # ValueError for audio too short for one frame
        frames = len(tokens)
        if not frames:
            raise ValueError(f"no speech frame from {len(wav)} samples")
        if frames > MAX_SPEECH_FRAMES:
            seconds = frames * FRAME_SAMPLES / SAMPLE_RATE
            where = audio if isinstance(audio, (str, Path)) else "audio array"
            if self.long_audio == "error":
                raise ValueError(f"{where}: {frames} speech frames ({seconds:.1f} s) exceed the "
                                 f"{MAX_SPEECH_FRAMES} that Speech-BERT's positions hold; cut the audio, "
                                 "or pass long_audio='truncate' to keep its first "
                                 f"{MAX_SPEECH_FRAMES * FRAME_SAMPLES / SAMPLE_RATE:.2f} s")
            logger.warning("%s: %d speech frames (%.1f s) truncated to the first %d (%.2f s), as in data "
                           "preparation", where, frames, seconds, MAX_SPEECH_FRAMES,
                           MAX_SPEECH_FRAMES * FRAME_SAMPLES / SAMPLE_RATE)
            tokens = tokens[:MAX_SPEECH_FRAMES]
        return tokens, frames

    def text_line(self, text):
        """GPT-2 BPE ids of ``text`` as a token line; ValueError for a missing, empty or non-str transcript."""
        if isinstance(text, (bytes, bytearray)):
            raise ValueError(f"the transcript is {type(text).__name__}, not str: decode it first "
                             "(e.g. text.decode('utf-8'))")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"the transcript must be a str, got {type(text).__name__}")
        if text is None or not text.strip():
            raise ValueError(f"empty transcript {text!r}: this model reads text, and an empty "
                             "transcript would give a wrong answer without any sign; pass the words spoken")
        return self.bpe.encode(text.strip())  # as data preparation: bpe.encode(text.strip())

    def speech_samples(self, audio, sample_rate=None):
        """16 kHz samples of ``audio`` after the long-audio policy (as data preparation keeps them), and the
        10 ms frames before it: what a waveform speech encoder reads."""
        wav = to_mono_16k(audio, sample_rate)
        if len(wav) > MAX_SPEECH_SAMPLES:
            seconds, kept = len(wav) / SAMPLE_RATE, MAX_SPEECH_SAMPLES / SAMPLE_RATE
            where = audio if isinstance(audio, (str, Path)) else "audio array"
            if self.long_audio == "error":
                raise ValueError(f"{where}: {seconds:.1f} s of audio exceed the {kept:.2f} s ({MAX_SPEECH_SAMPLES} "
                                 "samples) that data preparation keeps; cut the audio, or pass "
                                 f"long_audio='truncate' to keep its first {kept:.2f} s")
            logger.warning("%s: %.1f s of audio truncated to the first %.2f s, as in data preparation", where,
                           seconds, kept)
        return torch.from_numpy(wav[:MAX_SPEECH_SAMPLES]), len(wav) // FRAME_SAMPLES

    def encode(self, audio=None, text=None, sample_rate=None):
        """Model inputs of one utterance; only the modalities the model reads are required."""
        speech = text_ids = None
        frames = 0
        if "speech" in self.modalities:
            if audio is None:
                raise ValueError("this model reads speech: pass audio (a wav path or an array)")
            if self.speech_input == "waveform":
                speech, frames = self.speech_samples(audio, sample_rate)
            else:
                tokens, frames = self.speech_tokens(audio, sample_rate)
                speech = self._finish("speech", " ".join(tokens))
        if "text" in self.modalities:
            text_ids = self._finish("text", self.text_line(text))
        return Encoded(speech, text_ids, frames)

    # ------------------------------------------------------------------ prediction
    def collate(self, batch):
        """Right-pad each modality with its dictionary's pad index (audio with zeros and a padding mask):
        net_input of the model."""
        net_input = {}
        for m in self.modalities:
            values = [getattr(e, m) for e in batch]
            if m == "speech" and self.speech_input == "waveform":
                lengths = torch.tensor([len(v) for v in values])
                net_input["speech_source"] = data_utils.collate_tokens(values, 0.0).to(self.device)  # (B, S)
                net_input["speech_padding_mask"] = (torch.arange(int(lengths.max()))[None, :]
                                                    >= lengths[:, None]).to(self.device)  # (B, S)
            else:
                net_input[f"{m}_tokens"] = data_utils.collate_tokens(values, self.dicts[m].pad()).to(self.device)
        return net_input

    def _linear_weights_in_bf16(self):
        """bf16 copies of every linear layer's weight and bias: what autocast casts them to at each call."""
        if self._bf16_weights is None:
            self._bf16_weights = {
                f"{name}.{kind}": tensor.detach().to(torch.bfloat16)
                for name, module in self.model.named_modules() if isinstance(module, torch.nn.Linear)
                for kind, tensor in (("weight", module.weight), ("bias", module.bias)) if tensor is not None}
        return self._bf16_weights

    @torch.inference_mode()
    def _forward(self, batch):
        """Model outputs of a batch of :class:`Encoded`, as float32 on the CPU."""
        net_input = self.collate(batch)
        if not self.bf16:
            logits = self.model(**net_input)
        else:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                logits = torch.func.functional_call(self.model, self._linear_weights_in_bf16(), kwargs=net_input,
                                                    strict=False)
        logits = logits.float().cpu()
        return logits if self.temperature is None else logits / self.temperature

    def batches(self, encoded: List[Encoded]):
        """Index lists of length-sorted batches of ``encoded``, each within ``max_tokens`` padded positions.

        A waveform model predicts each utterance alone: padding would change its features (the base
        releases' first convolution block normalizes over time, padding included).
        """
        order = sorted(range(len(encoded)), key=lambda i: encoded[i].cost(), reverse=True)
        batchable = self.speech_input != "waveform"
        start = 0
        while start < len(order):
            end = start + 1  # longest first: a batch's padded cost is its size x its first item's cost
            while (batchable and end < len(order)
                   and (end - start + 1) * encoded[order[start]].cost() <= self.max_tokens):
                end += 1
            yield order[start:end]
            start = end

    def predict_encoded(self, encoded: List[Encoded], explain=False):
        """Predictions of already encoded utterances, batched by length, in the input order.

        ``explain=True``: each result is ``{"prediction", "explanation"}`` (:mod:`.explain`).
        """
        results = [None] * len(encoded)
        for batch in self.batches(encoded):
            items = [encoded[i] for i in batch]
            outs = explain_batch(self, items) if explain else self.label_space.outputs(self._forward(items))
            for i, out in zip(batch, outs):
                results[i] = out
        return results

    def predict(self, audio=None, text=None, sample_rate=None, explain=False):
        """Emotion of one utterance: audio (wav path or array; ``sample_rate`` required for arrays) and text.

        Returns, by the checkpoint's label space, named with its classes or dimensions:
        ``{class: probability}`` summing to 1 (categorical; decision: the most probable class),
        ``{class: P(class present)}`` (per_class_binary; decision: p > 0.5), a float score
        (regression), or ``{dimension: value}`` (dimensional).
        Speech-only models ignore ``text`` and text-only models ignore ``audio``. Raises ValueError
        for silent or empty audio and empty transcripts of a modality the model reads.
        ``explain=True`` returns ``{"prediction": ..., "explanation": ...}``: which modality decided
        (:mod:`emotion_inference.explain`).
        """
        return self.predict_encoded([self.encode(audio, text, sample_rate)], explain)[0]

    def predict_batch(self, items, explain=False):
        """Predictions of many utterances, batched by length (sorted, padded, returned in input order).

        ``items``: dicts with keys ``audio``, ``text`` and optionally ``sample_rate``, or
        ``(audio, text)`` / ``(audio, text, sample_rate)`` tuples. An item that cannot be predicted
        (bad audio, empty transcript, a malformed item) does not stop the others: its place in the
        returned list holds a :class:`PredictionError` naming the item and the problem.
        """
        encoded, results = {}, [None] * len(items)
        for i, item in enumerate(items):
            try:
                encoded[i] = self.encode(*_item_fields(item))
            except ValueError as err:
                results[i] = PredictionError(i, str(err))
        for i, prediction in zip(encoded, self.predict_encoded(list(encoded.values()), explain)):
            results[i] = prediction
        return results

    def timeline(self, audio, transcript=None, sample_rate=None, segmentation=None, explain=False):
        """Emotion over time of a long recording: a :class:`~emotion_inference.timeline.Timeline`.

        ``audio``: a wav path, an open binary file or an array with ``sample_rate``; ``transcript``:
        a :class:`~emotion_inference.transcripts.Transcript` or the path of a .srt, .vtt or .json file
        (required by models that read text). Speech regions come from voice activity detection and
        are cut into segments of bounded length and overlap (``segmentation``,
        :class:`~emotion_inference.timeline.Segmentation`); each is predicted as an utterance
        (``explain`` as in :meth:`predict`). ``header`` is ready at once; ``rows`` yields one dict per
        segment (``start``, ``end``, ``text``, ``prediction``, ``decision``, ``error``), computed as it is read.
        """
        if isinstance(transcript, (str, Path)):
            transcript = read_transcript(transcript)
        return timeline(self, audio, transcript, sample_rate, segmentation or Segmentation(), explain)

    def prediction_fields(self, prediction):
        """Flat output columns of a prediction (all None for a failed utterance): see ``emotion-predict``."""
        return self.label_space.fields(prediction)

    def decisions(self, prediction):
        """What ``fairseq-validate --save-predictions`` writes as ``pred`` for a prediction of :meth:`predict`."""
        return self.label_space.decision(prediction)


def _read_checkpoint(checkpoint):
    """A fine-tuned checkpoint's state, loaded safely (fairseq's loader, checked by emotion_fairseq)."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}" if not checkpoint.exists()
                                else f"checkpoint {checkpoint} is not a regular file")
    return checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))


def _load_model_and_task(checkpoint, state, speech_dict, text_dict):
    """The fine-tuned model (eval mode) and its task, with dictionaries from the pretrained directory."""
    from fairseq.tasks import TASK_REGISTRY

    checkpoint = Path(checkpoint)
    task_cfg, model_cfg = state["cfg"].get("task"), state["cfg"].get("model")
    task_name = getattr(task_cfg, "_name", None)
    try:
        if task_name != "multimodal_emotion":
            raise ValueError(f"it is a checkpoint of task '{task_name}', not of multimodal_emotion")
        check_model_name(model_cfg)
    except ValueError as err:
        raise CheckpointLoadError(f"{checkpoint}: {err}; inference needs a checkpoint written by fairseq-train "
                                  "--task multimodal_emotion") from None
    stored = stored_label_space(model_cfg)
    info = None if stored is None else LabelInfo.from_json(stored["labels"], f"{checkpoint}: model.label_space")
    task = TASK_REGISTRY[task_name](task_cfg, speech_dict, text_dict, label_info=info)
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(checkpoint)], task=task, state=state)
    return models[0].eval(), task
