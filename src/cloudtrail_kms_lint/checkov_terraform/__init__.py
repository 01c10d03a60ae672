"""The checkov checks for Terraform (``terraform`` and ``terraform_plan``), from checkov's graph.

* ``graph``: checkov's graph (rustworkx or networkx) read one way, indexed once per graph;
* ``rendered``: checkov's rendered attribute values read back as data with symbols;
* ``policy_document``: ``data "aws_iam_policy_document"`` rendered as the AWS provider does;
* ``analysis``: a trail's key followed through the graph, and the shared verdict (``trail.analyse``);
* ``check``: the checkov check class (the only module that imports checkov).

Nothing here imports an HCL parser or the CLI's Terraform front end
(``cloudtrail_kms_lint.terraform``), which needs python-hcl2: that package must
never be installed next to checkov. Importing this package imports checkov only
through ``check``, on first use of :class:`TerraformCheck`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TerraformCheck"]


def __getattr__(name: str) -> Any:
    if name == "TerraformCheck":
        from .check import TerraformCheck

        return TerraformCheck
    raise AttributeError(name)
