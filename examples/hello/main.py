"""Hello world: a plain ASGI app (standard library only), run by a CRN as `main:app`."""

import json
import platform

STARTED = {"lifespan": False}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    body = json.dumps(
        {
            "message": "Hello from alephnet!",
            "path": scope["path"],
            "method": scope["method"],
            "python": platform.python_version(),
            "lifespan": STARTED["lifespan"],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            STARTED["lifespan"] = True
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
