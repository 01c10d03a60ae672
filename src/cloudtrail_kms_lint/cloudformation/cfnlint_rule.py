"""The cfn-lint glue: one base class for the rules in ``plugin/``.

Imports cfn-lint, so only the plugin loads it. Each subclass names one catalogue
rule; ids, texts and links come from the catalogue. The analysis is the shared
CloudFormation analysis, run once per template and shared by the seven rules.
A rule never raises: cfn-lint would turn an exception into E0002 even for users
who ignore the rule.
"""

from __future__ import annotations

import logging
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from .. import catalogue
from .analysis import KEY_PROPERTY, analyse_template

LOG = logging.getLogger(__name__)
_CACHE: dict[tuple[int, str], tuple[Any, list]] = {}
_CACHE_SIZE = 8


def _findings(cfn) -> list:
    template = cfn.template
    filename = str(cfn.filename or "")
    key = (id(template), filename)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is template:
        return hit[1]
    try:
        findings = analyse_template(template, filename)
        failure = None
    except Exception as e:  # noqa: BLE001 - never raise into cfn-lint
        LOG.debug("cloudtrail-kms-lint analysis failed", exc_info=True)
        findings, failure = [], e
    if failure is not None:
        findings = [("failure", failure)]
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = (template, findings)
    return findings


class TrailKmsRule(CloudFormationLintRule):
    """Base class; subclasses set ``rule_id`` to a catalogue id."""

    rule_id = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.rule_id:
            rule = catalogue.BY_ID[cls.rule_id]
            cls.id = rule.cfn_lint_id
            cls.shortdesc = rule.title
            cls.description = f"Fails when {rule.fails_when}. ({rule.id})"
            cls.source_url = rule.help_uri
            cls.tags = ["cloudtrail", "kms", "security", rule.id.lower()]

    def match(self, cfn):
        try:
            return self._match(cfn)
        except Exception:  # noqa: BLE001
            LOG.debug("cloudtrail-kms-lint rule %s failed", self.id, exc_info=True)
            return []

    def _match(self, cfn):
        matches = []
        findings = _findings(cfn)
        if findings and isinstance(findings[0], tuple):
            if self.rule_id == "CTKMS007":
                return [RuleMatch(["Resources"], f"CTKMS007: the template could not be analysed ({findings[0][1]}); "
                                                 "CloudTrail key policies were not verified")]
            return []
        resources = cfn.template.get("Resources", {}) if isinstance(cfn.template, dict) else {}
        for f in findings:
            if f.rule != self.rule_id:
                continue
            path: list = ["Resources", f.resource]
            props = resources.get(f.resource, {}).get("Properties", {}) if isinstance(resources.get(f.resource), dict) else {}
            prop = KEY_PROPERTY.get(f.resource_type)
            if prop and isinstance(props, dict) and prop in props:
                path = ["Resources", f.resource, "Properties", prop]
            matches.append(RuleMatch(path, f"{f.message} [{f.rule}]"))
        return matches
