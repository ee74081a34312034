"""`Server: aleph-vm/<version>` on every response: the reference's scoring service reads the
node's version from it (regex `aleph-vm/(.*)`)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alephnet import __version__

SERVER = f"aleph-vm/{__version__} (alephnet)".encode()


class ServerHeaderMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_server(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"server"
                ]
                message = {**message, "headers": [*headers, (b"server", SERVER)]}
            await send(message)

        await self.app(scope, receive, send_with_server)
