"""The one place that says which target, region, prefix and endpoint the workshop uses.

Settings come from environment variables (or `configure()` in a notebook), and every boto3
client of the project is made here, on demand: never at import time, so a target or endpoint
chosen later is never missed. In local mode every client is pinned to 127.0.0.1 with dummy
credentials, and a guard refuses any request to another host: a learner's own AWS profile,
keys or endpoint variables can never be used by accident.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.config import Config

from workshop.errors import WorkshopError

TARGETS = ("local", "aws")
DEFAULT_LOCAL_PORT = 5123
LOCAL_HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = PROJECT_ROOT / "cloudformation" / "pipeline.yaml"
LAMBDA_DIR = PROJECT_ROOT / "lambda"


class ConfigError(WorkshopError, ValueError):
    """A workshop setting has a value the workshop cannot use."""


class LocalModeViolation(WorkshopError, RuntimeError):
    """Local mode tried to send a request somewhere other than the local AWS on 127.0.0.1."""


@dataclass(frozen=True)
class Settings:
    """Where the pipeline runs and what its resources are called."""

    target: str = "local"  # "local" (moto on 127.0.0.1, the default) or "aws"
    region: str = "us-east-1"
    prefix: str = "gadget"  # participant prefix: names every resource of the stack
    local_port: int = DEFAULT_LOCAL_PORT
    profile: str | None = None  # AWS profile, used only by the aws target
    state_dir: Path = PROJECT_ROOT / ".workshop"  # pid files, logs, checkpoints, query cache
    # The local AWS behaves as AWS documents, unkind parts included (empty GetRecords pages,
    # shard limits, unprocessed batch items, stream shard rollover: workshop.local.aws.realism).
    # Off only to show what a kinder local AWS hides, or in a test that says why.
    realistic: bool = True
    # moto patched for speed and memory (workshop.local.aws.patches, with the wake-ups, bulk S3
    # reads, keep-alive connections and retention). Off, moto's own code answers: slower, the
    # same answers; `WORKSHOP_LOCAL_PATCHES=off make test` proves it.
    local_patches: bool = True
    local_buffer_seconds: float | None = None  # shortens the local Firehose buffering intervals
    # Consumed stream and Kinesis records the local AWS keeps (workshop.local.aws.retention): this
    # long (None: forever) and at most this many per shard, so its memory stays bounded.
    retention_seconds: float | None = 3600.0
    retention_records: int = 20_000

    @property
    def is_local(self) -> bool:
        """True when the pipeline runs offline on this machine."""
        return self.target == "local"

    @property
    def endpoint_url(self) -> str | None:
        """The local AWS endpoint, or None on the aws target (boto3 picks AWS's own)."""
        return f"http://{LOCAL_HOST}:{self.local_port}" if self.is_local else None

    @property
    def stack_name(self) -> str:
        """The CloudFormation stack of this participant."""
        return f"{self.prefix}-sales-pipeline"

    @property
    def local_dir(self) -> Path:
        """Where the local AWS keeps its pid files, logs and checkpoints."""
        return self.state_dir / "local"


_overrides: dict[str, Any] = {}


def _validate(s: Settings) -> Settings:
    if s.target not in TARGETS:
        raise ConfigError(
            f"WORKSHOP_TARGET is {s.target!r}; choose one of {', '.join(TARGETS)} "
            "(local runs offline, aws deploys to your account)."
        )
    if not (s.prefix[:1].isalpha() and s.prefix.isalnum() and s.prefix.islower()
            and 2 <= len(s.prefix) <= 16):
        raise ConfigError(
            f"WORKSHOP_PREFIX is {s.prefix!r}; use 2-16 lowercase letters and digits, starting "
            "with a letter (it names the Glue database, so no hyphens), e.g. 'alice'."
        )
    if not 1024 <= s.local_port <= 65535:
        raise ConfigError(f"WORKSHOP_LOCAL_PORT is {s.local_port}; choose a port in 1024-65535.")
    if s.region not in regions("dynamodb"):
        raise ConfigError(f"WORKSHOP_REGION is {s.region!r}, which is not an AWS region; choose "
                          f"one of {', '.join(regions('dynamodb'))}.")
    if s.region not in regions("pipes"):
        raise ConfigError(f"WORKSHOP_REGION is {s.region!r}, where AWS has no EventBridge Pipes, "
                          f"which the pipeline needs; choose one of {', '.join(regions('pipes'))}.")
    return s


@lru_cache(maxsize=8)
def regions(service: str) -> tuple[str, ...]:
    """The regions AWS offers `service` in, in every partition, as botocore's endpoint data lists
    them (the local AWS plays any of them, as AWS would)."""
    core = botocore.session.get_session()
    return tuple(sorted({region for partition in core.get_available_partitions()
                         for region in core.get_available_regions(service, partition)}))


SWITCH_WORDS = {"on": True, "true": True, "1": True, "yes": True,
                "off": False, "false": False, "0": False, "no": False}


def _switch(name: str, default: bool) -> bool:
    """An on/off environment variable; anything else is refused with the words it takes."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return SWITCH_WORDS[text.strip().lower()]
    except KeyError:
        raise ConfigError(f"{name} is {text!r}; use on or off.") from None


FOREVER_WORDS = ("off", "none", "forever")


def _amount(name: str, default: Any, kind: type[int] | type[float], example: str,
            forever: bool = False) -> Any:
    """A number of 0 or more from an environment variable (with `forever`, also off: None)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if forever and text.lower() in FOREVER_WORDS:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if value < 0:
        also = ", or off" if forever else ""
        raise ConfigError(f"{name} is {text!r}; give a {'whole ' if kind is int else ''}number "
                          f"of 0 or more (e.g. {name}={example}){also}.")
    return value


def debug() -> bool:
    """WORKSHOP_DEBUG=on: the `workshop` command prints a traceback under its one-line error."""
    return _switch("WORKSHOP_DEBUG", False)


def settings() -> Settings:
    """The settings in force: `configure()` overrides, then WORKSHOP_* variables, then defaults."""
    env = os.environ
    port_text = env.get("WORKSHOP_LOCAL_PORT", str(DEFAULT_LOCAL_PORT))
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(
            f"WORKSHOP_LOCAL_PORT is {port_text!r}; it must be a port number such as 5123."
        ) from None
    values: dict[str, Any] = {
        "target": env.get("WORKSHOP_TARGET", "local").strip().lower(),
        "region": env.get("WORKSHOP_REGION") or env.get("AWS_REGION") or "us-east-1",
        "prefix": env.get("WORKSHOP_PREFIX", "gadget").strip(),
        "local_port": port,
        "profile": env.get("WORKSHOP_AWS_PROFILE") or env.get("AWS_PROFILE") or None,
        "state_dir": Path(env.get("WORKSHOP_STATE_DIR", PROJECT_ROOT / ".workshop")),
        "realistic": _switch("WORKSHOP_LOCAL_REALISTIC", True),
        "local_patches": _switch("WORKSHOP_LOCAL_PATCHES", True),
        "local_buffer_seconds": _amount("WORKSHOP_LOCAL_BUFFER_SECONDS", None, float, "0.5"),
        "retention_seconds": _amount("WORKSHOP_LOCAL_RETENTION_SECONDS", 3600.0, float, "600",
                                     forever=True),
        "retention_records": _amount("WORKSHOP_LOCAL_RETENTION_RECORDS", 20_000, int, "20000"),
    }
    if values["target"] == "local":
        values["region"] = env.get("WORKSHOP_REGION", "us-east-1")
    values.update(_overrides)
    return _validate(Settings(**values))


def local_environment(s: Settings) -> dict[str, str]:
    """The WORKSHOP_* variables that make settings() in a child process (the local AWS and its
    runtime) read back the local settings of `s`."""
    env = {"WORKSHOP_TARGET": "local", "WORKSHOP_LOCAL_PORT": str(s.local_port),
           "WORKSHOP_REGION": s.region, "WORKSHOP_STATE_DIR": str(s.state_dir),
           "WORKSHOP_LOCAL_REALISTIC": "on" if s.realistic else "off",
           "WORKSHOP_LOCAL_PATCHES": "on" if s.local_patches else "off",
           "WORKSHOP_LOCAL_RETENTION_SECONDS": ("off" if s.retention_seconds is None
                                                else repr(s.retention_seconds)),
           "WORKSHOP_LOCAL_RETENTION_RECORDS": str(s.retention_records),
           "WORKSHOP_LOCAL_BUFFER_SECONDS": ("" if s.local_buffer_seconds is None
                                             else repr(s.local_buffer_seconds))}
    return env


def configure(**changes: Any) -> Settings:
    """Override settings for this process (a notebook kernel), e.g. `configure(prefix="alice")`."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(changes) - fields
    if unknown:
        raise ConfigError(f"Unknown setting(s) {sorted(unknown)}; known: {sorted(fields)}.")
    previous = dict(_overrides)
    _overrides.update(changes)
    try:
        chosen = settings()
    except ConfigError:
        _overrides.clear()
        _overrides.update(previous)  # a bad value never stays in force
        raise
    clients.cache_clear()
    return chosen


def reset() -> None:
    """Forget every `configure()` override (tests use this)."""
    _overrides.clear()
    clients.cache_clear()


# Botocore reads profiles, config files and endpoint variables from the environment; the local
# target must ignore all of them, so its session is built with those lookups switched off.
_ISOLATED_SESSION_VARS = {
    "profile": (None, None, None, None),
    "config_file": (None, None, os.devnull, None),
    "credentials_file": (None, None, os.devnull, None),
}


def _refuse_non_local(request: Any, **_: Any) -> None:
    host = urlsplit(request.url).hostname
    if host != LOCAL_HOST:
        raise LocalModeViolation(
            f"Local mode refused a request to {host}: only the local AWS on {LOCAL_HOST} may be "
            "called. Set WORKSHOP_TARGET=aws to use a real account on purpose."
        )


def session(s: Settings | None = None) -> boto3.Session:
    """A boto3 session for the target: dummy credentials and no profile in local mode."""
    s = s or settings()
    if not s.is_local:
        return boto3.Session(profile_name=s.profile, region_name=s.region)
    core = botocore.session.Session(session_vars=_ISOLATED_SESSION_VARS)
    core.register("before-send", _refuse_non_local)
    return boto3.Session(
        botocore_session=core,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name=s.region,
    )


@lru_cache(maxsize=64)
def _client(s: Settings, service: str, validate: bool = True) -> Any:
    retries = {"max_attempts": 2 if s.is_local else 8, "mode": "standard"}
    config = Config(retries=retries, connect_timeout=5, read_timeout=60, max_pool_connections=20,
                    parameter_validation=validate)
    return session(s).client(service, endpoint_url=s.endpoint_url, config=config)


def client(service: str, s: Settings | None = None, *, validate: bool = True) -> Any:
    """A boto3 client for `service` on the current target (made once per settings, then reused).

    `validate=False` skips botocore's client-side check of each request against the API model
    (documented as a switch for speed). Only for requests the workshop builds itself, which the
    service validates anyway: it is a third of the generator's CPU per 25-order batch write.
    """
    return _client(s or settings(), service, validate)


clients = _client  # the cache, exposed so configure() can clear it
