"""Terraform front end: HCL parsing (python-hcl2, an optional extra) and expression evaluation.

Importing this package loads no parser: ``hcl2`` is imported on the first
parse. ``parse`` turns files into blocks whose attributes are unevaluated
:class:`~cloudtrail_kms_lint.terraform.parse.Expression` objects;
``expressions.evaluate`` turns an expression into plain data in which values
the code does not fix are :class:`~cloudtrail_kms_lint.values.Symbol` /
:class:`~cloudtrail_kms_lint.values.SymStr`.
"""
