"""Edits the notebooks' exercises make to the repository's own files, undone afterwards.

Notebook 04's exercise adds a field end to end: the transformer writes it, and the Glue table
declares it as a column, or Athena never shows it. The two files must stay in step: the
transformer (`lambda/transformer.py`) decides what is in each JSON line, the template's
OrdersTable decides which keys of a line Athena reads. `field_added` makes both edits the way a
learner makes them by hand, and puts both files back as they were when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workshop.config import LAMBDA_DIR, TEMPLATE_PATH
from workshop.errors import WorkshopError

# The lines each edit goes after: the last field the transformer sets, the last column.
TRANSFORMER_ANCHOR = '    item["event_time"] = _event_time(stream_record["dynamodb"])\n'
COLUMN_ANCHOR = ("            - { Name: event_time, Type: string, Comment: when the table "
                 "recorded the change }\n")


class ExerciseError(WorkshopError):
    """A file does not read as the exercise expects (edited already?)."""


def _insert_after(path: Path, anchor: str, line: str) -> str:
    """The file's text with `line` inserted after `anchor`; the original text."""
    text = path.read_text(encoding="utf-8")
    if text.count(anchor) != 1:
        raise ExerciseError(f"{path.name} does not have the line the exercise edits after "
                            f"({anchor.strip()!r}) exactly once; put it back with "
                            f"`git checkout -- {path.relative_to(path.parent.parent)}`.")
    path.write_text(text.replace(anchor, anchor + line), encoding="utf-8")
    return text


@contextmanager
def field_added(name: str, expression: str, glue_type: str,
                transformer: Path = LAMBDA_DIR / "transformer.py",
                template: Path = TEMPLATE_PATH) -> Iterator[None]:
    """Within the block, the transformer sets `item[name] = expression` (Python over `item`,
    the order as the transformer builds it) and the OrdersTable declares `name` as a column of
    `glue_type`; afterwards both files are as they were. Deploy inside the block to run it."""
    before_code = _insert_after(transformer, TRANSFORMER_ANCHOR,
                                f'    item["{name}"] = {expression}\n')
    try:
        before_template = _insert_after(
            template, COLUMN_ANCHOR,
            f"            - {{ Name: {name}, Type: {glue_type}, Comment: added by the "
            "exercise }\n")
    except ExerciseError:
        transformer.write_text(before_code, encoding="utf-8")
        raise
    try:
        yield
    finally:
        transformer.write_text(before_code, encoding="utf-8")
        template.write_text(before_template, encoding="utf-8")
