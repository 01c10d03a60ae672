"""``python -m cloudtrail_kms_lint`` (e.g. ``python -m cloudtrail_kms_lint checks-dir``)."""

import sys

from .cli import main

sys.exit(main())
