"""The instructor's view: a class of three participants at different stages on one local AWS of
its own, one row each with the doctor's counts and first problem; then one teardown for all."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import wait_for
from tests.test_local_pipeline import make_orders, write_burst
from workshop import classroom, cli, config, doctor, leftovers, stack
from workshop.local.aws import process
from workshop.local.aws.ports import free_port
from workshop.reconcile import reconcile

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def class_aws(tmp_path_factory):
    """A local AWS for this module alone: the class view sees every stack in it."""
    s = config.Settings(local_port=free_port(), state_dir=tmp_path_factory.mktemp("class"),
                        local_buffer_seconds=0.5)
    process.start(s)
    yield s
    process.stop(s)


def participant(s: config.Settings, prefix: str) -> tuple[config.Settings, dict[str, str]]:
    mine = dataclasses.replace(s, prefix=prefix)
    return mine, stack.deploy(s=mine)


def test_three_participants_at_three_stages_then_one_teardown_for_all(class_aws, monkeypatch,
                                                                      capsys):
    ada, ada_found = participant(class_aws, "ada")
    participant(class_aws, "bob")
    cyd, cyd_found = participant(class_aws, "cyd")
    orders = make_orders(20)
    write_burst(ada, ada_found["TableName"], orders)
    ids = [o["orderid"] for o in orders]
    wait_for(lambda: reconcile(ids, ada_found["BucketName"], ada).delivered == 20, 60,
             "ada's orders in S3")
    config.client("pipes", cyd).stop_pipe(Name=cyd_found["PipeName"])  # cyd's pipe: stopped
    runtime_log = class_aws.local_dir / "runtime.log"
    wait_for(lambda: f"pipe {cyd_found['PipeName']}: stopped" in runtime_log.read_text(), 30,
             "the local runtime to stop cyd's pipe")
    write_burst(cyd, cyd_found["TableName"], make_orders(10, start=100))

    rows = {row.prefix: row for row in classroom.status(class_aws)}
    assert set(rows) == {"ada", "bob", "cyd"}
    assert (rows["ada"].orders, rows["ada"].delivered, rows["ada"].errors) == (20, 20, 0)
    assert rows["ada"].problem == "" and rows["ada"].last_activity is not None
    assert (rows["bob"].orders, rows["bob"].delivered) == (0, 0)
    assert (rows["cyd"].orders, rows["cyd"].delivered) == (10, 0)
    assert rows["cyd"].problem.startswith(f"stops before '{doctor.KINESIS}'")
    assert "The EventBridge Pipe is not running" in rows["cyd"].problem
    assert all(row.state == "CREATE_COMPLETE" and row.cost_usd > 0 for row in rows.values())
    text = classroom.table(list(rows.values()))
    assert text.splitlines()[0].split() == ["prefix", "stack", "orders", "delivered", "errors",
                                            "last", "activity", "cost", "so", "far", "first",
                                            "problem"]
    assert text.endswith("3 participant(s)")

    monkeypatch.setenv("WORKSHOP_LOCAL_PORT", str(class_aws.local_port))
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(class_aws.state_dir))
    config.reset()
    try:
        assert cli.main(["class", "teardown"]) == 1  # not without --yes
        assert classroom.stacks(class_aws)  # nothing was deleted
        assert cli.main(["class", "teardown", "--yes"]) == 0
    finally:
        config.reset()
    assert "Nothing of the class is left." in capsys.readouterr().out
    assert classroom.stacks(class_aws) == []
    for prefix in ("ada", "bob", "cyd"):
        assert leftovers.find(dataclasses.replace(class_aws, prefix=prefix)) == []
