"""workshop.checks: the environment check prints OK/FAIL per requirement, each FAIL with a fix."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from workshop import checks, config
from workshop.checks import Check
from workshop.local.aws.ports import free_port


@pytest.fixture
def unreachable(tmp_path: Path) -> config.Settings:
    """The local target on a port where nothing listens, with an empty state folder."""
    return config.Settings(target="local", local_port=free_port(), state_dir=tmp_path)


def test_a_check_prints_ok_or_fail_and_the_fix_only_when_failing():
    assert str(Check("pandas", True, "version 2.2.3")) == "OK    pandas: version 2.2.3"
    failed = Check("pandas", False, "not importable", "pip install pandas")
    assert str(failed) == "FAIL  pandas: not importable\n      -> pip install pandas"


def test_requirements_come_from_the_installed_package_metadata():
    python, packages = checks.requirements()
    names = [name for name, _ in packages]
    assert python == ">=3.11"
    assert {"boto3", "pandas", "matplotlib", "duckdb", "pyyaml"} <= set(names)
    assert "pytest" not in names, "dev-only packages are not a learner's requirement"
    assert dict(packages)["sqlglot"] in ("<31,>=30", ">=30,<31")


def test_requirements_of_an_unknown_distribution_fall_back_to_the_python_floor():
    assert checks.requirements("no-such-distribution-xyz") == (checks.FALLBACK_PYTHON, [])


@pytest.mark.parametrize(("distribution", "module"),
                         [("pyyaml", "yaml"), ("duckdb", "duckdb"), ("moto", "moto")])
def test_a_distribution_maps_to_the_module_it_is_imported_as(distribution, module):
    assert checks.import_name(distribution) == module


def test_this_python_and_the_installed_packages_pass():
    python, packages = checks.requirements()
    assert checks.check_python(python).ok
    for distribution, spec in packages:
        result = checks.check_package(distribution, spec)
        assert result.ok, str(result)
        assert result.detail.startswith("version ")


def test_a_python_too_old_fails_with_how_to_get_a_new_one():
    result = checks.check_python(">=99")
    assert not result.ok
    assert "needs >=99" in result.detail and "environment.yml" in result.fix


def test_a_missing_package_fails_with_the_install_command():
    result = checks.check_package("no-such-package-xyz", ">=1")
    assert not result.ok
    assert result.detail == "not importable (ModuleNotFoundError)"
    assert "pip install -e '.[dev]'" in result.fix


def test_a_package_outside_the_accepted_range_fails_naming_the_range():
    result = checks.check_package("pandas", "<1")
    assert not result.ok
    assert "(needs <1)" in result.detail and "'pandas<1'" in result.fix


def test_the_template_passes_with_its_resource_count_and_no_absolute_path():
    result = checks.check_template()
    assert result.ok
    assert result.detail.startswith("cloudformation/pipeline.yaml (")
    assert "resources)" in result.detail


def test_a_missing_template_fails_with_how_to_restore_it(tmp_path):
    result = checks.check_template(tmp_path / "pipeline.yaml")
    assert not result.ok and "git checkout" in result.fix


def test_a_missing_transformer_fails(tmp_path):
    assert checks.check_lambda_source().ok
    assert not checks.check_lambda_source(tmp_path).ok


def test_disk_space_is_measured_where_the_state_will_live(tmp_path, monkeypatch):
    result = checks.check_disk(tmp_path / "not" / "yet" / "there")
    assert result.ok and result.detail.endswith("GB free (needs 1 GB)")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: SimpleNamespace(free=512 * 1024**2))
    small = checks.check_disk(tmp_path)
    assert not small.ok and small.detail == "0.5 GB free (needs 1 GB)"


def test_an_unreachable_local_aws_fails_with_how_to_start_it(unreachable):
    result = checks.check_local_aws(unreachable)
    assert not result.ok
    assert result.detail == f"nothing answers at http://127.0.0.1:{unreachable.local_port}"
    assert "workshop local start" in result.fix


def test_a_running_local_aws_passes(local_aws):
    result = checks.check_local_aws(local_aws)
    assert result.ok, str(result)
    assert "server and runtime running" in result.detail


def test_aws_target_without_credentials_fails_with_how_to_sign_in(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config.reset()
    result = checks.check_aws_credentials(config.Settings(target="aws", state_dir=tmp_path))
    assert not result.ok
    assert result.detail.startswith("no usable credentials")
    assert "aws sso login" in result.fix


def test_aws_target_with_credentials_names_the_account_and_region(monkeypatch, tmp_path):
    identity = SimpleNamespace(get_caller_identity=lambda: {"Account": "111122223333"})
    monkeypatch.setattr(config, "client", lambda service, s=None: identity)
    s = config.Settings(target="aws", region="eu-west-1", profile="workshop", state_dir=tmp_path)
    result = checks.check_aws_credentials(s)
    assert result == Check("AWS credentials", True,
                           "account 111122223333, region eu-west-1, profile workshop")


def test_check_environment_prints_every_line_and_a_summary(unreachable):
    printed: list[str] = []
    results = checks.check_environment(unreachable, out=printed.append)
    assert len(printed) == len(results) + 1
    assert results[0].name == "Python"
    assert results[-1].name == "local AWS" and not results[-1].ok
    assert printed[-1] == f"\n1 of {len(results)} checks FAILED: fix them (see the -> lines) " \
                          "before going on."


def test_check_environment_passes_everything_on_a_ready_machine(local_aws):
    printed: list[str] = []
    results = checks.check_environment(dataclasses.replace(local_aws), out=printed.append)
    assert all(r.ok for r in results), "\n".join(printed)
    assert printed[-1] == f"\nAll {len(results)} checks passed."
