"""Durable positions of the local hops, so a restarted runtime resumes where it left off.

One small JSON file per hop under `.workshop/local/checkpoints/`, replaced atomically (write a
temporary file, then rename), so a hop killed mid-write leaves the previous position intact.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

CHECKPOINTS = "checkpoints"  # the folder under the local state folder


def hop_checkpoint(local_dir: Path, kind: str, name: str) -> Checkpoint:
    """The checkpoint of one hop of the local runtime, `kind` "pipe" or "firehose"; the
    runtime writes it, local retention (workshop.local.aws.retention) reads it."""
    return Checkpoint(local_dir / CHECKPOINTS, f"{kind}-{name}")


class Checkpoint:
    """The last position handled, per shard, for one hop (a pipe or a delivery stream)."""

    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".json")
        try:
            self.positions: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.positions = {}

    def get(self, shard_id: str) -> str | None:
        """The last sequence number handled on the shard, or None for a fresh start."""
        return self.positions.get(shard_id)

    def save(self, updates: dict[str, str]) -> None:
        """Record new positions durably (all shards at once, atomically)."""
        if not updates:
            return
        self.positions.update(updates)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump(self.positions, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
