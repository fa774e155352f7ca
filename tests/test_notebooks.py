"""The committed notebooks: executed in order, free of errors and machine paths, well formed.

These checks read the .ipynb files only (fast, no kernel). `pytest --nbval` then re-runs every
notebook and compares its outputs with the committed ones through tests/nbval_sanitize.cfg.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from workshop.config import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
SANITIZER = PROJECT_ROOT / "tests" / "nbval_sanitize.cfg"
NAME = re.compile(r"^\d\d_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")  # NN_verb_object.ipynb
MACHINE_PATH = re.compile(r"(/work/|/tmp/|/root/|/home/|/Users/|/private/var/|[A-Z]:\\\\)")
FIRST_CELL_PARTS = ("**Goal.**", "**Time.**", "**Prerequisites.**", "**What you will see.**")
EXERCISES_FROM, EXERCISES_TO = 2, 5  # notebooks 02..05 each have at least one exercise
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info"}
ids = [path.stem for path in NOTEBOOKS]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def source(cell: dict) -> str:
    text = cell["source"]
    return text if isinstance(text, str) else "".join(text)


def output_texts(cell: dict) -> list[str]:
    """Every text an output holds (stream text, every mime type except images)."""
    texts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            texts.append(source({"source": output["text"]}))
        for mime, value in output.get("data", {}).items():
            if not mime.startswith("image/"):
                texts.append(value if isinstance(value, str) else "".join(value)
                             if isinstance(value, list) else json.dumps(value))
        texts.extend(output.get("traceback", []))
    return texts


def sanitizer_patterns() -> list[tuple[str, str]]:
    """The (regex, replacement) pairs, read exactly as nbval reads them."""
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", SANITIZER.read_text(), re.MULTILINE)


def sanitize(text: str) -> str:
    for regex, replacement in sanitizer_patterns():
        text = re.sub(regex, replacement, text)
    return text


def test_the_notebooks_are_there_and_named_nn_verb_object():
    assert [path.name for path in NOTEBOOKS][:1] == ["00_setup.ipynb"]
    assert NOTEBOOKS[-1].name == "99_cleanup.ipynb", "cleanup must be the last notebook"
    for path in NOTEBOOKS:
        assert NAME.match(path.name), f"{path.name}: name notebooks NN_verb_object.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_is_executed_top_to_bottom_without_errors(path):
    counts = [cell.get("execution_count") for cell in code_cells(load(path))]
    assert None not in counts, (
        f"{path.name}: code cell {counts.index(None) + 1} has no execution count; execute the "
        "notebook top to bottom (Kernel > Restart Kernel and Run All Cells), then commit it")
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(counts)}: restart the kernel "
        "and run all cells once, in order")
    for number, cell in enumerate(code_cells(load(path)), start=1):
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, (f"{path.name}: code cell {number} has an error output "
                            f"({errors[0].get('ename')}: {errors[0].get('evalue')})")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_code_needs_no_path_hacks(path):
    for number, cell in enumerate(code_cells(load(path)), start=1):
        text = source(cell)
        assert "sys.path" not in text, (f"{path.name}: cell {number} edits sys.path; the "
                                        "package is installed: import it")
        assert not re.search(r"^\s*%run\b", text, re.MULTILINE), (
            f"{path.name}: cell {number} uses %run; import from workshop instead")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_outputs_and_metadata_hold_no_machine_specific_paths(path):
    notebook = load(path)
    for number, cell in enumerate(notebook["cells"], start=1):
        for text in output_texts(cell):
            found = MACHINE_PATH.search(text)
            assert not found, (f"{path.name}: cell {number} output shows a path of this "
                               f"machine ({found.group()}...): print names, not paths")
    assert not MACHINE_PATH.search(json.dumps(notebook["metadata"]))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_metadata_is_clean(path):
    notebook = load(path)
    assert set(notebook["metadata"]) <= ALLOWED_NOTEBOOK_METADATA, (
        f"{path.name}: notebook metadata {sorted(notebook['metadata'])}: keep only "
        f"{sorted(ALLOWED_NOTEBOOK_METADATA)}")
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for number, cell in enumerate(notebook["cells"], start=1):
        assert "execution" not in cell.get("metadata", {}), (
            f"{path.name}: cell {number} keeps execution timing metadata: strip it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_first_cell_says_goal_time_prerequisites_and_what_you_will_see(path):
    first = load(path)["cells"][0]
    assert first["cell_type"] == "markdown", f"{path.name}: start with a markdown cell"
    text = source(first)
    assert text.startswith("# "), f"{path.name}: the first cell opens with the title"
    missing = [part for part in FIRST_CELL_PARTS if part not in text]
    assert not missing, f"{path.name}: the first cell lacks {missing}"


def exercises(notebook: dict) -> list[int]:
    """Indexes of the "your code" cells: code cells tagged exercise."""
    return [index for index, cell in enumerate(notebook["cells"])
            if cell["cell_type"] == "code" and "exercise" in cell["metadata"].get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_every_exercise_is_followed_by_a_hidden_runnable_solution(path):
    notebook = load(path)
    cells = notebook["cells"]
    for index in exercises(notebook):
        assert source(cells[index]).startswith("# Your code here"), (
            f"{path.name}: exercise cell {index + 1} should start with '# Your code here'")
        assert cells[index - 1]["cell_type"] == "markdown" and "Exercise" in source(
            cells[index - 1]), f"{path.name}: put the exercise's text above cell {index + 1}"
        solution = cells[index + 1] if index + 1 < len(cells) else None
        assert solution is not None and solution["cell_type"] == "code", (
            f"{path.name}: exercise cell {index + 1} needs a solution code cell right after it")
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True, (
            f"{path.name}: the solution after cell {index + 1} must be hidden in JupyterLab "
            "(metadata jupyter.source_hidden = true)")
        assert source(solution).startswith("# Solution")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS
                                  if EXERCISES_FROM <= int(p.name[:2]) <= EXERCISES_TO],
                         ids=lambda p: p.stem)
def test_notebooks_02_to_05_each_have_an_exercise(path):
    assert exercises(load(path)), f"{path.name} needs at least one exercise"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_no_cell_escapes_comparison_but_by_ignore_output(path):
    for number, cell in enumerate(code_cells(load(path)), start=1):
        text = source(cell)
        for marker in ("NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION", "NBVAL_CHECK_OUTPUT"):
            assert marker not in text, f"{path.name}: cell {number} uses {marker}"
        tags = cell["metadata"].get("tags", [])
        assert not {"nbval-skip", "raises-exception", "nbval-ignore-output"} & set(tags)


def test_few_cells_are_excused_from_output_comparison():
    ignored = [(path.name, number) for path in NOTEBOOKS
               for number, cell in enumerate(code_cells(load(path)), start=1)
               if "# NBVAL_IGNORE_OUTPUT" in source(cell)]
    assert len(ignored) <= 2, f"too many cells escape comparison: {ignored}"


def readme_outline() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Notebooks\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, ("README.md needs a '## Notebooks' section listing each notebook on one "
                   "line, e.g. '1. [`00_setup`](notebooks/00_setup.ipynb): ...'")
    return [line for line in match.group(1).splitlines() if "notebooks/" in line]


def test_readme_outline_lists_every_notebook_once_in_order():
    lines = readme_outline()
    listed = [re.search(r"notebooks/(\d\d_\w+\.ipynb)", line).group(1) for line in lines]
    actual = [path.name for path in NOTEBOOKS]
    assert listed == actual, (
        f"README.md's '## Notebooks' outline lists {listed}, notebooks/ holds {actual}: one "
        "line per notebook, in order")


def test_sanitizer_patterns_compile():
    patterns = sanitizer_patterns()
    assert len(patterns) >= 10
    for regex, _ in patterns:
        re.compile(regex)


@pytest.mark.parametrize("text", [
    "generated 303 = delivered 303 + failed 0 (+ 0 duplicate lines)",
    "  product_name  total_units\n0       Tablet          314\n1   Smartwatch          292",
    "latest_event\nINSERT    298\nMODIFY      3\nREMOVE      2\nName: count, dtype: int64",
    "  items in the table            301\n  records in Kinesis            309",
    "b'{\"orderid\":\"f2a74de452e6b438\",\"product_name\":\"Phone\",\"quantity\":7,"
    "\"price\":864.18}\\n'",
    "0        Phone      52    283  149637.73",
    "Wrote 3 orders to learner-OrderTable",
    "updated 3 and deleted 2 orders",
    '"recordId": "err-123",\n      "result": "ProcessingFailed",\n'
    '      "data": "invalid_data_here"',
])
def test_sanitizer_leaves_key_results_alone(text):
    assert sanitize(text).split() == text.split()  # spacing between words is all that changes


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-28 13:48:27,882 INFO Wrote 300 orders to learner-OrderTable in 1.8 s (170/s, "
     "burst, 0 retries)",
     "<timestamp> INFO Wrote 300 orders to learner-OrderTable in <n> s (<n>/s, burst, 0 retries)"),
    ("local AWS on 127.0.0.1:57887 since 2026-11-28T13:47:18+00:00 (server pid 15092, "
     "runtime pid 15287)",
     "local AWS on 127.0.0.1:<port> since <timestamp> (server pid <pid>, runtime pid <pid>)"),
    ("orders/datehour=2026-11-28-13/learner-orders-to-s3-1-2026-11-28-13-48-27-"
     "10a1c332-7320-4037-bc4e-bae41cf38494",
     "orders/datehour=<yyyy-MM-dd-HH>/learner-orders-to-s3-1-<timestamp>-<uuid>"),
    ('"SequenceNumber": "1100000000017454423009"', '"SequenceNumber": "<seq>"'),
    ("sequence number: 304", "sequence number: <seq>"),
    ('"ApproximateCreationDateTime": 1795873706.802', '"ApproximateCreationDateTime": <epoch>'),
    ('"approximateArrivalTimestamp": 1795873707084', '"approximateArrivalTimestamp": <epoch-ms>'),
    ('"eventID": "7c7618b132824674aeb2a3c5c9af7bf4"', '"eventID": "<event-id>"'),
    ("OK    pandas: version 3.1.1 (needs >=2.2)", "OK    pandas: version <version> (needs >=2.2)"),
    ("13:48:07  learner-sales-pipeline     CREATE_COMPLETE",
     "<hh:mm:ss>  learner-sales-pipeline     CREATE_COMPLETE"),
    ("units_per_product_today: scanned 0.05 MB (billed 10 MB), $0.000048; 9 projected "
     "partition(s) listed (today's hours so far)",
     "units_per_product_today: scanned 0.05 MB (billed 10 MB), $0.000048; <n> projected "
     "partition(s) listed (today's hours so far)"),
])
def test_sanitizer_normalises_what_varies_between_runs(text, expected):
    assert sanitize(text).split() == expected.split()


def test_sanitizer_ignores_only_the_width_of_the_spacing_between_words():
    assert sanitize("0  a1   INSERT 2") == sanitize("0 a1 INSERT    2")
    assert sanitize("  indented  x") == "  indented\tx"
    assert sanitize("303 orders") != sanitize("308 orders")
