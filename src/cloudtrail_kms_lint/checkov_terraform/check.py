"""The Terraform and terraform_plan half of the checkov checks.

checkov runs one resource registry for both frameworks (``terraform`` and
``terraform_plan``) and, before each check, sets ``check.graph`` to the graph
of the configuration (a plan's graph for ``terraform_plan``). A check finds its
own vertex there, by the resource's address (``conf["__address__"]``) and the
file checkov is scanning (``self.entity_path`` =
``"<file relative to the root>:<type>:<name>"``; a plan's configuration also
records the absolute ``__file__``), and reads the verdict of the shared
analysis (``analysis.analyse_vertex``), computed once per trail and graph.

A check never raises and never returns UNKNOWN (checkov drops both silently):
when the graph is missing, the vertex is not found or the analysis fails,
CKV_CTKMS_7 FAILS and says why, and the other checks PASS.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Optional

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from .. import catalogue
from .analysis import TRAIL_TYPES, analyse_vertex
from .graph import GraphIndex, Vertex, index_for

LOG = logging.getLogger(__name__)

NOT_VERIFIED = "CTKMS007"
TERRAFORM_TYPES = {kind: rtype for rtype, kind in TRAIL_TYPES.items()}
_MAX_FRAMES = 40
_MAX_FILE_BYTES = 4 * 1024 * 1024


def _severity(name: str) -> Any:
    try:
        from checkov.common.bridgecrew.severities import Severities

        return Severities.get(name)
    except Exception:  # noqa: BLE001 - an older checkov without severities
        return None


def _scalar(v: Any) -> Any:
    if isinstance(v, list) and len(v) == 1:
        return v[0]
    return v


# --------------------------------------------------------------------------- files, read once per graph


def _file_lines(index: GraphIndex, path: str) -> Optional[list]:
    key = ("lines", path)
    if key not in index.files:
        try:
            if os.path.getsize(path) > _MAX_FILE_BYTES:
                raise OSError("too large")
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                index.files[key] = fh.read().splitlines()
        except OSError:
            index.files[key] = None
    return index.files[key]


def _raw_blocks(index: GraphIndex, path: str) -> Optional[dict]:
    """The file as checkov's HCL loader reads it, before rendering (expressions as text)."""
    key = ("raw", path)
    if key not in index.files:
        data = None
        if path.endswith(".tf"):
            try:
                from checkov.terraform.parser_utils import load_or_die_quietly

                data = load_or_die_quietly(path, {})
            except Exception:  # noqa: BLE001 - no raw text: the graph's edges are used as they are
                LOG.debug("cloudtrail-kms-lint: could not read %s again", path, exc_info=True)
                data = None
        index.files[key] = data if isinstance(data, dict) else None
    return index.files[key]


def raw_source(index: GraphIndex):
    """A RawSource for the analysis: a vertex attribute as checkov's HCL loader read it,
    before rendering (expressions as ``${...}`` text)."""

    def get(v: Vertex, attr: Optional[str]) -> Any:
        data = _raw_blocks(index, v.file)
        if not data:
            return None
        value: Any = None
        name = v.name.split("[", 1)[0]
        if v.block_type in ("resource", "data"):
            type_, _, short = name.partition(".")
            for entry in data.get(v.block_type, []) or []:
                body = (entry.get(type_) or {}).get(short) if isinstance(entry, dict) else None
                if isinstance(body, dict) and attr is None:
                    value = body
                elif isinstance(body, dict) and attr in body:
                    value = body[attr]
        elif v.block_type == "locals":
            for entry in data.get("locals", []) or []:
                if isinstance(entry, dict) and name in entry:
                    value = entry[name]
        elif v.block_type in ("output", "module"):
            for entry in data.get(v.block_type, []) or []:
                body = entry.get(name) if isinstance(entry, dict) else None
                if isinstance(body, dict) and attr in body:
                    value = body[attr]
                elif isinstance(body, dict) and v.block_type == "output" and "value" in body:
                    value = body["value"]
        return value

    return get


# --------------------------------------------------------------------------- finding the trail's vertex


def split_entity_path(entity_path: str, entity_type: str) -> tuple[str, str]:
    """(scanned file, name) of checkov's ``"<scanned file>:<type>:<name>"``."""
    marker = f":{entity_type}:"
    i = entity_path.rfind(marker)
    if i < 0:
        head, _, name = entity_path.rpartition(":")
        return head, name
    return entity_path[:i], entity_path[i + len(marker):]


