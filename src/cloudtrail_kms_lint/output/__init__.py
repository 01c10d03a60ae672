"""Output formats for a :class:`~cloudtrail_kms_lint.report.ScanResult`.

``render(result, fmt)`` returns the whole output as one string (ending in a
newline unless it is empty). Every format orders findings by
``Finding.sort_key()`` and input errors by ``InputError.sort_key()`` without
touching the input lists, and the output depends only on the input: the same
result renders to the same bytes, with no timestamps.

Formats:

``text``
    Human-readable, grouped by file, wrapped for an 80-column terminal.
``json``
    The stable machine-readable schema (``"version": "1"``).
``sarif``
    SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.
``github``
    GitHub Actions workflow commands (``::error file=...::message``).
``junit``
    JUnit XML for CI test report views (GitLab, Jenkins, Azure DevOps).

Standard library only: this runs inside checkov's and cfn-lint's environments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..report import ScanResult

FORMATS = ("text", "json", "sarif", "github", "junit")
DEFAULT_FORMAT = "text"

__all__ = ["FORMATS", "DEFAULT_FORMAT", "render"]


def render(
    result: ScanResult,
    fmt: str = DEFAULT_FORMAT,
    *,
    color: bool = False,
    verbose: bool = False,
    tool_version: str = "0.0.0",
) -> str:
    """Render ``result`` in format ``fmt`` (one of :data:`FORMATS`).

    ``color`` and ``verbose`` only affect ``text``; ``tool_version`` only
    ``sarif`` and ``junit``. Raises ``ValueError`` for an unknown format.
    """
    # each formatter is imported when used: a pre-commit run should not pay for XML and SARIF
    if fmt == "text":
        from . import text

        return text.render(result, color=color, verbose=verbose)
    if fmt == "json":
        from . import json_format

        return json_format.render(result)
    if fmt == "sarif":
        from . import sarif

        return sarif.render(result, tool_version=tool_version)
    if fmt == "github":
        from . import github

        return github.render(result)
    if fmt == "junit":
        from . import junit

        return junit.render(result, tool_version=tool_version)
    raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
