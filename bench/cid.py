"""Throughput of the streaming CIDv0 builder, next to bare SHA-256 on the same bytes.

Every byte of a file is hashed once in its leaf and the tree above adds well under 1% of hashing,
so bare SHA-256 is the ceiling: the gap between the two figures is the builder's own overhead.

    .venv/bin/python bench/cid.py [--mib 256]

Writes bench/results/cid.json.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import platform
import random
import time
from pathlib import Path

from alephnet.protocol.cid import CHUNK_SIZE, CidBuilder

MIB = 1024 * 1024
DISTINCT_PIECES = 8
"""Pre-generated 1 MiB pieces, cycled: generating random bytes must stay out of the timing."""

RESULTS = Path(__file__).resolve().parent / "results" / "cid.json"


def make_pieces() -> list[bytes]:
    rng = random.Random(0)
    return [rng.randbytes(MIB) for _ in range(DISTINCT_PIECES)]


def time_builder(pieces: list[bytes], mib: int) -> tuple[float, str]:
    start = time.perf_counter()
    builder = CidBuilder()
    for piece in itertools.islice(itertools.cycle(pieces), mib):
        builder.update(piece)
    cid = builder.cid_v0()
    return time.perf_counter() - start, cid


def time_sha256(pieces: list[bytes], mib: int) -> float:
    start = time.perf_counter()
    hasher = hashlib.sha256()
    for piece in itertools.islice(itertools.cycle(pieces), mib):
        hasher.update(piece)
    hasher.digest()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB of data to hash (default 256)")
    args = parser.parse_args()
    mib: int = args.mib

    pieces = make_pieces()
    builder_seconds, cid = time_builder(pieces, mib)
    sha256_seconds = time_sha256(pieces, mib)
    result = {
        "benchmark": "CidBuilder.cid_v0, 1 MiB updates",
        "mib": mib,
        "chunk_size": CHUNK_SIZE,
        "seconds": round(builder_seconds, 4),
        "mib_per_s": round(mib / builder_seconds, 1),
        "sha256_mib_per_s": round(mib / sha256_seconds, 1),
        "cid": cid,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{mib} MiB in {builder_seconds:.3f} s: {result['mib_per_s']} MiB/s "
        f"(bare SHA-256: {result['sha256_mib_per_s']} MiB/s) -> {RESULTS}"
    )


if __name__ == "__main__":
    main()
