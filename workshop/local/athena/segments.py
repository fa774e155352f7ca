"""The local engine's cache of S3 objects: fetched once, kept as a few large JSON-lines files.

A table's objects are fetched from the local S3 in batches (workshop.local.aws.s3bulk: one request
per BULK_BATCH_BYTES; GetObject on a thread pool where the bulk routes are missing). Each batch is
written as one *segment*: one file per partition folder (and per JSON key spelling), in the
table's Hive layout under <root>/<bucket>/, and a manifest naming the objects it holds, where.
DuckDB reads the segment files natively, and so does the next notebook kernel from the disk.

Why segments and not one cached file per object: writing a file per object is slower than
writing the same bytes as a few files and, done in the background, competes with DuckDB for the
2 cores; and DuckDB parses a few large files faster than many small ones
(measured: docs/performance.md#the-query-engines-cache).

Segments are written whole before their manifest (each by an atomic rename), so a reader only
ever sees complete ones. Two kernels may fetch the same objects at once: a reader then takes the
segments in order and skips any that would load an object a second time. A segment holding an
object that was deleted or rewritten since is skipped, and removed once it is a minute old.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from workshop.config import Settings, client
from workshop.errors import QueryError
from workshop.local.athena.glue import GlueTable, spelling_of
from workshop.local.aws.s3bulk import BulkReader, BulkUnavailable, NoSuchBucket

log = logging.getLogger("workshop.local.athena.segments")

FETCH_WORKERS = 8  # GetObject requests in flight (the fallback)
BULK_BATCH_BYTES = 32 << 20  # bytes of objects per bulk request, and so per segment
BULK_WORKERS = 2  # bulk requests in flight: the server reads one while this side writes one
STALE_AFTER_SECONDS = 60.0  # an out-of-date segment younger than this may still be being read


@dataclass
class FetchStats:
    """What bringing a table's cache up to date cost: listed, fetched and cached objects."""

    listed: int = 0
    fetched: int = 0
    cached: int = 0
    bytes_fetched: int = 0
    requests: int = 0  # HTTP requests to the local S3 (list pages, gets)
    seconds: float = 0.0

    def add(self, other: FetchStats) -> None:
        """Accumulate another table's numbers into these."""
        for name in ("listed", "fetched", "cached", "bytes_fetched", "requests", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class SegmentFile:
    """One file of a segment: JSON lines of one partition folder with keys spelled alike, or
    one Parquet object."""

    path: Path
    spelling: tuple[str, ...]  # the JSON key of each data column (glue.spelling_of)


@dataclass(frozen=True)
class Segment:
    """Objects fetched together: their files, and where each object's bytes are in them."""

    id: str  # sorts by creation time
    files: tuple[SegmentFile, ...]
    objects: dict[str, tuple[int, int, int, int]]  # key -> (file, offset, length, S3 size)
    manifest: Path

    def current(self, listed: dict[str, int]) -> bool:
        """Does every object of the segment still exist in S3, with the same size?"""
        return all(listed.get(key) == where[3] for key, where in self.objects.items())

    def body(self, key: str) -> bytes:
        """The bytes of one object as stored (with a final newline)."""
        number, offset, length, _ = self.objects[key]
        if number < 0:
            return b""
        with self.files[number].path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)


