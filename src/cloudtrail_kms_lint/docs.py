"""Rule documentation rendered from the catalogue (for `cloudtrail-kms-lint explain`)."""

from __future__ import annotations

import textwrap

from .catalogue import Rule


def rule_section(rule: Rule, width: int = 80) -> str:
    def para(title: str, body: str) -> list[str]:
        return [title, *textwrap.wrap(body, width=width, initial_indent="  ", subsequent_indent="  "), ""]

    lines = [f"{rule.id}: {rule.title}",
             f"  checkov {rule.checkov_id} | cfn-lint {rule.cfn_lint_id} | level {rule.level}", ""]
    lines += para("What it checks", f"Fails when {rule.fails_when}.")
    lines += para("Why it's bad", rule.rationale)
    lines += para("How to fix", rule.remediation)
    lines.append("Mappings")
    for k, v in rule.mappings.items():
        lines.extend(textwrap.wrap(f"{k}: {', '.join(v)}", width=width, initial_indent="  ", subsequent_indent="    "))
    lines += ["", f"More: {rule.help_uri}"]
    return "\n".join(lines)
