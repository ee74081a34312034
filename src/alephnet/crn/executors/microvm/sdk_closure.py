"""Prints, as JSON, the files a program needs to `import alephnet.sdk` (run as a script).

Run by `sdk_image` in a fresh interpreter of the CRN's venv, so that `sys.modules` holds the
SDK's import closure and nothing of the CRN: the `alephnet` subpackages it loads (the CRN and
CCN excluded), and every installed distribution one of its modules comes from, with the
distributions these require (what loads only on use, like httpx's transports). Output: a list
of `[source, destination]`, the destination relative to the image's root.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import pkgutil
import re
import sys
from pathlib import Path

# Loaded at start-up (the venv's .pth hooks), not by the SDK.
STARTUP_MODULES = frozenset(sys.modules)
HOST_ONLY_PARTS = ("crn", "ccn")
REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def import_sdk() -> Path:
    """Import every module of the SDK (its names load lazily); return the `alephnet` folder."""
    import alephnet.sdk

    for module in pkgutil.iter_modules(alephnet.sdk.__path__, "alephnet.sdk."):
        importlib.import_module(module.name)
    return Path(alephnet.sdk.__file__).parent.parent


def alephnet_files(package: Path) -> list[tuple[str, str]]:
    """The loaded `alephnet` subpackages, whole, without the package's own `__init__.py`
    (the guest runtime's `alephnet` extends its `__path__` to the image instead)."""
    loaded = {
        name.split(".")[1]
        for name in sys.modules
        if name.startswith("alephnet.") and name.split(".")[1] not in HOST_ONLY_PARTS
    }
    return [
        (str(path), str(path.relative_to(package.parent)))
        for part in sorted(loaded)
        for path in sorted((package / part).rglob("*.py"))
    ]


def loaded_distributions() -> set[str]:
    owners = importlib.metadata.packages_distributions()
    return {
        distribution
        for name in set(sys.modules) - STARTUP_MODULES
        if "." not in name and name != "alephnet"
        for distribution in owners.get(name, [])
    }


def required(distribution: str) -> list[str]:
    """The distributions `distribution` needs unconditionally (no extras)."""
    requirements = importlib.metadata.requires(distribution) or []
    return [
        match.group(0)
        for requirement in requirements
        if "extra ==" not in requirement
        and (match := REQUIREMENT_NAME.match(requirement)) is not None
    ]


def distribution_closure(roots: set[str]) -> set[str]:
    found: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        try:
            canonical = importlib.metadata.distribution(name).metadata["Name"]
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement for another Python version or platform
        if canonical in found:
            continue
        found.add(canonical)
        pending += required(canonical)
    return found


def distribution_files(name: str) -> list[tuple[str, str]]:
    distribution = importlib.metadata.distribution(name)
    return [
        (str(distribution.locate_file(file)), str(file))
        for file in distribution.files or []
        if ".." not in file.parts and "__pycache__" not in file.parts
    ]


def main() -> None:
    files = alephnet_files(import_sdk())
    for name in sorted(distribution_closure(loaded_distributions())):
        files += distribution_files(name)
    json.dump(sorted(set(files)), sys.stdout)


if __name__ == "__main__":
    main()
