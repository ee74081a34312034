"""Disk image files the executors make on the host: sparse ext4 images for volumes.

A persistent volume is `volume.ext4` in its folder under the CRN's data dir, made on first
use at the volume's `size_mib`: the file system's size is the volume's quota, whether a
micro-VM mounts it as a virtio disk or the sandbox executor loop-mounts it on the host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from alephnet.crn.executors.base import ExecutorError

PERSISTENT_IMAGE = "volume.ext4"
DEFAULT_VOLUME_MIB = 64


def persistent_image(folder: Path, size_mib: int | None, content: Path | None = None) -> Path:
    """The persistent volume's image in `folder`, made (holding `content`) if it is missing."""
    image = folder / PERSISTENT_IMAGE
    if not image.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make_ext4(image, size_mib or DEFAULT_VOLUME_MIB, journal=True, content=content)
    return image


def make_ext4(
    image: Path,
    size_mib: int,
    journal: bool,
    content: Path | None = None,
    options: tuple[str, ...] = (),
) -> None:
    """A sparse file formatted ext4: it takes host disk space only as the guest writes.

    `content` (a folder) is copied in by mkfs itself (`-d`), owners and modes kept; `options`
    go to mkfs as they are. Made under a temporary name, so a crash never leaves a
    half-formatted persistent volume.
    """
    partial = image.with_suffix(".partial")
    with partial.open("wb") as file:
        file.truncate(size_mib * 1024 * 1024)
    features = [] if journal else ["-O", "^has_journal"]
    populate = ["-d", str(content)] if content is not None else []
    result = subprocess.run(
        [
            *("mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0"),
            *(features + populate + list(options)),
            str(partial),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        output = (result.stderr or result.stdout).strip()
        raise ExecutorError(f"mkfs.ext4 of {image} ({size_mib} MiB) failed: {output}")
    partial.rename(image)
