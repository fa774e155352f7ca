"""The `workshop` command: known failures print one clear line and exit 1, never a traceback."""

import subprocess
import sys

import pytest

from workshop import cli, config
from workshop.local.aws.ports import free_port


@pytest.fixture
def nowhere(monkeypatch, tmp_path):
    """Settings pointing at a port where no local AWS runs."""
    monkeypatch.setenv("WORKSHOP_LOCAL_PORT", str(free_port()))
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("WORKSHOP_TARGET", raising=False)
    config.reset()
    yield
    config.reset()


def test_status_says_how_to_start_the_local_aws(nowhere, capsys):
    assert cli.main(["local", "status"]) == 0
    assert "start it with `workshop local start`" in capsys.readouterr().out


def test_local_status_answers_without_importing_moto_or_matplotlib(nowhere):
    """`workshop local status|start|stop` took 8 s importing moto's server and matplotlib,
    which only the server process and the charts need (here 9 s and 1.6 s to import)."""
    code = ("import sys; from workshop import cli; code = cli.main(['local', 'status']); "
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'moto', 'matplotlib'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.splitlines()[-1] == "0 []"


def test_a_command_that_needs_the_local_aws_says_it_is_not_running(nowhere, capsys):
    assert cli.main(["outputs"]) == 1
    error = capsys.readouterr().err
    assert "the local AWS is not running: start it with `workshop local start`" in error
    assert "Traceback" not in error


def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("WORKSHOP_TARGET", "cloud")
    config.reset()
    assert cli.main(["local", "status"]) == 1
    assert "WORKSHOP_TARGET is 'cloud'" in capsys.readouterr().err


def test_every_subcommand_is_documented_in_the_readme(project_root):
    readme = (project_root / "README.md").read_text()
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    missing = [name for name in commands if f"workshop {name}" not in readme]
    assert not missing, f"README does not show: {missing}"


def test_a_parameter_without_a_value_is_one_clear_line(nowhere, capsys):
    assert cli.main(["deploy", "-p", "BufferIntervalSeconds"]) == 1
    error = capsys.readouterr().err
    assert "-p 'BufferIntervalSeconds' is not KEY=VALUE" in error
    assert "Traceback" not in error


def test_the_aws_target_without_credentials_says_how_to_get_them(monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "WORKSHOP_AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup either
    monkeypatch.setenv("WORKSHOP_TARGET", "aws")
    config.reset()
    assert cli.main(["deploy", "--plan"]) == 1
    error = capsys.readouterr().err
    assert "Unable to locate credentials" in error
    assert "aws configure" in error
    config.reset()


def test_deploy_plan_shows_what_would_happen_and_changes_nothing(local_aws, monkeypatch, capsys):
    from tests.conftest import unique_prefix
    from workshop import stack

    monkeypatch.setenv("WORKSHOP_PREFIX", unique_prefix())
    config.reset()
    assert cli.main(["deploy", "--plan"]) == 0
    shown = capsys.readouterr().out
    assert f"Create stack {config.settings().stack_name}" in shown
    assert "account  123456789012" in shown
    assert "cost     nothing" in shown
    assert stack.describe() is None
    config.reset()


def test_deploy_then_teardown_from_the_command_line_leaves_nothing(local_aws, monkeypatch, capsys):
    from tests.conftest import unique_prefix

    prefix = unique_prefix()
    monkeypatch.setenv("WORKSHOP_PREFIX", prefix)
    config.reset()
    assert cli.main(["deploy", "-p", "BufferIntervalSeconds=10"]) == 0
    deployed = capsys.readouterr().out
    assert f"Stack {prefix}-sales-pipeline is CREATE_COMPLETE" in deployed
    assert f'"TableName": "{prefix}-OrderTable"' in deployed
    assert cli.main(["teardown"]) == 0
    torn = capsys.readouterr().out
    assert f"Nothing named for '{prefix}' is left on the local target." in torn
    config.reset()
