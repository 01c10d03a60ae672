"""The checkov glue: the base classes of the checks in ``checks/``.

Each check file defines two checks with the same id: a :class:`CloudFormationCheck`
(below) and a :class:`TerraformCheck` (``checkov_terraform``: checkov's Terraform
graph, for the ``terraform`` and ``terraform_plan`` frameworks).

Imports checkov, so only the check files import this module (the core never
does). Each check names one catalogue rule; its id (CKV_CTKMS_n), name,
guideline and severity come from the catalogue. The verdict is the shared
CloudFormation analysis (``analyse_template``) of the template file behind the
resource, read with checkov's own parser and analysed once per file.

Why the file is read again: checkov gives a Python check only the resource's
configuration, after its graph has rendered it (``!Ref Param`` replaced by the
parameter's default, the ``Condition`` and the other resources gone), and no
graph. The key reference must be followed through the whole template, so the
check finds the template file behind the resource:

1. checkov's YAML/JSON loader records, in every mapping it builds, the path it
   opened (``__file__``: the runner's root folder joined with the file, so
   relative to the working directory when the root is relative). The resource
   configuration's ``Properties`` keep it through the graph.
2. A resource without ``Properties`` has no such record: the check then takes
   ``file_abs_path`` from the runner's ``check_definitions`` frame (the loop
   over files that calls the registry), and last joins the scanned file
   (``self.entity_path`` = ``"/<file relative to the root>:<type>:<logical id>"``)
   with the runner's ``root_folder`` or the working directory.

Every candidate is checked: the file must parse and hold a resource with that
logical id and type (and, when checkov recorded it, the same start line: its
graph copies the resource's ``__startline__`` into ``Properties``). The logical id comes from ``self.entity_path``.

A check never raises and never returns UNKNOWN (checkov drops both silently):
when the template cannot be found, read or analysed, CKV_CTKMS_7 FAILS and says
why, and the other checks PASS.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

from . import catalogue
from .catalogue import EVENT_DATA_STORE, TRAIL
from .cloudformation.analysis import KEY_PROPERTY, analyse_template
from .cloudformation.intrinsics import EDS_TYPE, TRAIL_TYPE
from .checkov_terraform.check import TerraformCheck  # noqa: F401 - the Terraform checks' base class
from .model import Finding

LOG = logging.getLogger(__name__)

NOT_VERIFIED = "CTKMS007"
CLOUDFORMATION_TYPES = {TRAIL: TRAIL_TYPE, EVENT_DATA_STORE: EDS_TYPE}
# keys checkov's YAML loader adds to every mapping it builds
_LOADER_KEYS = frozenset(("__file__", "__startline__", "__endline__"))
_CACHE_SIZE = 32
_MAX_FRAMES = 40


def _severity(name: str) -> Any:
    try:
        from checkov.common.bridgecrew.severities import Severities

        return Severities.get(name)
    except Exception:  # noqa: BLE001 - an older checkov without severities: no severity
        return None


# --------------------------------------------------------------------------- reading a template


@dataclass
class TemplateAnalysis:
    """One template file, read with checkov's parser and analysed once."""

    file: str
    resources: dict = field(default_factory=dict)  # logical id -> (type, start line of its mapping or None)
    findings: list = field(default_factory=list)  # Finding
    failure: Optional[str] = None  # why the template could not be analysed

    def findings_for(self, rule_id: str, logical: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule_id and f.resource == logical]


_CACHE: "OrderedDict[tuple, TemplateAnalysis]" = OrderedDict()


def clear_cache() -> None:
    _CACHE.clear()


