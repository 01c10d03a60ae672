"""The text output of a scan of examples/ reads well in an 80-column terminal (a pinned snapshot).

``cloudtrail-kms-lint scan examples/ --color never`` (and with ``--show-fix``)
is compared with tests/fixtures/examples_text.txt (examples_text_show_fix.txt).
Every line fits in 80 columns, except a line that is a single token that
cannot be broken (a long ARN). After an intended change to the messages or the
layout, read the new output critically and rewrite the snapshots with

    CKL_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_examples_text.py
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from cloudtrail_kms_lint.cli import main

REPO = Path(__file__).resolve().parent.parent
SNAPSHOTS = {
    (): REPO / "tests" / "fixtures" / "examples_text.txt",
    ("--show-fix",): REPO / "tests" / "fixtures" / "examples_text_show_fix.txt",
}


def _scan(*extra: str) -> tuple[int, str]:
    out = io.StringIO()
    old = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["scan", "examples/", "--color", "never", "--no-config", *extra])
    finally:
        os.chdir(old)
    return code, out.getvalue()


@pytest.mark.parametrize("extra", list(SNAPSHOTS), ids=lambda e: " ".join(e) or "default")
def test_examples_text_snapshot(extra):
    code, text = _scan(*extra)
    assert code == 1  # some examples are meant to fail
    snapshot = SNAPSHOTS[extra]
    if os.environ.get("CKL_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8", newline="\n")
    assert text == snapshot.read_text(encoding="utf-8"), (
        f"the text output of 'scan examples/ {' '.join(extra)}' changed; if that is intended, read it in an "
        f"80-column terminal and rewrite {snapshot.name} (see this module's docstring)")


@pytest.mark.parametrize("extra", list(SNAPSHOTS), ids=lambda e: " ".join(e) or "default")
def test_examples_text_fits_80_columns(extra):
    _code, text = _scan(*extra)
    for line in text.splitlines():
        assert len(line) <= 80 or len(line.split()) == 1, f"{len(line)} columns: {line!r}"


def test_show_fix_adds_only_fix_blocks():
    """--show-fix adds ``edit:`` blocks; every other line is the same, in the same order."""
    _code, plain = _scan()
    _code, fixed = _scan("--show-fix")
    assert "    edit: " in fixed and "    edit: " not in plain
    kept = []
    in_fix = False
    for line in fixed.splitlines():
        if line.startswith("    edit: "):
            in_fix = True
            continue
        if in_fix and line.startswith(" " * 10):
            continue
        in_fix = False
        kept.append(line)
    assert kept == plain.splitlines()
