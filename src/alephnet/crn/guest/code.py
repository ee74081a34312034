"""Putting the program's code in place and finding its entry point.

The encodings follow the reference runtime: a zip is extracted, plain source is executed as
a module (ASGI) or written out as an executable file, and a squashfs volume is already
mounted at `code_mount`. In every case the code's folder goes first on `sys.path`, followed
by `/opt/packages` (where a program's pip volume is conventionally mounted). In a micro-VM,
the SDK image mounted at `/opt/sdk` goes last, and this `alephnet` package extends its
`__path__` to `/opt/sdk/alephnet`, so that `import alephnet.sdk` works there as it does in
the sandbox (which binds the host's venv).
"""

from __future__ import annotations

import importlib
import io
import os
import shlex
import stat
import sys
import types
from pathlib import Path
from typing import Any

from alephnet.crn.guest.configuration import GuestConfiguration

PACKAGES_FOLDER = "/opt/packages"
SDK_FOLDER = "/opt/sdk"
DEFAULT_APP_ATTRIBUTE = "app"


class CodeError(Exception):
    """The code cannot be installed or its entry point cannot be found."""


def install_code(configuration: GuestConfiguration, code: bytes, code_dir: Path) -> Path:
    """Put the code where it runs from; return that folder."""
    if configuration.encoding == "squashfs":
        if not configuration.code_mount:
            raise CodeError("squashfs code needs a code_mount")
        return Path(configuration.code_mount)
    code_dir.mkdir(parents=True, exist_ok=True)
    if configuration.encoding == "zip":
        extract_zip(code, code_dir)
    elif configuration.encoding == "plain":
        if configuration.interface == "executable":
            write_executable(code_dir / configuration.entrypoint, code)
    else:
        raise CodeError(f"unknown code encoding {configuration.encoding!r}")
    return code_dir


def extract_zip(code: bytes, code_dir: Path) -> None:
    import zipfile  # imported on use: plain and squashfs programs start faster without it

    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            for member in archive.infolist():
                target = (code_dir / member.filename).resolve()
                if not target.is_relative_to(code_dir.resolve()):
                    raise CodeError(f"zip member {member.filename!r} points outside the code")
            archive.extractall(code_dir)
    except zipfile.BadZipFile as error:
        raise CodeError(f"the code is not a valid zip archive: {error}") from error


def write_executable(path: Path, code: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(code)
    make_executable(path)


def make_executable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def prepare_import_path(code_folder: Path) -> None:
    os.chdir(code_folder)
    for folder in (PACKAGES_FOLDER, str(code_folder)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    add_sdk(SDK_FOLDER)


def add_sdk(folder: str) -> None:
    """Make the SDK image at `folder` importable, if there is one: its packages after
    everything else on `sys.path`, its `alephnet` subpackages (sdk, protocol) beside this
    runtime's, pkgutil-style. Nothing of it is read before a program imports from it."""
    subpackages = os.path.join(folder, "alephnet")
    if not os.path.isdir(subpackages):
        return
    if folder not in sys.path:
        sys.path.append(folder)
    package = sys.modules["alephnet"]
    if subpackages not in package.__path__:
        package.__path__.append(subpackages)


def split_entrypoint(entrypoint: str) -> tuple[str, str]:
    module_name, _, attribute = entrypoint.partition(":")
    if not module_name:
        raise CodeError(f"entrypoint {entrypoint!r} names no module")
    return module_name, attribute or DEFAULT_APP_ATTRIBUTE


def load_asgi_app(configuration: GuestConfiguration, code: bytes, code_folder: Path) -> Any:
    """Import (or, for plain source, execute) the module and return its ASGI app."""
    prepare_import_path(code_folder)
    module_name, attribute = split_entrypoint(configuration.entrypoint)
    if configuration.encoding == "plain":
        module = execute_source(module_name, code)
    else:
        module = importlib.import_module(module_name)
    app: Any = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError as error:
            raise CodeError(f"{module_name!r} has no attribute {attribute!r}") from error
    if not callable(app):
        raise CodeError(f"{configuration.entrypoint!r} is not callable")
    return app


def execute_source(module_name: str, code: bytes) -> types.ModuleType:
    module = types.ModuleType(module_name)
    module.__file__ = f"<{module_name}>"
    sys.modules[module_name] = module
    exec(compile(code, module.__file__, "exec"), module.__dict__)
    return module


def executable_command(configuration: GuestConfiguration, code_folder: Path) -> list[str]:
    """The command that starts an executable program.

    The entrypoint is a file of the code (made executable: zip archives do not keep modes) or,
    failing that, a command line run in the code's folder (`python3 server.py`).
    """
    candidate = code_folder / configuration.entrypoint
    if candidate.is_file():
        if not os.access(candidate, os.X_OK) and configuration.encoding != "squashfs":
            make_executable(candidate)
        command = [str(candidate)]
    else:
        command = shlex.split(configuration.entrypoint)
    if not command:
        raise CodeError("the executable entrypoint is empty")
    return [*command, *(configuration.args or [])]
