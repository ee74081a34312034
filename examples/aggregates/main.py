"""Reads and writes an aggregate on the CCN through `alephnet.sdk`.

- `GET /{key}`: the program's aggregate `key` (404 if it has none).
- `POST /{key}` with a JSON object: merged into the aggregate `key`, signed with the program's
  key; answers the message's hash.

The signing key comes from the program's `variables` (`PRIVATE_KEY`, 64 hex digits); the API
URL from `ALEPH_API_HOST`, which the CRN sets for programs with `environment.aleph_api`: its
guest API, which reaches the CCN through the supervisor, so the program needs no internet.
"""

import json
import os

from alephnet.sdk import AuthenticatedAlephClient, import_account
from alephnet.sdk.exceptions import AlephError, NotFound


def client():
    account = import_account(os.environ["PRIVATE_KEY"])
    return AuthenticatedAlephClient(account, api_url=os.environ["ALEPH_API_HOST"])


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def respond(send, status, document):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    key = scope["path"].strip("/") or "example"
    async with client() as aleph:
        try:
            if scope["method"] == "POST":
                content = json.loads(await read_body(receive) or b"{}")
                published = await aleph.create_aggregate(key, content)
                await respond(send, 200, {"item_hash": published.item_hash})
            else:
                value = await aleph.fetch_aggregate(aleph.address, key)
                await respond(send, 200, {"address": aleph.address, key: value})
        except NotFound:
            await respond(send, 404, {"error": f"no aggregate {key!r} yet"})
        except (AlephError, ValueError) as error:
            await respond(send, 502, {"error": str(error)})
