"""Bad input through every subcommand and setting: a clear line and a non-zero exit, every time.

Each case runs the `workshop` command in-process and fails on a traceback, on the CLI's "this is
a bug" line (an error the workshop did not foresee), on silent acceptance (exit 0), and on a
message that does not name what was wrong.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest

from tests.conftest import unique_prefix
from workshop import cli, config
from workshop.local.aws.ports import free_port

SUBCOMMANDS = [["local", "status"], ["local", "start"], ["deploy"], ["deploy", "--plan"],
               ["outputs"], ["teardown"], ["generate", "--count", "1"],
               ["query", "SELECT 1"], ["doctor"], ["demo", "--count", "5"]]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """(exit code, everything printed) of `workshop <argv>`."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse refuses a malformed command line with exit 2
        code = int(exit_.code or 0)
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def assert_refused(code: int, printed: str, fragment: str, exit_code: int = 1) -> None:
    assert code == exit_code, printed
    assert "Traceback" not in printed
    assert "This is a bug in the workshop" not in printed, printed
    assert fragment in printed, printed
    if exit_code == 1:
        assert printed.strip().splitlines()[-1].startswith("workshop "), printed


@pytest.fixture
def nothing_running(monkeypatch, tmp_path):
    """Settings pointing at a port where no local AWS answers, and a state folder of its own."""
    monkeypatch.setenv("WORKSHOP_TARGET", "local")
    monkeypatch.setenv("WORKSHOP_LOCAL_PORT", str(free_port()))
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    config.reset()
    yield
    config.reset()


# --- a malformed command line: argparse names the argument (exit 2) --------------------------

@pytest.mark.parametrize(("argv", "fragment"), [
    (["generate", "--count", "-5", "--burst"], "--count: -5 is too small"),
    (["generate", "--count", "many"], "--count: 'many' is not a whole number"),
    (["generate", "--rate", "0"], "--rate: 0 is too small: use a number above 0"),
    (["generate", "--interval", "-1"], "--interval: -1 is too small"),
    (["generate", "--update", "-2"], "--update: -2 is too small"),
    (["generate", "--delete", "x"], "--delete: 'x' is not a whole number"),
    (["generate", "--history", "0"], "--history: 0 is too small"),
    (["generate", "--per-minute", "0"], "--per-minute: 0 is too small"),
    (["generate", "--spike", "-1"], "--spike: -1 is too small"),
    (["generate", "--seed", "abc"], "--seed: invalid int value"),
    (["generate", "--burst", "--rate", "5"], "not allowed with argument"),
    (["query", "SELECT 1", "--max-rows", "0"], "--max-rows: 0 is too small"),
    (["demo", "--count", "0"], "--count: 0 is too small"),
    (["demo", "--timeout", "-3"], "--timeout: -3 is too small"),
    (["local", "restart"], "invalid choice: 'restart'"),
    (["deploy", "--bogus"], "unrecognized arguments: --bogus"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    ([], "the following arguments are required"),
])
def test_a_malformed_command_line_names_the_argument(argv, fragment, capsys, nothing_running):
    assert_refused(*run(argv, capsys), fragment, exit_code=2)


# --- settings: every WORKSHOP_* variable, through every subcommand ----------------------------

BAD_SETTINGS = [
    ("WORKSHOP_TARGET", "gcp", "WORKSHOP_TARGET is 'gcp'; choose one of local, aws"),
    ("WORKSHOP_PREFIX", "Bad_Prefix", "WORKSHOP_PREFIX is 'Bad_Prefix'; use 2-16 lowercase"),
    ("WORKSHOP_PREFIX", "", "WORKSHOP_PREFIX is ''"),
    ("WORKSHOP_REGION", "mars-1", "WORKSHOP_REGION is 'mars-1', which is not an AWS region"),
    ("WORKSHOP_REGION", "il-central-1", "where AWS has no EventBridge Pipes"),
    ("WORKSHOP_LOCAL_PORT", "abc", "WORKSHOP_LOCAL_PORT is 'abc'"),
    ("WORKSHOP_LOCAL_PORT", "80", "WORKSHOP_LOCAL_PORT is 80; choose a port in 1024-65535"),
    ("WORKSHOP_LOCAL_REALISTIC", "maybe", "WORKSHOP_LOCAL_REALISTIC is 'maybe'; use on or off"),
    ("WORKSHOP_LOCAL_BUFFER_SECONDS", "-1", "WORKSHOP_LOCAL_BUFFER_SECONDS is '-1'"),
    ("WORKSHOP_LOCAL_BUFFER_SECONDS", "soon", "WORKSHOP_LOCAL_BUFFER_SECONDS is 'soon'"),
    ("WORKSHOP_LOCAL_RETENTION_SECONDS", "an hour",
     "WORKSHOP_LOCAL_RETENTION_SECONDS is 'an hour'"),
    ("WORKSHOP_LOCAL_RETENTION_RECORDS", "1.5", "WORKSHOP_LOCAL_RETENTION_RECORDS is '1.5'"),
    ("WORKSHOP_DEBUG", "perhaps", "WORKSHOP_DEBUG is 'perhaps'; use on or off"),
]


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=" ".join)
@pytest.mark.parametrize(("name", "value", "fragment"), BAD_SETTINGS,
                         ids=[f"{n}={v}" for n, v, _ in BAD_SETTINGS])