def _strip_loader_keys(node: Any, depth: int = 0, memo: Optional[dict] = None) -> Any:
    """A copy of a checkov-parsed node without the ``__file__``/``__startline__``/``__endline__``
    keys its loader adds to every mapping (they would read as properties and break
    ``{"Ref": ...}`` intrinsics); nodes keep their class and ``start_mark``. Shared
    (YAML-aliased) containers are copied once and stay shared."""
    if depth > 200:
        raise RecursionError("the template is nested too deeply")
    memo = {} if memo is None else memo
    if isinstance(node, (dict, list)) and id(node) in memo:
        return memo[id(node)]
    if isinstance(node, dict):
        items = {k: _strip_loader_keys(v, depth + 1, memo) for k, v in node.items() if k not in _LOADER_KEYS}
        out = _same_kind(node, items)
    elif isinstance(node, list):
        out = _same_kind(node, [_strip_loader_keys(v, depth + 1, memo) for v in node])
    else:
        return node
    memo[id(node)] = out
    return out


def _same_kind(node: Any, value: Any) -> Any:
    start = getattr(node, "start_mark", None)
    if start is None:
        return value
    try:
        return type(node)(value, start, getattr(node, "end_mark", None))
    except Exception:  # noqa: BLE001 - a node class with another constructor: plain data, no line
        return value


def _resource_line(resource: Any) -> Optional[int]:
    """The resource's ``__startline__`` as checkov's loader records it (the start of its mapping)."""
    line = resource.get("__startline__") if isinstance(resource, dict) else None
    if isinstance(line, int):
        return line
    mark = getattr(resource, "start_mark", None)
    line = getattr(mark, "line", None)
    return line + 1 if isinstance(line, int) else None


def _file_key(path: str) -> Optional[tuple]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_mtime_ns, st.st_size, st.st_ino)


def analyse_file(path: str) -> TemplateAnalysis:
    """Parse ``path`` with checkov's CloudFormation parser and analyse it; cached per file
    (path, modification time and size), so the checks of one run share one analysis."""
    path = os.path.abspath(path)
    key = _file_key(path)
    if key is not None:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    result = _analyse_uncached(path)
    if key is not None:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def _analyse_uncached(path: str) -> TemplateAnalysis:
    out = TemplateAnalysis(file=path)
    try:
        from checkov.cloudformation.parser import parse

        template, _lines = parse(path)
        if not isinstance(template, dict):
            out.failure = f"checkov's parser could not read {path} again"
            return out
        for logical, res in (template.get("Resources") or {}).items():
            if isinstance(res, dict) and str(logical) not in _LOADER_KEYS:
                out.resources[str(logical)] = (str(res.get("Type")), _resource_line(res))
        from . import limits
        from .cloudformation.loader import expanded_size

        cap = limits.current().max_yaml_nodes
        if expanded_size(template, cap) > cap:  # a YAML alias bomb: refuse it, as the CLI's loader does
            out.failure = f"{path} resolves to more than {cap} values once YAML aliases are expanded (an alias bomb?)"
            return out
        out.findings = analyse_template(_strip_loader_keys(template), path)
    except RecursionError:
        out.failure = f"{path} is nested too deeply to analyse"
    except Exception as e:  # noqa: BLE001 - never raise into checkov
        LOG.debug("cloudtrail-kms-lint: analysing %s failed", path, exc_info=True)
        out.failure = f"the analysis of {path} failed ({type(e).__name__}: {e})"
    return out


# --------------------------------------------------------------------------- finding the file


def split_entity_path(entity_path: str, entity_type: str) -> tuple[str, str]:
    """(scanned file, logical id) of checkov's ``"<scanned file>:<type>:<logical id>"``.

    The type (``AWS::CloudTrail::Trail``) has colons of its own and the file may
    have some; a logical id is alphanumeric, so the last ``:<type>:`` splits it."""
    marker = f":{entity_type}:"
    i = entity_path.rfind(marker)
    if i < 0:
        head, _, name = entity_path.rpartition(":")
        return head, name
    return entity_path[:i], entity_path[i + len(marker):]


