"""GET /health: the model served (architecture, label space, names) and what the service has done."""
from fastapi import APIRouter, Depends

from emotion_inference.explain import explanation_method
from emotion_inference.timeline import MAX_UTTERANCE_S
from emotion_serve.dependencies import ModelService, get_service

router = APIRouter(tags=["health"])


@router.get("/health")
def health(service: ModelService = Depends(get_service)):
    recognizer = service.recognizer
    model, space = recognizer.model, recognizer.label_space
    method = explanation_method(model)
    return {"status": "ok",
            "model": {"architecture": getattr(model.cfg, "_name", None), "fusion": str(model.cfg.fusion),
                      "modalities": list(recognizer.modalities), "label_space": space.describe(),
                      "value_names": space.value_names(), "probabilities": space.has_probabilities,
                      "explanation": method if method == "linear_split" or recognizer.modality_means else None},
            "limits": {"max_upload_mb": service.settings.max_upload_mb, "max_utterance_s": MAX_UTTERANCE_S},
            "vad": service.detector.name, "served": dict(service.batcher.stats)}
