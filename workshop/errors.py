"""The workshop's one exception base: every error a user can meet derives from WorkshopError.

Its message says what was wrong, where, and what to do next. The `workshop` command prints that
message on one line and exits 1, never a traceback (workshop.cli); a notebook shows it as the
exception's text. Each module keeps its own small subclasses (`StackError`, `QueryError`, ...);
they also derive from the built-in exception they always were (ValueError, TimeoutError, ...),
so code that caught those goes on catching them.
"""

from __future__ import annotations


class WorkshopError(Exception):
    """Something the user can act on; the message says what was wrong and the next step."""


class InvalidValue(WorkshopError, ValueError):
    """A value given to the workshop (an argument, a setting) is outside what it accepts."""


class QueryError(WorkshopError, RuntimeError):
    """A query failed; the message is Athena's reason (or the local engine's) and the next step."""


class UnsupportedQuery(QueryError):
    """The local engine cannot run this query faithfully; Athena on the aws target may."""

    def __init__(self, message: str, function: str | None = None) -> None:
        super().__init__(message)
        self.function = function  # the function refused, when one is to blame
