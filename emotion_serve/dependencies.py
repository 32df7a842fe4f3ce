"""The loaded model, given to the routers as a dependency."""
from dataclasses import dataclass

from fastapi import Request

from emotion_serve.batcher import Batcher


@dataclass
class ServeSettings:
    max_upload_mb: float = 50.0  # request bodies above this get 413
    vad: str = "auto"  # voice activity detector of timelines (emotion_inference.vad)


@dataclass
class ModelService:
    """The recognizer, its worker thread, the voice activity detector and the settings (one per app)."""

    recognizer: object
    batcher: Batcher
    detector: object  # the voice activity detector, shared by every timeline request
    settings: ServeSettings


def get_service(request: Request) -> ModelService:
    return request.app.state.service
