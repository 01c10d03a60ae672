"""Reading CloudFormation templates with cfn-lint's decoder (an optional dependency)."""

from __future__ import annotations

from typing import Any, Optional

from ..report import InputError

MISSING_EXTRA = (
    "CloudFormation support needs cfn-lint, which is not installed: "
    "pip install 'cloudtrail-kms-lint[cloudformation]' (cfn-lint's decoder reads YAML short forms "
    "such as !Ref and !Sub and records the line of every node)"
)


class ParserMissing(Exception):
    """The parser for a file type is not installed; the message says which extra to install."""


def decode(path: str, display: str) -> tuple[Optional[Any], list[InputError]]:
    """Decode one template file; return (template or None, errors with file and line)."""
    try:
        from cfnlint.decode import decode as cfn_decode
    except ImportError as e:  # pragma: no cover - exercised in an environment without cfn-lint
        raise ParserMissing(MISSING_EXTRA) from e
    try:
        template, matches = cfn_decode(path)
    except RecursionError:
        return None, [InputError(display, None, "the template is nested too deeply to parse")]
    except Exception as e:  # the decoder should report, not raise; never let it reach the user
        return None, [InputError(display, None, f"cannot parse the template: {e}")]
    errors = []
    for m in matches or []:
        line = getattr(m, "linenumber", None)
        msg = getattr(m, "message", str(m))
        errors.append(InputError(display, line, f"cannot parse the template: {msg}"))
    if errors:
        return None, errors
    return template, []