def _runner_file() -> str:
    """The absolute file checkov's runner is checking (its ``full_file_path`` local)."""
    try:
        frame = sys._getframe(2)
    except Exception:  # noqa: BLE001 - no frame introspection
        return ""
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        f = frame.f_locals.get("full_file_path")
        path = getattr(f, "file_path", f)
        if isinstance(path, str) and path:
            return path
        frame = frame.f_back
    return ""


def find_trail(index: GraphIndex, conf: dict, entity_path: str, entity_type: str) -> tuple[Optional[Vertex], str]:
    scanned_file, name = split_entity_path(entity_path, entity_type)
    address = _scalar(conf.get("__address__"))
    if not isinstance(address, str) or not address:
        address = f"{entity_type}.{name}"
    start = _scalar(conf.get("__start_line__"))
    if not isinstance(start, int):
        start = _scalar(conf.get("start_line"))
    abs_file = _scalar(conf.get("__file__"))
    if not isinstance(abs_file, str):
        abs_file = ""
    cands = index.find_resource(address, scanned_file, start if isinstance(start, int) else None, abs_file)
    if len(cands) > 1:
        runner = _runner_file()
        if runner:
            narrowed = index.find_resource(address, scanned_file, start if isinstance(start, int) else None, runner)
            if len(narrowed) == 1:
                cands = narrowed
    if len(cands) == 1:
        return cands[0], ""
    if not cands:
        return None, f"{address} ({scanned_file}) is not in checkov's graph"
    return None, f"{address} ({scanned_file}) matches {len(cands)} vertices of checkov's graph"


# --------------------------------------------------------------------------- the check


class TerraformCheck(BaseResourceCheck):
    """Base class of the Terraform (and terraform_plan) checks; subclasses set ``rule_id``."""

    rule_id = ""

    def __init__(self) -> None:
        rule = catalogue.BY_ID[self.rule_id]
        self.rule = rule
        super().__init__(
            name=rule.title,
            id=rule.checkov_id,
            categories=[CheckCategories.ENCRYPTION, CheckCategories.LOGGING],
            supported_resources=[TERRAFORM_TYPES[kind] for kind in rule.applies_to],
            guideline=rule.help_uri,
        )
        self.severity = _severity(rule.checkov_severity)

    def scan_entity_conf(self, conf: dict, entity_type: str) -> CheckResult:
        # checkov's version also rewrites dynamic blocks in ``conf``; the verdict here comes from
        # the graph, and an exception there must not become a silent UNKNOWN.
        self.entity_type = entity_type
        if isinstance(conf, dict) and conf.get("count") == [0]:
            return CheckResult.UNKNOWN  # no instance exists (checkov's own convention): nothing to report
        return self.scan_resource_conf(conf if isinstance(conf, dict) else {})

    def scan_resource_conf(self, conf: dict) -> CheckResult:
        try:
            return self._verdict(conf)
        except Exception as e:  # noqa: BLE001 - an exception would become a silent UNKNOWN
            LOG.debug("cloudtrail-kms-lint check %s failed", self.id, exc_info=True)
            return self._not_verified(f"the check failed ({type(e).__name__}: {e})")

    def _not_verified(self, why: str) -> CheckResult:
        if self.rule_id != NOT_VERIFIED:
            return CheckResult.PASSED
        self.details = [f"CTKMS007: {why}; the CloudTrail key policy was not verified"]
        return CheckResult.FAILED

    def _verdict(self, conf: dict) -> CheckResult:
        self.evaluated_keys = ["kms_key_id"]
        graph = getattr(self, "graph", None)
        if graph is None:
            return self._not_verified("checkov gave the check no graph of the configuration")
        index = index_for(graph)
        trail, why = find_trail(index, conf, self.entity_path, self.entity_type)
        if trail is None:
            return self._not_verified(why)
        analysis = analyse_vertex(index, trail, raw_source(index), lambda path: _file_lines(index, path))
        if analysis.failure:
            return self._not_verified(analysis.failure)
        found = analysis.findings_for(self.rule_id)
        if not found:
            return CheckResult.PASSED
        self.details = [f"{f.message} [{f.rule}]" for f in found]
        return CheckResult.FAILED
