"""The instance base image on a devnet: stored on CCN 1 as a STORE of the dev wallet, so that
`alephnet instance create --rootfs <its hash>` works on a fresh devnet, as the CRN publishes its
runtime for programs.

The image is the one `scripts/build-crn-runtime` builds for the micro-VM executor (a Debian disk
that boots to sshd); it is published once per image content (`DIR/instance-image.json` keeps
its STORE's hash while the CCN has it).
"""

from __future__ import annotations

from pathlib import Path

from alephnet.crn.executors.base import ExecutorError
from alephnet.crn.supervisor.runtime import RuntimePublisher
from alephnet.sdk.accounts import Account
from alephnet.sdk.authenticated import AuthenticatedAlephClient

RECORD_NAME = "instance-image.json"


async def publish_instance_image(ccn_url: str, wallet: Account, root: Path) -> str | None:
    """The STORE hash of the base image; None when the image is not built."""
    image = built_instance_image()
    if image is None:
        return None
    async with AuthenticatedAlephClient(wallet, api_url=ccn_url) as client:
        return await RuntimePublisher(client, root / RECORD_NAME).publish_until_done(image)


def built_instance_image() -> Path | None:
    """Imported here: the micro-VM executor checks its host's tools when it is loaded."""
    try:
        from alephnet.crn.executors.microvm import instance_rootfs

        return instance_rootfs()
    except ExecutorError:
        return None
