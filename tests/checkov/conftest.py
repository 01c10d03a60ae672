"""Settings for the checkov tests (they run only in the checkov environment, .venv-checkov).

checkov is kept offline: no package update check, no download of the platform's
check metadata (the same as ``--skip-download``). These are set before any test
imports checkov.

This directory has no ``__init__.py`` on purpose: with one, pytest imports the
tests as the package ``checkov`` (the directory's name), which shadows the real
checkov in the test process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
os.environ.setdefault("BC_SKIP_MAPPING", "TRUE")
os.environ.setdefault("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")

_HERE = Path(__file__).resolve().parent
for p in (_HERE, _HERE.parent):  # ckv_harness.py here, corpus.py in tests/
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
