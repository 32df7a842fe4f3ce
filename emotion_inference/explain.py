"""Which modality decided a prediction (``predict(..., explain=True)``, ``emotion-predict --explain``).

Two methods, chosen by the model:

* ``linear_split`` (the shallow fusion of speech and text): the head is one linear layer over
  concat(speech CLS, text CLS), so each logit is exactly
  ``W_speech · x_speech + W_text · x_text + b``; the explanation gives the three parts per logit
  (they add up to the logit to float rounding).
* ``mean_replacement`` (co-attention, and single-modality models): each modality's part of the
  fused vector (for co-attention, that modality's CLS vector after it attended to the other one)
  is replaced by its mean over the training split, and the explanation gives the prediction
  without the modality and the change, prediction minus that, per value. The means are computed
  once by ``emotion-modality-means`` and saved next to the checkpoint (:mod:`.modality_means`).

Explanations run in float32 (also for a recognizer with ``bf16=True``). With a calibration
temperature T (``EmotionRecognizer.temperature``), the logits the probabilities come from are the
head's divided by T: so are the split's parts, which still add up to them.
"""
import torch

from emotion_models.fusion import ShallowFusion


def explanation_method(model):
    """``linear_split`` for the shallow fusion of two modalities, else ``mean_replacement``."""
    fusion = model.fusion
    return "linear_split" if isinstance(fusion, ShallowFusion) and len(fusion.widths) > 1 else "mean_replacement"


def modality_slices(model):
    """{modality: slice of the fused vector}, in the fusion's order."""
    slices, start = {}, 0
    for modality, width in model.fusion.widths.items():
        slices[modality] = slice(start, start + width)
        start += width
    return slices


def _linear_split(model, fused, space, temperature):
    """Per utterance, per logit: the speech part, the text part and the bias (float64, exact sum), over T."""
    weight = model.head.out_proj.weight.double() / temperature  # (O, D)
    bias = model.head.out_proj.bias.double() / temperature  # (O,)
    x = fused.double()  # (B, D)
    parts = {m: x[:, s] @ weight[:, s].T for m, s in modality_slices(model).items()}  # each (B, O)
    logits = sum(parts.values()) + bias  # (B, O)
    names = space.logit_names()
    return [{"method": "linear_split", "temperature": temperature,
             "logits": [{"name": name, "logit": float(logits[b, o]),
                         **{m: float(p[b, o]) for m, p in parts.items()}, "bias": float(bias[o])}
                        for o, name in enumerate(names)]}
            for b in range(x.size(0))]


def _mean_replacement(model, fused, space, predictions, means, temperature):
    """Per utterance: the prediction with each modality replaced by its training mean, and the change."""
    if means is None:
        raise ValueError("explaining a co-attention or single-modality model needs each modality's training-set "
                         "mean vector: run emotion-modality-means --checkpoint CKPT --pretrained DIR --data DATA_DIR "
                         "once (it writes CKPT's .modality_means.json, read by from_checkpoint)")
    without = {}
    for modality, where in modality_slices(model).items():
        replaced = fused.clone()  # (B, D)
        replaced[:, where] = means.means[modality].to(replaced)
        without[modality] = space.outputs(model.head(replaced) / temperature)
    out = []
    for b, prediction in enumerate(predictions):
        values = space.values(prediction)
        out.append({"method": "mean_replacement", "temperature": temperature,
                    "means": {"split": means.split, "utterances": means.utterances},
                    "without": {m: w[b] for m, w in without.items()},
                    "change": {m: {n: values[n] - v for n, v in space.values(w[b]).items()}
                               for m, w in without.items()}})
    return out


@torch.inference_mode()
def explain_batch(recognizer, batch):
    """``[{"prediction", "explanation"}]`` of a batch of :class:`~.recognizer.Encoded` (one forward pass)."""
    model, space = recognizer.model, recognizer.label_space
    temperature = recognizer.temperature or 1.0
    fused = model.fused_features(**recognizer.collate(batch)).float()  # (B, D)
    predictions = space.outputs((model.head(fused) / temperature).cpu())
    if explanation_method(model) == "linear_split":
        explanations = _linear_split(model, fused.cpu(), space, temperature)
    else:
        explanations = _mean_replacement(model, fused, space, predictions, recognizer.modality_means, temperature)
    return [{"prediction": p, "explanation": e} for p, e in zip(predictions, explanations)]
