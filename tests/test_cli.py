"""The `workshop` command: known failures print one clear line and exit 1, never a traceback."""

import pytest

from workshop import cli, config
from workshop.local.server import free_port


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