@dataclass
class SegmentCache:
    """The segments of every table, under <root>/<bucket>/; see the module's docstring."""

    root: Path
    settings: Settings  # which local S3 to read
    workers: int = FETCH_WORKERS
    bulk: BulkReader | None = field(default=None, init=False)
    _known: dict[Path, Segment | None] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.settings.is_local:
            self.bulk = BulkReader(self.settings)

    def _no_bulk(self, error: BulkUnavailable) -> None:
        log.info("bulk S3 reads unavailable (%s): using GetObject", error)
        self.bulk = None

    # --- listing ------------------------------------------------------------------------------

    def list(self, table: GlueTable, stats: FetchStats | None = None) -> list[tuple[str, int]]:
        """(key, size) of every data object under the table's location."""
        stats = stats or FetchStats()
        try:
            if self.bulk is not None:
                try:
                    found = self.bulk.list(table.bucket, table.prefix)
                    stats.requests += 1
                    return [(key, size) for key, size in found if table.visible(key)]
                except BulkUnavailable as error:
                    self._no_bulk(error)
            s3 = client("s3", self.settings)
            listed: list[tuple[str, int]] = []
            for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=table.bucket, Prefix=table.prefix):
                stats.requests += 1
                listed.extend((o["Key"], o["Size"]) for o in page.get("Contents", [])
                              if table.visible(o["Key"]))
            return listed
        except (ClientError, NoSuchBucket) as error:
            if isinstance(error, NoSuchBucket) or (
                    error.response["Error"]["Code"] == "NoSuchBucket"):
                raise QueryError(
                    f"Bucket {table.bucket} of table {table.name} does not exist: deploy the "
                    "stack first: workshop deploy") from error
            raise

    # --- what is cached -----------------------------------------------------------------------

    def _manifests(self, table: GlueTable) -> Path:
        """The folder of the table's manifests; a change of column names gets a new one."""
        names = json.dumps([[c for c, _ in table.columns], list(table.json_keys)]).encode()
        return (self.root / table.bucket / f"{table.prefix}_segments"
                / hashlib.sha256(names).hexdigest()[:12])

    def segments(self, table: GlueTable) -> list[Segment]:
        """Every complete segment of the table, oldest first (manifests are read once)."""
        folder = self._manifests(table)
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            path = folder / name
            if path not in self._known:
                self._known[path] = self._read(table, path)
            if (segment := self._known[path]) is not None:
                found.append(segment)
        return found

    def _read(self, table: GlueTable, manifest: Path) -> Segment | None:
        try:
            data = json.loads(manifest.read_bytes())
        except FileNotFoundError:
            return None  # removed as out of date by another kernel
        return _segment(manifest, self.root / table.bucket, data["files"],
                        {key: tuple(where) for key, where in data["objects"].items()})

    def plan(self, table: GlueTable, listed: dict[str, int],
             loaded: dict[str, Segment]) -> tuple[list[Segment], list[str]]:
        """(segments to load, keys to fetch) so that each listed object is loaded exactly once.

        `loaded` are the segments already in the caller's table; the others are taken oldest
        first when they are current and share no object with those taken before them.
        """
        covered = {key for segment in loaded.values() for key in segment.objects}
        chosen = []
        for segment in self.segments(table):
            if segment.id in loaded:
                continue
            if not segment.current(listed):
                self._remove_if_stale(segment)
            elif covered.isdisjoint(segment.objects):
                chosen.append(segment)
                covered.update(segment.objects)
        return chosen, [key for key in listed if key not in covered]

    def _remove_if_stale(self, segment: Segment) -> None:
        """Remove an out-of-date segment once no reader can still be loading it."""
        try:
            if time.time() - segment.manifest.stat().st_mtime < STALE_AFTER_SECONDS:
                return
            segment.manifest.unlink()
        except FileNotFoundError:
            pass
        self._known.pop(segment.manifest, None)
        for file in segment.files:
            file.path.unlink(missing_ok=True)

    # --- fetching -----------------------------------------------------------------------------

    def fetch(self, table: GlueTable, keys: list[str], sizes: dict[str, int],
              stats: FetchStats) -> Iterator[tuple[Segment | None, list[str]]]:
        """Fetch the keys in batches, each written as a segment: yield (segment, gone keys).

        The segment is None when every object of its batch was deleted since it was listed.
        """
        if not keys:
            return
        batches: list[list[str]] = [[]]
        total = 0
        for key in keys:
            if batches[-1] and total + sizes[key] > BULK_BATCH_BYTES:
                batches.append([])
                total = 0
            batches[-1].append(key)
            total += sizes[key]
        bulk, done = self.bulk, 0
        if bulk is not None:
            try:
                with ThreadPoolExecutor(min(BULK_WORKERS, len(batches))) as pool:
                    for segment, gone in pool.map(
                            lambda b: self._keep(table, list(bulk.get(table.bucket, b))),
                            batches):
                        stats.requests += 1
                        done += 1
                        yield _counted(segment, gone, stats)
                return
            except BulkUnavailable as error:
                self._no_bulk(error)
        with ThreadPoolExecutor(min(self.workers, len(keys))) as pool:
            for batch in batches[done:]:
                stats.requests += len(batch)
                bodies = pool.map(lambda k: self._get(table.bucket, k), batch)
                segment, gone = self._keep(table, list(zip(batch, bodies, strict=True)))
                yield _counted(segment, gone, stats)

    def _get(self, bucket: str, key: str) -> bytes | None:
        """One object by GetObject; None when it was deleted since it was listed."""
        try:
            return client("s3", self.settings).get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise

    def _keep(self, table: GlueTable, found: list[tuple[str, bytes | None]]
              ) -> tuple[Segment | None, list[str]]:
        """Write fetched objects as one segment; (segment, keys found deleted meanwhile)."""
        gone = [key for key, body in found if body is None]
        present = [(key, body) for key, body in found if body is not None]
        return (self.write(table, present) if present else None), gone

    def write(self, table: GlueTable, objects: list[tuple[str, bytes]]) -> Segment:
        """Store objects as a new segment of the table and return it."""
        segment_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        groups: dict[tuple[tuple[str, ...], str], list[tuple[str, bytes]]] = {}
        where: dict[str, tuple[int, int, int, int]] = {}
        for key, body in objects:
            if not body:
                where[key] = (-1, 0, 0, 0)  # an empty object: cached, with no rows to read
                continue
            folder = key[len(table.prefix):key.rfind("/") + 1] if table.partitions else ""
            if table.format == "parquet":  # a Parquet file is whole or nothing: one file each
                groups[((key,), folder)] = [(key, body)]
                continue
            spelling = spelling_of(table, body[:body.find(b"\n") + 1 or len(body)])
            groups.setdefault((spelling, folder), []).append((key, body))
        base = self.root / table.bucket
        files = []
        extension = ".parquet" if table.format == "parquet" else ".json"
        for number, ((spelling, folder), members) in enumerate(groups.items()):
            relative = f"{table.prefix}{folder}{segment_id}-{number}{extension}"
            if table.format == "parquet":
                spelling = ()  # Parquet names its columns itself
            offset, parts = 0, []
            for key, body in members:
                size = len(body)
                if table.format == "json" and not body.endswith(b"\n"):
                    body += b"\n"  # the next object starts on a line of its own
                where[key] = (number, offset, len(body), size)
                parts.append(body)
                offset += len(body)
            _write_whole(base / relative, parts)
            files.append({"path": relative, "spelling": list(spelling)})
        manifest = self._manifests(table) / f"{segment_id}.json"
        _write_whole(manifest, [json.dumps({"files": files, "objects": where}).encode()])
        segment = _segment(manifest, base, files, where)
        self._known[manifest] = segment
        return segment


def _segment(manifest: Path, base: Path, files: list[dict], objects: dict) -> Segment:
    """The segment a manifest describes (its files' paths are relative to the bucket's folder)."""
    return Segment(id=manifest.stem, manifest=manifest, objects=objects, files=tuple(
        SegmentFile(base / f["path"], tuple(f["spelling"])) for f in files))


def _counted(segment: Segment | None, gone: list[str],
             stats: FetchStats) -> tuple[Segment | None, list[str]]:
    """Add a fetched segment to the stats (on the caller's thread) and pass it on."""
    if segment is not None:
        stats.fetched += len(segment.objects)
        stats.bytes_fetched += sum(where[3] for where in segment.objects.values())
    return segment, gone


def _write_whole(path: Path, parts: list[bytes]) -> None:
    """Write the parts as the file at path, atomically: a reader sees all of it or nothing."""
    partial = path.parent / f".{path.name}.{uuid.uuid4().hex}.part"
    try:
        handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileNotFoundError:  # the first file of its folder
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[os.write(handle, view):]
    finally:
        os.close(handle)
    os.replace(partial, path)
