"""Terraform names and symbols shared by both Terraform front ends (the CLI's and checkov's).

Parser-free (stdlib and the core only), so the checkov checks can import it
without python-hcl2.
"""

from __future__ import annotations

import re

from .catalogue import EVENT_DATA_STORE, TRAIL
from .values import Symbol

TRAIL_TYPES = {"aws_cloudtrail": TRAIL, "aws_cloudtrail_event_data_store": EVENT_DATA_STORE}
KEY_TYPES = ("aws_kms_key", "aws_kms_replica_key", "aws_kms_external_key", "aws_kms_replica_external_key")
# a key id or multi-Region key id (what aws_kms_key.x.key_id gives)
KEY_ID = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")

# The environment Terraform runs in: taken to be the trail's own (policy.py).
PARTITION = Symbol("data.aws_partition.current.partition", "partition", "the partition Terraform runs in")
REGION = Symbol("data.aws_region.current.name", "region", "the region Terraform runs in")
ACCOUNT = Symbol("data.aws_caller_identity.current.account_id", "account", "the account Terraform runs in")
