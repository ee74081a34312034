"""What all content types share: the owner's address and the content's own time."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_CONTENT_TIME = 9_223_372_036.0


class StrictModel(BaseModel):
    """A model that refuses unknown keys: a typo in a message must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class BaseContent(StrictModel):
    """`address` owns the content (it may differ from the sender through delegation); `time` is
    the author's own clock, which orders aggregate revisions and post amends."""

    address: str
    time: float = Field(ge=0, le=MAX_CONTENT_TIME)
