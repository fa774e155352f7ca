"""The environment check of 00_setup: one OK/FAIL line per requirement, each FAIL with its fix.

A learner who reads "FAIL pandas: not importable -> pip install -e ." fixes it in a minute,
instead of meeting an ImportError three notebooks later. What is required is read from the
installed package's own metadata (pyproject.toml's `requires-python` and `dependencies`), so
this list never drifts from the one the project declares.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from workshop import local_aws
from workshop.config import LAMBDA_DIR, TEMPLATE_PATH, Settings, settings

DISTRIBUTION = "gadget-sales-workshop"  # this project, as pip installed it
MIN_FREE_GB = 1.0  # the venv is installed already; this is room for logs, S3 objects, caches
FALLBACK_PYTHON = ">=3.11"  # used only when the package metadata cannot be read


@dataclass(frozen=True)
class Check:
    """One requirement and whether this machine meets it."""

    name: str  # what was checked, e.g. "pandas"
    ok: bool
    detail: str  # what was found, e.g. "version 2.2.3 (needs >=2.2)"
    fix: str = ""  # what to do when it failed

    def __str__(self) -> str:
        text = f"{'OK' if self.ok else 'FAIL':<5} {self.name}: {self.detail}"
        return text if self.ok else f"{text}\n      -> {self.fix}"


def _specifier_allows(spec: str, version: str) -> bool | None:
    """True/False when `packaging` can tell whether version meets spec; None when it cannot."""
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion
    except ImportError:  # pragma: no cover - packaging comes with pip's usual companions
        return None
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None


def requirements(distribution: str = DISTRIBUTION) -> tuple[str, list[tuple[str, str]]]:
    """(requires-python, [(distribution, version specifier)]) of the runtime dependencies."""
    try:
        meta = metadata.metadata(distribution)
        declared = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return FALLBACK_PYTHON, []
    wanted = []
    for line in declared:
        if "extra ==" in line:
            continue  # dev tools: the tests need them, a learner does not
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)", line)
        if match:
            wanted.append((match.group(1), match.group(2).strip()))
    return meta.get("Requires-Python") or FALLBACK_PYTHON, wanted


@lru_cache(maxsize=1)
def _owners() -> dict[str, list[str]]:
    """Top-level module -> distributions providing it (a scan of every installed package)."""
    return metadata.packages_distributions()


def import_name(distribution: str) -> str:
    """The module a distribution is imported as (PyYAML -> yaml, duckdb -> duckdb)."""
    normal = distribution.lower().replace("-", "_")
    modules = [module for module, owners in _owners().items()
               if any(owner.lower().replace("-", "_") == normal for owner in owners)]
    if normal in modules:
        return normal
    public = sorted(m for m in modules if not m.startswith("_"))
    return public[0] if public else normal


def check_python(spec: str) -> Check:
    """The running Python against the project's requires-python."""
    version = ".".join(map(str, sys.version_info[:3]))
    allowed = _specifier_allows(spec, version)
    if allowed is None:
        allowed = sys.version_info[:2] >= (3, 11)
    return Check("Python", allowed, f"version {version} (needs {spec})",
                 "install a newer Python (conda env create -f environment.yml), then make venv")


def check_package(distribution: str, spec: str) -> Check:
    """One dependency: importable, and at a version the project accepts."""
    module = import_name(distribution)
    try:
        importlib.import_module(module)
        version = metadata.version(distribution)
    except (ImportError, metadata.PackageNotFoundError) as error:
        return Check(distribution, False, f"not importable ({type(error).__name__})",
                     "install the workshop's packages: .venv/bin/pip install -e '.[dev]' "
                     "(or make venv)")
    needs = f" (needs {spec})" if spec else ""
    allowed = _specifier_allows(spec, version) if spec else True
    return Check(distribution, allowed is not False, f"version {version}{needs}",
                 f"install a version that matches {spec}: .venv/bin/pip install "
                 f"'{distribution}{spec}'")


def check_template(path: Path = TEMPLATE_PATH) -> Check:
    """The CloudFormation template exists and reads as a template."""
    from workshop import template  # imports yaml: checked here, not at import time

    relative = f"{path.parent.name}/{path.name}"
    try:
        count = len(template.resources(path))
    except (ImportError, template.TemplateError) as error:
        return Check("template", False, f"{relative} cannot be read ({error})",
                     "restore it from git: git checkout -- cloudformation/pipeline.yaml")
    return Check("template", True, f"{relative} ({count} resources)")


def check_lambda_source(folder: Path = LAMBDA_DIR) -> Check:
    """The transformer's source, which the deploy step zips."""
    source = folder / "transformer.py"
    if not source.is_file():
        return Check("transformer", False, f"{folder.name}/{source.name} is missing",
                     "restore it from git: git checkout -- lambda/transformer.py")
    return Check("transformer", True, f"{folder.name}/{source.name} present")


def check_disk(folder: Path, min_gb: float = MIN_FREE_GB) -> Check:
    """Free space where the workshop keeps its state (logs, local S3 cache)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free_gb = shutil.disk_usage(existing).free / 1024**3
    return Check("disk", free_gb >= min_gb, f"{free_gb:.1f} GB free (needs {min_gb:.0f} GB)",
                 "free some disk space, or point WORKSHOP_STATE_DIR at a roomier disk")


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except (urllib.error.URLError, OSError):
        return False


def check_local_aws(s: Settings) -> Check:
    """The local AWS (moto server and runtime) runs and answers on its port."""
    status = local_aws.status(s)
    if not _answers(f"{s.endpoint_url}/moto-api/"):
        return Check("local AWS", False, f"nothing answers at {s.endpoint_url}",
                     "start it: run lab.start() in 00_setup, or `workshop local start`")
    if not status.up:
        return Check("local AWS", False, str(status),
                     "restart it: `workshop local stop`, then `workshop local start`")
    return Check("local AWS", True, f"answers at {s.endpoint_url} (server and runtime running)")


def check_aws_credentials(s: Settings) -> Check:
    """Credentials for the aws target: who the calls will be made as, and where."""
    from botocore.exceptions import BotoCoreError, ClientError

    from workshop.config import client

    try:
        identity = client("sts", s).get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        return Check("AWS credentials", False, f"no usable credentials ({error})",
                     "sign in: `aws configure` or `aws sso login --profile NAME`, then set "
                     "AWS_PROFILE=NAME before starting JupyterLab")
    profile = f", profile {s.profile}" if s.profile else ""
    return Check("AWS credentials", True,
                 f"account {identity['Account']}, region {s.region}{profile}")


def check_environment(s: Settings | None = None,
                      out: Callable[[str], None] | None = print) -> list[Check]:
    """Check every requirement of the workshop; print one OK/FAIL line each, then a summary."""
    s = s or settings()
    python_spec, packages = requirements()
    steps: list[Callable[[], Check]] = [lambda: check_python(python_spec)]
    steps += [lambda d=d, v=v: check_package(d, v) for d, v in packages]
    steps += [check_template, check_lambda_source, lambda: check_disk(s.state_dir)]
    steps.append((lambda: check_local_aws(s)) if s.is_local else
                 (lambda: check_aws_credentials(s)))
    results = []
    for step in steps:
        result = step()
        results.append(result)
        if out is not None:
            out(str(result))
    if out is not None:
        failed = sum(not r.ok for r in results)
        out(f"\nAll {len(results)} checks passed." if not failed else
            f"\n{failed} of {len(results)} checks FAILED: fix them (see the -> lines) before "
            "going on.")
    return results
