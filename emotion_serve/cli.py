"""Serve a fine-tuned model over HTTP, with a page to try it (see docs/serving.md).

    python scripts/serve.py --checkpoint CKPT --pretrained PRETRAINED [--host 127.0.0.1] [--port 8000] \\
        [--max-upload-mb 50]
    (or emotion-serve ...)

Binds to 127.0.0.1 (this machine only) unless ``--host`` says otherwise. Endpoints: POST /predict,
POST /timeline, GET /health, GET / (the page); interactive API documentation at /docs.
"""
import argparse
import logging
from pathlib import Path

import uvicorn

from emotion_fairseq.safe_checkpoint import CheckpointLoadError
from emotion_inference.recognizer import EmotionRecognizer
from emotion_inference.vad import VAD_CHOICES
from emotion_serve.app import create_app
from emotion_serve.dependencies import ServeSettings

logger = logging.getLogger("serve")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, type=Path, help="fine-tuned checkpoint written by fairseq-train")
    p.add_argument("--pretrained", required=True, type=Path,
                   help="folder with the pretrained layout (dicts, vq-wav2vec, BPE)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest request body in MB (413 above)")
    p.add_argument("--vad", choices=VAD_CHOICES, default="auto", help="voice activity detector of /timeline")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--max-tokens", type=int, default=8192, help="padded positions per batch")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on AVX512-bf16/AMX CPUs; ~1e-2 off)")
    p.add_argument("--fast-tokenizer", action="store_true", help="vq-wav2vec convolutions as matrix products")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port must lie in [0, 65535], got {args.port}")
    if not args.max_upload_mb > 0:
        p.error(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(name)s | %(message)s")
    logging.getLogger("fairseq.models.wav2vec").setLevel(logging.WARNING)  # it logs the whole vq-wav2vec module
    try:
        recognizer = EmotionRecognizer.from_checkpoint(args.checkpoint, args.pretrained, device=args.device,
                                                       max_tokens=args.max_tokens, bf16=args.bf16,
                                                       exact_tokens=not args.fast_tokenizer)
    except (CheckpointLoadError, FileNotFoundError, ValueError) as err:
        logger.error("%s", err)
        return 1
    app = create_app(recognizer, ServeSettings(max_upload_mb=args.max_upload_mb, vad=args.vad))
    logger.info("serving %s (%s) on http://%s:%d", args.checkpoint, " + ".join(recognizer.modalities), args.host,
                args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
