"""Count HTTP requests by method, route and status."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alephnet.ccn.api.telemetry import ApiTelemetry

UNMATCHED = "unmatched"


class RequestMetricsMiddleware:
    """The route label is the matched path template (`/api/v0/messages/{item_hash}`), which the
    router leaves in the scope: one series per route however many hashes are asked for. A
    request that matched no route counts as `unmatched`; one that failed before answering, 500.
    """

    def __init__(self, app: ASGIApp, telemetry: ApiTelemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.telemetry.count_request(scope["method"], _route_of(scope), status)


def _route_of(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED
