"""`make demo` end to end: a fresh local AWS, a small seeded burst, every order accounted for."""

import os
import subprocess
import sys

import pytest

from workshop.local.aws.ports import free_port

pytestmark = pytest.mark.timeout(300)


def run_demo(tmp_path, port):
    env = {**os.environ, "WORKSHOP_LOCAL_PORT": str(port),
           "WORKSHOP_STATE_DIR": str(tmp_path / "state"), "WORKSHOP_TARGET": "local",
           "WORKSHOP_LOCAL_BUFFER_SECONDS": "0.5"}
    env.pop("WORKSHOP_PREFIX", None)
    return subprocess.run(
        [sys.executable, "-m", "workshop.cli", "demo", "--count", "60", "--seed", "7",
         "--output", str(tmp_path / "charts")],
        env=env, capture_output=True, text=True, timeout=240)


def test_the_demo_runs_end_to_end_twice_in_a_row_and_accounts_for_every_order(tmp_path):
    port = free_port()
    for _ in range(2):
        done = run_demo(tmp_path, port)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "generated 60 = delivered 60 + failed 0 (+ 0 duplicate lines)" in done.stdout
        assert "product_name  total_units" in done.stdout
        assert "queryable in Athena SQL: 60 orders" in done.stdout
        assert "stopped the local AWS (server pid" in done.stdout  # it stopped what it started
    for name in ("units_per_product.png", "revenue_per_minute.png"):
        assert (tmp_path / "charts" / name).read_bytes()[:4] == b"\x89PNG"
