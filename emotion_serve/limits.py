"""Request bodies above the upload limit get 413 before the application reads them whole."""
import json


class _TooLarge(Exception):
    pass


class UploadSizeLimit:
    """ASGI middleware: 413 for a declared Content-Length above ``max_bytes``, or a body that grows past it."""

    def __init__(self, app, max_bytes):
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send):
        body = json.dumps({"error": f"request body larger than the upload limit of {self.max_bytes / 2 ** 20:g} MB "
                                    "(--max-upload-mb)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        received, refused, started = 0, False, False

        async def counted_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:  # the application answered the interrupted body: replace its answer
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            pass
        if refused and not started:
            await self._refuse(send)
