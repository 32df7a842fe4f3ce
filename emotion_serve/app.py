"""The application factory: one loaded model, a router per concern, JSON errors, an upload limit.

>>> app = create_app(EmotionRecognizer.from_checkpoint(ckpt, pretrained))  # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""
from contextlib import asynccontextmanager
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from emotion_serve.batcher import Batcher
from emotion_serve.dependencies import ModelService, ServeSettings
from emotion_serve.errors import HANDLERS
from emotion_serve.limits import UploadSizeLimit
from emotion_inference.vad import load_vad
from emotion_serve.routers import health, page, predict, timeline
from emotion_serve.routers.page import STATIC


def create_app(recognizer, settings=ServeSettings()):
    """A FastAPI app serving ``recognizer``: POST /predict, POST /timeline, GET /health, GET / (the page)."""

    @asynccontextmanager
    async def lifespan(app):
        app.state.service.batcher.start()
        yield
        app.state.service.batcher.stop()

    app = FastAPI(title="Multimodal speech emotion recognition", lifespan=lifespan)
    app.state.service = ModelService(recognizer, Batcher(recognizer), load_vad(settings.vad), settings)
    for exc, handler in HANDLERS.items():
        app.add_exception_handler(exc, handler)
    app.add_middleware(UploadSizeLimit, max_bytes=int(settings.max_upload_mb * 2 ** 20))
    for router in (predict.router, timeline.router, health.router, page.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
