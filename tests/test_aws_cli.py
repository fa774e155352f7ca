"""The AWS CLI works against the local AWS exactly as `workshop local status` tells a learner."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

from workshop import config
from workshop.local.aws import process

AWS = Path(sys.executable).parent / "aws"  # the awscli package of the project's venv


def aws(command: str) -> dict:
    """Run an `ENV=... aws ...` line as a shell would, with the venv's AWS CLI; its JSON answer."""
    words = shlex.split(command)
    assignments = dict(w.split("=", 1) for w in words if "=" in w and w.split("=")[0].isupper())
    argv = [w for w in words if w.split("=")[0] not in assignments]
    assert argv[0] == "aws", command
    # A learner's own profile must not get in the way; their keys are overridden by the line.
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    done = subprocess.run([str(AWS), *argv[1:], "--output", "json"], env={**env, **assignments},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_command_local_status_prints_runs_with_the_aws_cli(local_aws):
    table = f"cli-{uuid.uuid4().hex[:8]}"
    dynamodb = config.client("dynamodb", local_aws)
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "orderid",
                                                 "AttributeType": "S"}])
    dynamodb.put_item(TableName=table,
                      Item={"orderid": {"S": "a1"}, "product_name": {"S": "Phone"}})
    [shown] = [line.strip() for line in str(process.status(local_aws)).splitlines()
               if " aws --endpoint-url " in line]
    assert table in aws(shown)["TableNames"]
    scanned = aws(shown.replace("dynamodb list-tables", f"dynamodb scan --table-name {table}"))
    assert scanned["Count"] == 1
    assert scanned["Items"][0]["product_name"] == {"S": "Phone"}
