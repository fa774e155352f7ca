"""The exercise's edits: both files changed in step within the block, both put back after it."""

from __future__ import annotations

import shutil

import pytest

from workshop import exercise
from workshop.config import LAMBDA_DIR, TEMPLATE_PATH


@pytest.fixture
def copies(tmp_path):
    (tmp_path / "lambda").mkdir()
    (tmp_path / "cloudformation").mkdir()
    code = shutil.copy(LAMBDA_DIR / "transformer.py", tmp_path / "lambda" / "transformer.py")
    template = shutil.copy(TEMPLATE_PATH, tmp_path / "cloudformation" / "pipeline.yaml")
    return code, template


def test_the_field_is_added_to_the_transformer_and_the_table_then_both_are_put_back(copies):
    code, template = copies
    before = code.read_text(), template.read_text()
    with exercise.field_added("total", "round(item['quantity'] * item['price'], 2)",
                              "double", code, template):
        assert "    item[\"total\"] = round(item['quantity'] * item['price'], 2)\n" in \
            code.read_text()
        assert "- { Name: total, Type: double, Comment: added by the exercise }" in \
            template.read_text()
        compile(code.read_text(), "transformer.py", "exec")  # still Python
    assert (code.read_text(), template.read_text()) == before


def test_the_files_are_put_back_when_the_block_fails(copies):
    code, template = copies
    before = code.read_text(), template.read_text()
    with pytest.raises(ZeroDivisionError), exercise.field_added("x", "1", "int", code, template):
        1 / 0  # noqa: B018 - the block fails
    assert (code.read_text(), template.read_text()) == before


def test_a_file_edited_already_is_named_and_nothing_is_changed(copies):
    code, template = copies
    template.write_text(template.read_text().replace("Name: event_time", "Name: happened_at"))
    before = code.read_text(), template.read_text()
    with pytest.raises(exercise.ExerciseError, match=r"pipeline\.yaml does not have the line"), \
            exercise.field_added("total", "1", "int", code, template):
        pass
    assert (code.read_text(), template.read_text()) == before
