"""`alephnet post ...`: posts, the network's documents (a type, a JSON content, amends)."""

from __future__ import annotations

from typing import Annotated

import typer

from alephnet.cli import output
from alephnet.cli.context import cli_context
from alephnet.cli.inputs import ContentFileOption, ContentOption, read_document
from alephnet.cli.options import (
    AddressesOption,
    ChannelOption,
    ChannelsOption,
    JsonOption,
    PageOption,
    PaginationOption,
    QuietOption,
    RefsOption,
    split,
)
from alephnet.sdk import NotFound, Post, PostPage

app = typer.Typer(help="Publish, amend and read posts.", no_args_is_help=True)

HashArgument = Annotated[str, typer.Argument(help="The item hash of the original post.")]


@app.command("send")
def send(
    ctx: typer.Context,
    post_type: Annotated[
        str, typer.Option("--type", "-t", help="The post type readers filter on.")
    ] = "note",
    ref: Annotated[
        str | None, typer.Option(help="What the post refers to (a hash, a URL...).")
    ] = None,
    channel: ChannelOption = None,
    content: ContentOption = None,
    file: ContentFileOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Publish a post whose content is a JSON document (--content, --file, or stdin).

    Waits until the node has processed it and prints its item hash: use it to amend or read it.
    """
    document = read_document(content, file)
    published = cli_context(ctx).write(
        lambda client: client.create_post(document, post_type, ref=ref, channel=channel)
    )
    output.print_published(published, as_json, quiet)


@app.command("amend")
def amend(
    ctx: typer.Context,
    item_hash: HashArgument,
    channel: ChannelOption = None,
    content: ContentOption = None,
    file: ContentFileOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Replace a post's content; readers then see the newest amend under the original hash."""
    document = read_document(content, file)
    published = cli_context(ctx).write(
        lambda client: client.amend(item_hash, document, channel=channel)
    )
    output.print_published(published, as_json, quiet)


@app.command("get")
def get(ctx: typer.Context, item_hash: HashArgument, as_json: JsonOption = False) -> None:
    """Show a post, with its latest amend applied."""
    page = cli_context(ctx).read(lambda client: client.get_posts(hashes=[item_hash]))
    if not page.posts:
        raise NotFound(f"no post {item_hash}")
    output.emit(page.posts[0], as_json, _print_post)


@app.command("list")
def list_posts(
    ctx: typer.Context,
    addresses: AddressesOption = None,
    types: Annotated[list[str] | None, typer.Option("--type", "-t", help="Post types.")] = None,
    channels: ChannelsOption = None,
    refs: RefsOption = None,
    page: PageOption = 1,
    pagination: PaginationOption = 20,
    as_json: JsonOption = False,
) -> None:
    """List posts, newest first, from every address unless filtered."""
    posts = cli_context(ctx).read(
        lambda client: client.get_posts(
            page=page,
            pagination=pagination,
            addresses=split(addresses),
            types=split(types),
            channels=split(channels),
            refs=split(refs),
        )
    )
    output.emit(posts, as_json, _print_posts)


def _print_post(post: Post) -> None:
    output.print_fields(
        {
            "hash": post.original_item_hash,
            "latest": post.item_hash,
            "type": post.type,
            "address": post.address,
            "channel": post.channel,
            "ref": post.ref,
            "time": output.format_time(post.time),
        }
    )
    output.print_document(post.content, title="content")


def _print_posts(page: PostPage) -> None:
    rows = [
        (post.original_item_hash, post.type, post.address, output.format_time(post.time))
        for post in page.posts
    ]
    title = f"posts: page {page.page}, {len(page.posts)} of {page.total}"
    output.print_table(rows, ["hash", "type", "address", "time"], title=title)
