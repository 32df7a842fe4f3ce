"""Every error leaves the service as JSON ``{"error": message}`` with its HTTP status."""
import logging

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the service refuses: ``status`` and a message that says what to send instead."""

    def __init__(self, status, message):
        self.status, self.message = status, message
        super().__init__(message)


def error_response(status, message, **extra):
    return JSONResponse({"error": message, **extra}, status_code=status)


async def api_error(request: Request, exc: ApiError):
    return error_response(exc.status, exc.message)


async def validation_error(request: Request, exc: RequestValidationError):
    problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())[1:])) or 'request'}: {e.get('msg')}"
                         for e in exc.errors())
    detail = jsonable_encoder([{k: e.get(k) for k in ("loc", "msg", "type")} for e in exc.errors()])
    return error_response(422, f"invalid request: {problems}", detail=detail)


async def http_error(request: Request, exc: HTTPException):
    return error_response(exc.status_code, str(exc.detail))


async def unexpected_error(request: Request, exc: Exception):
    logger.exception("unexpected error on %s", request.url.path)
    return error_response(500, f"internal error ({type(exc).__name__}); the server goes on")


HANDLERS = {ApiError: api_error, RequestValidationError: validation_error, HTTPException: http_error,
            Exception: unexpected_error}
