"""`python3 -m alephnet.crn.guest --channel-fd N | --channel-device PATH [--code-dir DIR]`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from alephnet.crn.guest.channel import open_device_channel, open_socket_channel
from alephnet.crn.guest.runtime import GuestRuntime, exit_now

DEFAULT_CODE_DIR = Path("/opt/code")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="alephnet.crn.guest", description="The alephnet CRN guest runtime."
    )
    channel = parser.add_mutually_exclusive_group(required=True)
    channel.add_argument("--channel-fd", type=int, help="an inherited, connected socket")
    channel.add_argument("--channel-device", help="a character device (virtio-serial port)")
    parser.add_argument(
        "--code-dir", type=Path, default=DEFAULT_CODE_DIR, help="where zip/plain code is put"
    )
    return parser.parse_args()


async def serve(arguments: argparse.Namespace) -> int:
    if arguments.channel_device:
        reader, writer = await open_device_channel(arguments.channel_device)
    else:
        reader, writer = await open_socket_channel(arguments.channel_fd)
    return await GuestRuntime(reader, writer, arguments.code_dir).run()


def main() -> None:
    exit_now(asyncio.run(serve(parse_arguments())))


if __name__ == "__main__":
    main()
