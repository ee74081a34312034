"""Accessors: module functions taking an `AsyncSession` first. They never commit: the caller
(the pipeline, or an API request) owns the transaction."""