def test_a_bad_setting_is_refused_by_every_subcommand(name, value, fragment, argv, capsys,
                                                      monkeypatch, nothing_running):
    monkeypatch.setenv(name, value)
    config.reset()
    assert_refused(*run(argv, capsys), fragment)


# --- deploy parameters, checked against the template as CloudFormation does -------------------

@pytest.mark.parametrize("plan", [[], ["--plan"]], ids=["deploy", "plan"])
@pytest.mark.parametrize(("parameter", "fragment"), [
    ("NoSuchParameter=1", "Parameters: [NoSuchParameter] do not exist in the template"),
    ("BufferIntevalSeconds=5", "did you mean BufferIntervalSeconds?"),
    ("ShardCount=0", "Parameter 'ShardCount' is '0': it must be a number not less than 1"),
    ("ShardCount=two", "Parameter 'ShardCount' is 'two': it must be a number"),
    ("BufferIntervalSeconds=901", "it must be a number not greater than 900"),
    ("ProcessorBufferSizeMB=7", "a number of MB from 0.2 to 3"),
    ("Prefix=bob", "set WORKSHOP_PREFIX instead"),
    ("LambdaCodeKey=x.zip", "the deploy uploads the transformer itself"),
    ("ShardCount", "-p 'ShardCount' is not KEY=VALUE"),
])
def test_a_bad_parameter_names_itself_and_its_rule(parameter, fragment, plan, capsys,
                                                   nothing_running):
    assert_refused(*run(["deploy", *plan, "-p", parameter], capsys), fragment)


# --- the local AWS stopped, its port busy, the stack missing ----------------------------------

@pytest.mark.parametrize("argv", [a for a in SUBCOMMANDS if a[0] not in ("local", "demo")],
                         ids=" ".join)
def test_a_stopped_local_aws_says_how_to_start_it(argv, capsys, nothing_running):
    assert_refused(*run(argv, capsys), "the local AWS is not running: start it with "
                   "`workshop local start`")


@pytest.mark.parametrize("argv", [["local", "start"], ["demo", "--count", "5"]], ids=" ".join)
def test_a_busy_port_is_named_with_the_way_out(argv, capsys, nothing_running, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("WORKSHOP_LOCAL_PORT", str(port))
        config.reset()
        assert_refused(*run(argv, capsys), f"Port {port} on 127.0.0.1 is already in use")


@pytest.fixture
def no_stack(local_aws, monkeypatch):
    """The session's local AWS, under a prefix that has no stack."""
    monkeypatch.setenv("WORKSHOP_PREFIX", unique_prefix())
    config.reset()
    yield
    config.reset()


@pytest.mark.parametrize(("argv", "fragment"), [
    (["outputs"], "is not deployed"),
    (["generate", "--count", "1"], "is not deployed"),
    (["query", "units_per_product_today"], "is not deployed"),
    (["doctor"], "is not deployed"),
])
def test_a_missing_stack_says_to_deploy(argv, fragment, capsys, no_stack):
    code, printed = run(argv, capsys)
    assert_refused(code, printed, fragment)
    assert "workshop deploy" in printed


def test_a_teardown_without_a_stack_says_there_is_nothing_to_delete(capsys, no_stack):
    code, printed = run(["teardown"], capsys)
    assert code == 0 and "does not exist on the local target: nothing to delete" in printed


# --- SQL the engine cannot run: one line naming what is wrong ---------------------------------

@pytest.fixture
def deployed(fresh_stack, monkeypatch):
    s, _ = fresh_stack
    monkeypatch.setenv("WORKSHOP_PREFIX", s.prefix)
    config.reset()
    yield dataclasses.replace(s)
    config.reset()


@pytest.mark.parametrize(("sql", "fragment"), [
    ("SELEC 1", "Syntax error at line 1, column"),
    ("SELECT * FROM no_such_table", "no_such_table"),
    ("SELECT no_such_column FROM orders", "no_such_column"),
    ("SELECT format_datetime(now(), 'yyyy') FROM orders", "format_datetime"),
    ("CREATE EXTERNAL TABLE t (a int) LOCATION 's3://b/'", "nothing to create or repair"),
    ("", "SQL"),
])
def test_sql_the_local_engine_cannot_run_is_refused_in_one_line(sql, fragment, capsys,
                                                                deployed):
    assert_refused(*run(["query", sql], capsys), fragment)
