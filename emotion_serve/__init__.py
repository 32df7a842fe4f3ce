"""HTTP service and web page for a fine-tuned model: ``emotion-serve`` (FastAPI app, uvicorn server)."""
