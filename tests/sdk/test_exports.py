"""`alephnet.sdk` loads its names on first use: what type checkers read, what `__all__` lists
and what `EXPORTS` loads at run time must name the same objects."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import alephnet.sdk as sdk


def type_checking_imports() -> dict[str, str]:
    """name -> module (under alephnet.sdk) of the imports under `if TYPE_CHECKING:`."""
    tree = ast.parse(Path(sdk.__file__).read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    return {
        alias.name: str(statement.module).removeprefix("alephnet.sdk.")
        for statement in block.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }


def test_type_checkers_all_and_run_time_name_the_same_modules() -> None:
    run_time = {name: module for module, names in sdk.EXPORTS.items() for name in names}
    assert type_checking_imports() == run_time
    assert sorted(sdk.__all__) == sorted(run_time)


@pytest.mark.parametrize("name", sdk.__all__)
def test_each_name_is_its_module_s_object(name: str) -> None:
    defining = importlib.import_module(f"alephnet.sdk.{type_checking_imports()[name]}")
    assert getattr(sdk, name) is getattr(defining, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = sdk.NoSuchThing  # type: ignore[attr-defined]


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(completed.stdout.split())


def test_importing_the_package_loads_none_of_its_modules() -> None:
    loaded = loaded_after("import alephnet.sdk")
    assert not {name for name in loaded if name.startswith("alephnet.sdk.")}


def test_a_reader_does_not_load_key_derivation_or_the_crn_client() -> None:
    loaded = loaded_after("from alephnet.sdk import AlephClient, NotFound")
    assert "alephnet.sdk.client" in loaded
    assert not {"eth_account", "alephnet.sdk.crn", "alephnet.sdk.authenticated"} & loaded
