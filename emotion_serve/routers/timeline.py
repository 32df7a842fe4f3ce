"""POST /timeline: emotion over time of a long recording (multipart: ``audio``, ``transcript``, ``explain``)."""
from typing import Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from emotion_core.constants import SAMPLE_RATE
from emotion_inference.timeline import timeline as compute_timeline
from emotion_serve.dependencies import ModelService, get_service
from emotion_serve.errors import ApiError
from emotion_serve.uploads import client_name, open_audio, parse_transcript_upload

router = APIRouter(tags=["timeline"])


def _queued_predict(batcher, explain):
    """Timeline segments predicted through the service's worker, between other requests."""
    def predict(items):
        futures = [batcher.submit(wav, text, SAMPLE_RATE, explain) for wav, text in items]
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except ValueError as err:  # this segment's problem: its row gets the message
                results.append(err)
        return results
    return predict


@router.post("/timeline")
async def timeline(audio: Optional[UploadFile] = File(None, description="the recording (WAV, FLAC, OGG)"),
                   transcript: Optional[UploadFile] = File(None, description="timed transcript: .srt, .vtt or .json"),
                   explain: bool = Form(False, description="add which modality decided, per segment"),
                   service: ModelService = Depends(get_service)):
    """``{"header", "segments"}``: the segmentation, then one row per speech segment (docs/inference.md)."""
    if audio is None:
        raise ApiError(400, "missing audio: send the recording as the multipart file field 'audio'")
    name = client_name(audio, "upload")
    words = None
    if transcript is not None:
        words = parse_transcript_upload(await transcript.read(), client_name(transcript, "upload"))
    file = open_audio(audio, name)

    def run():
        result = compute_timeline(service.recognizer, file, words, explain=explain, name=f"audio {name}",
                                  detector=service.detector, predict=_queued_predict(service.batcher, explain))
        return {"header": result.header, "segments": list(result.rows)}

    try:
        return await run_in_threadpool(run)
    except ValueError as err:  # undecodable stretch, a fused model without a transcript, ...
        raise ApiError(400, str(err)) from None
