"""GET /: the single page (upload or record audio, type the transcript, see bars, explanation, timeline)."""
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter(tags=["page"])


@router.get("/", include_in_schema=False)
def index():
    return FileResponse(STATIC / "index.html")