def _recorded_file(conf: Any) -> Optional[str]:
    """The ``__file__`` checkov's loader recorded in the resource's configuration."""
    stack: list = [conf]
    seen = 0
    while stack and seen < 200:
        node = stack.pop(0)
        seen += 1
        if isinstance(node, dict):
            f = node.get("__file__")
            if isinstance(f, str) and f:
                return f
            stack.extend(v for k, v in node.items() if k not in _LOADER_KEYS and isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return None


def _runner_frame_paths(logical: str) -> tuple[list[str], list[str]]:
    """(files, root folders) from the checkov runner frames that called this check."""
    files: list[str] = []
    roots: list[str] = []
    try:
        frame = sys._getframe(1)
    except Exception:  # noqa: BLE001 - no frame introspection
        return files, roots
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        loc = frame.f_locals
        f = loc.get("file_abs_path")
        if isinstance(f, str) and loc.get("resource_name") == logical:
            files.append(f)
        r = loc.get("root_folder")
        if isinstance(r, str) and r:
            roots.append(r)
        frame = frame.f_back
    return files, roots


def _candidates(scanned_file: str, logical: str, conf: Any) -> Iterable[str]:
    recorded = _recorded_file(conf)
    if recorded:
        yield recorded
    files, roots = _runner_frame_paths(logical)
    yield from files
    rel = scanned_file.lstrip("/\\")
    if rel:
        for root in roots + [os.getcwd()]:
            yield os.path.join(root, rel)
        if os.path.isabs(scanned_file):
            yield scanned_file


def find_template(scanned_file: str, logical: str, entity_type: str, conf: Any) -> tuple[Optional[TemplateAnalysis], str]:
    """The analysis of the template that holds resource ``logical``, and, when none is
    found, why."""
    want_line = None
    props = conf.get("Properties") if isinstance(conf, dict) else None
    if isinstance(props, dict) and isinstance(props.get("__startline__"), int):
        want_line = props["__startline__"]
    tried: list[str] = []
    fallback: Optional[TemplateAnalysis] = None
    for cand in _candidates(scanned_file, logical, conf):
        path = os.path.abspath(cand)
        if path in tried:
            continue
        tried.append(path)
        if not os.path.isfile(path):
            continue
        analysis = analyse_file(path)
        found = analysis.resources.get(logical)
        if analysis.failure and not analysis.resources:
            fallback = fallback or analysis
            continue
        if found is None or found[0] != entity_type:
            continue
        if want_line is not None and found[1] is not None and found[1] != want_line:
            continue
        return analysis, ""
    if fallback is not None:
        return fallback, fallback.failure or ""
    shown = ", ".join(tried) if tried else "no candidate path"
    return None, f"the template file of {logical} ({scanned_file}) was not found (tried {shown})"


# --------------------------------------------------------------------------- the checks


class CloudFormationCheck(BaseResourceCheck):
    """Base class of the CloudFormation checks; subclasses set ``rule_id`` to a catalogue id."""

    rule_id = ""

    def __init__(self) -> None:
        rule = catalogue.BY_ID[self.rule_id]
        self.rule = rule
        super().__init__(
            name=rule.title,
            id=rule.checkov_id,
            categories=[CheckCategories.ENCRYPTION, CheckCategories.LOGGING],
            supported_resources=[CLOUDFORMATION_TYPES[kind] for kind in rule.applies_to],
            guideline=rule.help_uri,
        )
        self.severity = _severity(rule.checkov_severity)

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
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

    def _verdict(self, conf: dict[str, Any]) -> CheckResult:
        entity_type = self.entity_type or str(conf.get("Type", ""))
        scanned_file, logical = split_entity_path(self.entity_path, entity_type)
        prop = KEY_PROPERTY.get(entity_type)
        if prop:
            self.evaluated_keys = [f"Properties/{prop}"]
        analysis, why = find_template(scanned_file, logical, entity_type, conf)
        if analysis is None:
            return self._not_verified(why)
        if analysis.failure:
            return self._not_verified(analysis.failure)
        found = analysis.findings_for(self.rule_id, logical)
        if not found:
            return CheckResult.PASSED
        self.details = [f"{f.message} [{f.rule}]" for f in found]
        return CheckResult.FAILED
