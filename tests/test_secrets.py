"""Nothing secret is committed: no AWS keys, no real account ids, in notebooks, docs or code."""

from __future__ import annotations

import re
import subprocess

import pytest

from workshop.config import PROJECT_ROOT

ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
SECRET_ASSIGNMENT = re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{30,}")
# An account id where one is named: inside an ARN, or after the word "account".
ACCOUNT_ID = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12}):"
                        r"|[Aa]ccount\W{0,3}(?:id\W{0,3})?([0-9]{12})\b")
MOTO_ACCOUNT = "123456789012"  # moto's fixed account: the only one the local target shows
SCANNED = ("notebooks/", "docs/", "README.md", "workshop/", "lambda/", "cloudformation/",
           "benchmarks/", "environment.yml", "pyproject.toml")


def committed_text_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", *SCANNED], cwd=PROJECT_ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    return [name for name in listed if not name.endswith((".png", ".zip"))]


def test_the_scan_sees_the_notebooks_and_the_package():
    files = committed_text_files()
    assert "notebooks/00_setup.ipynb" in files
    assert "workshop/config.py" in files


@pytest.mark.parametrize("name", committed_text_files())
def test_no_aws_key_or_real_account_id_is_committed(name):
    text = (PROJECT_ROOT / name).read_text(errors="replace")
    assert not ACCESS_KEY_ID.search(text), f"{name} holds something shaped like an access key id"
    assert not SECRET_ASSIGNMENT.search(text), f"{name} assigns an AWS secret key"
    accounts = {"".join(found) for found in ACCOUNT_ID.findall(text)} - {MOTO_ACCOUNT}
    assert not accounts, f"{name} shows account id(s) {sorted(accounts)}"
