"""Command groups imported on first use, so a command pays only for what it runs.

Importing every group up front costs more than most commands do: the SDK and its crypto
libraries, Rich, uvicorn and the node packages take about half a second of CPU, paid again by
every `alephnet` process, including `alephnet --help`. So the root knows its groups by name
only (a `LazyGroup`: the module that defines the group's Typer `app`, and the group's summary),
and imports a group's module the first time click asks for that command. Group modules import
their dependencies at the top, as usual; this is the one place that decides what loads when.

Listing the groups (the root's help, shell completion of `alephnet <TAB>`) shows each group's
summary and imports none of them; a test checks that each summary is its group's own help.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import click
import typer
from click.shell_completion import CompletionItem
from typer.core import TyperGroup
from typer.models import TyperInfo

LISTING = "alephnet.cli.lazy.listing"
"""`ctx.meta` key set while the root lists its groups (help, completion): summaries suffice."""


@dataclass(frozen=True, slots=True)
class LazyGroup:
    """A command group defined by the Typer `app` of `module`, described by `summary`."""

    module: str
    summary: str

    def load(self, name: str, parent: TyperGroup) -> TyperGroup:
        """The group, built as `parent.add_typer` would have built it (its markup mode)."""
        app: typer.Typer = importlib.import_module(self.module).app
        group = typer.main.get_group_from_info(
            TyperInfo(app),
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=parent.rich_markup_mode,
        )
        group.name = name
        return group

    def stand_in(self, name: str) -> click.Group:
        """A group that only names and describes this one, for listings."""
        return click.Group(name, help=self.summary)


class LazyGroups(TyperGroup):
    """A group whose subgroups are the `lazy_groups` of the subclass, loaded when resolved."""

    lazy_groups: ClassVar[Mapping[str, LazyGroup]] = {}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._loaded: dict[str, TyperGroup] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy_groups)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_groups.get(cmd_name)
        if lazy is None:
            return None
        if ctx.meta.get(LISTING):
            return lazy.stand_in(cmd_name)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = lazy.load(cmd_name, self)
        return self._loaded[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _listing(ctx):
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        with _listing(ctx):
            return super().shell_complete(ctx, incomplete)


@contextmanager
def _listing(ctx: click.Context) -> Iterator[None]:
    ctx.meta[LISTING] = True
    try:
        yield
    finally:
        del ctx.meta[LISTING]
