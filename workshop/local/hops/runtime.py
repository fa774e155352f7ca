"""The local runtime: runs every pipe and delivery stream that the local AWS holds.

Run by `workshop local start` as `python -m workshop.local.hops.runtime`, beside the moto server.
It discovers pipes and delivery streams through the same APIs a learner would use (so a stack
deployed after start is picked up), and runs each hop in a loop, logging what it moves. While
data flows, a hop polls every POLL_SECONDS; once a poll finds nothing, it waits for the next
write to what it reads (workshop.local.aws.changes) instead of polling an idle local AWS.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from workshop.config import Settings, client, settings
from workshop.local.aws.changes import ChangeWaiter
from workshop.local.aws.checkpoint import Checkpoint, hop_checkpoint
from workshop.local.aws.wire import WireError
from workshop.local.hops.firehose import FirehoseHop
from workshop.local.hops.pipe import GET_RECORDS_MAX, PipeHop

log = logging.getLogger("workshop.local.hops.runtime")
POLL_SECONDS = 0.1
IDLE_WAIT_SECONDS = 1.0  # an idle hop polls anyway after this long without a write
PIPE_BACKLOG = GET_RECORDS_MAX  # a full page of stream records: more are waiting
DISCOVER_SECONDS = 1.0
SERVER_GONE_SECONDS = 15


def _hose_identity(description: dict[str, Any]) -> tuple[str, str]:
    """What changes when a delivery stream is updated (VersionId) or made again (its creation)."""
    return str(description.get("VersionId")), str(description.get("CreateTimestamp"))


class Runtime:
    """Finds the local pipes and delivery streams and keeps their data moving."""

    def __init__(self, s: Settings | None = None) -> None:
        self.s = s or settings()
        self.pipes: dict[str, PipeHop] = {}
        self.hoses: dict[str, FirehoseHop] = {}
        self.stopping = threading.Event()

    def clients(self, service: str) -> Any:
        return client(service, self.s)

    def _checkpoint(self, kind: str, name: str) -> Checkpoint:
        return hop_checkpoint(self.s.local_dir, kind, name)

    def discover(self) -> None:
        """Run a hop for every RUNNING pipe and every delivery stream with a Kinesis source.

        A pipe moves data only while its CurrentState is RUNNING (not while CREATING, STOPPING
        or STOPPED, as on AWS); a stopped pipe's hop ends, and a started one resumes from its
        checkpoint. A pipe or delivery stream replaced under the same name (another ARN) gets
        a new hop.
        """
        pipes = self.clients("pipes")
        running = {p["Name"]: (p["Arn"], str(p.get("LastModifiedTime")))
                   for page in pipes.get_paginator("list_pipes").paginate()
                   for p in page.get("Pipes", []) if p.get("CurrentState") == "RUNNING"}
        for name, hop in list(self.pipes.items()):
            if running.get(name) != hop.identity:
                self.pipes.pop(name, None)  # the pipes thread may have dropped it already
                log.info("pipe %s: stopped, updated or replaced; its hop starts again from its "
                         "checkpoint if it runs", name)
        for name in set(running) - set(self.pipes):
            description = pipes.describe_pipe(Name=name)
            hop = PipeHop(description, self.s, self._checkpoint("pipe", name))
            hop.identity = running[name]
            self.pipes[name] = hop
            log.info("pipe %s: moving %s -> %s", name, description["Source"],
                     description["Target"])
        firehose = self.clients("firehose")
        hose_names = set(firehose.list_delivery_streams(Limit=10000).get(
            "DeliveryStreamNames", []))
        descriptions = {name: firehose.describe_delivery_stream(
            DeliveryStreamName=name)["DeliveryStreamDescription"] for name in hose_names}
        for name, hop in list(self.hoses.items()):
            found = descriptions.get(name)
            if found is None or _hose_identity(found) != hop.identity:
                hop.close()  # read but unflushed records are read again from the checkpoint
                self.hoses.pop(name, None)  # the hoses thread may have dropped it already
                if found is not None:
                    log.info("firehose %s: updated or replaced; its hop starts again from its "
                             "checkpoint", name)
        for name in hose_names - set(self.hoses):
            description = descriptions[name]
            if description.get("DeliveryStreamType") != "KinesisStreamAsSource":
                continue
            hop = FirehoseHop(description, self.s, self._checkpoint("firehose", name))
            hop.identity = _hose_identity(description)
            self.hoses[name] = hop
            log.info("firehose %s: %s -> s3://%s/%s (buffer %.1f s)", name, hop.source_arn,
                     hop.bucket, hop.prefix, hop.s3_interval)

    def poll_pipes(self) -> tuple[int, int]:
        """Run every pipe once: (stream records moved to Kinesis, records seen). A pipe whose
        shard may hold records past its empty pages counts as having seen one: it is polled
        again soon, not at the next write."""
        moved = catching_up = 0
        for name, pipe in list(self.pipes.items()):
            moved += self._guard("pipe", name, pipe.poll) or 0
            catching_up += pipe.catching_up
        return moved, moved + catching_up

    def poll_hoses(self) -> tuple[int, int]:
        """Run every delivery stream once: (records delivered, failed or dropped; records read)."""
        moved = read = 0
        for name, hose in list(self.hoses.items()):
            outcome = self._guard("firehose", name, hose.poll)
            if outcome is None:
                continue
            read += outcome.read
            if outcome.keys:
                log.info("firehose %s: %d delivered, %d failed, %d dropped -> %s", name,
                         outcome.delivered, outcome.failed, outcome.dropped,
                         ", ".join(outcome.keys))
                moved += outcome.delivered + outcome.failed + outcome.dropped
        return moved, read

    def hoses_readable_in(self) -> float:
        """Seconds until some delivery stream may read a shard again (0: one may now)."""
        return min((hose.seconds_until_readable() for hose in list(self.hoses.values())),
                   default=0.0)

    def hoses_due_in(self) -> float | None:
        """Seconds until the first delivery stream's buffer is due; None when all are empty."""
        waits = [w for hose in list(self.hoses.values())
                 if (w := hose.seconds_until_due()) is not None]
        return min(waits, default=None)

    def _guard(self, kind: str, name: str, action: Any) -> Any:
        """Run one hop step; a resource deleted under it is dropped, other errors are logged:
        one hop's failure never stops the others."""
        try:
            return action()
        except (ClientError, WireError) as error:
            code = error.code if isinstance(error, WireError) else error.response["Error"]["Code"]
            if code in ("ResourceNotFoundException", "NoSuchBucket"):
                log.info("%s %s: its resources are gone (%s); stopping it", kind, name, error)
                hop = (self.pipes if kind == "pipe" else self.hoses).pop(name, None)
                if hop is not None and hasattr(hop, "close"):
                    hop.close()
            else:
                log.warning("%s %s: %s", kind, name, error)
        except BotoCoreError as error:
            log.warning("%s %s: %s", kind, name, error)
        except Exception:  # a bug, or a resource gone in a way not foreseen: say so, go on
            log.exception("%s %s: the step failed; trying again at the next poll", kind, name)
        return None

    def _loop(self, step: Callable[[], tuple[int, int]], busy: int, waiter: ChangeWaiter,
              due_in: Callable[[], float | None],
              readable_in: Callable[[], float] = lambda: 0.0) -> None:
        """Call step, which says (records moved, records seen), until stopped.

        After a backlog (`busy` records moved or more) it polls again at once; while records
        come, every POLL_SECONDS, so that small polls do not crowd the server; once a poll sees
        nothing, it waits for the next write to what it reads, or until a buffer is due
        (`due_in`), or IDLE_WAIT_SECONDS. No poll comes before a shard may be read again
        (`readable_in`: Firehose reads each shard once a second).
        """
        while not self.stopping.is_set():
            moved, seen = step()
            pause = readable_in()
            if moved >= busy and not pause:
                continue
            if seen or moved:
                self.stopping.wait(max(POLL_SECONDS, pause))
                continue
            due = due_in()
            if pause:
                self.stopping.wait(pause if due is None else min(pause, max(due, 0.0)))
            if due is None or due > pause:
                waiter.wait(IDLE_WAIT_SECONDS if due is None else min(due, IDLE_WAIT_SECONDS))

    def run(self) -> None:
        """Run pipes and delivery streams in two threads (their waits on the server overlap),
        discovering new resources about once a second, until stopped."""
        pipes = self.poll_pipes, PIPE_BACKLOG, "dynamodbstreams", lambda: None, lambda: 0.0
        hoses = self.poll_hoses, 1, "kinesis", self.hoses_due_in, self.hoses_readable_in
        workers = [threading.Thread(
            target=self._loop, daemon=True,
            args=(step, busy, ChangeWaiter(self.s, topic, self.stopping.wait), due_in, ready))
            for step, busy, topic, due_in, ready in (pipes, hoses)]
        for worker in workers:
            worker.start()
        unreachable_since: float | None = None
        while not self.stopping.is_set():
            try:
                self.discover()
                unreachable_since = None
            except EndpointConnectionError:
                # The server is gone (stopped, or killed with its test session): so are we.
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > SERVER_GONE_SECONDS:
                    log.warning("local AWS unreachable for %d s: stopping", SERVER_GONE_SECONDS)
                    self.stopping.set()
            except (ClientError, BotoCoreError) as error:
                log.warning("discovery failed: %s", error)
            except Exception:  # a bug must not stop the hops that work: say so, go on
                log.exception("discovery failed; trying again in %.0f s", DISCOVER_SECONDS)
            self.stopping.wait(DISCOVER_SECONDS)
        for worker in workers:
            worker.join()


def main() -> None:
    """Run until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runtime = Runtime()
    signal.signal(signal.SIGTERM, lambda *_: runtime.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: runtime.stopping.set())
    log.info("local runtime started for %s", runtime.s.endpoint_url)
    runtime.run()
    log.info("local runtime stopped")


if __name__ == "__main__":
    main()
