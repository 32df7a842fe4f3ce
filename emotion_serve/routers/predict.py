"""POST /predict: one utterance (multipart: ``audio`` file, ``text`` field, optional ``explain``)."""
import asyncio
from typing import Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from emotion_inference.timeline import MAX_UTTERANCE_S
from emotion_serve.dependencies import ModelService, get_service
from emotion_serve.errors import ApiError
from emotion_serve.uploads import client_name, decode_audio

router = APIRouter(tags=["predict"])


def prediction_response(recognizer, result, explain):
    """The JSON of one prediction: prediction, decision, named values and (explain) the explanation."""
    prediction = result["prediction"] if explain else result
    out = {"prediction": prediction, "decision": recognizer.decisions(prediction),
           "values": recognizer.label_space.values(prediction)}
    if explain:
        out["explanation"] = result["explanation"]
    return out


@router.post("/predict")
async def predict(audio: Optional[UploadFile] = File(None, description="the recording (WAV, FLAC, OGG)"),
                  text: Optional[str] = Form(None, description="what was said (models that read text)"),
                  explain: bool = Form(False, description="add which modality decided"),
                  service: ModelService = Depends(get_service)):
    """Emotion of one utterance of at most 20.46 s; longer recordings go to POST /timeline."""
    recognizer, samples, rate = service.recognizer, None, None
    if "speech" in recognizer.modalities:
        if audio is None:
            raise ApiError(400, "missing audio: send the recording as the multipart file field 'audio'")
        name = client_name(audio, "upload")
        samples, rate = await run_in_threadpool(decode_audio, await audio.read(), name)
        seconds = len(samples) / rate
        if seconds > MAX_UTTERANCE_S:
            raise ApiError(400, f"audio {name} lasts {seconds:.1f} s, more than the {MAX_UTTERANCE_S} s of one "
                                "utterance: send long recordings to POST /timeline")
    try:
        result = await asyncio.wrap_future(service.batcher.submit(samples, text, rate, explain))
    except ValueError as err:  # silent audio, empty transcript, ...
        raise ApiError(400, str(err)) from None
    return prediction_response(recognizer, result, explain)
