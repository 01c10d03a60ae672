"""Fixes (fixes.py) are correct: applied to the failing fixture, the finding goes away.

For every policy finding (CTKMS003-006) of the failing policy fixtures, the
fix the CLI suggests (``Finding.fix``, written in the style of the file that
holds the policy) is applied to a copy of the case *as text*, the way a user
would paste it: a YAML statement into the KeyPolicy's Statement list at the
list's indentation, a ``statement`` block before the closing brace of the
``aws_iam_policy_document``, an HCL object after ``Statement = [``, a JSON
object at the start of the Statement array; a change (remove a Deny, change
StringEquals to StringLike, remove a Condition) is made to the statement the
fix names. The copy is scanned again: the finding (rule, resource) is gone, no
new error-level finding appeared, and the files still parse.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Optional

import pytest

from corpus import FIXTURES, TEMPLATE_FILES, run_cli

from cloudtrail_kms_lint import catalogue
from cloudtrail_kms_lint.fixes import CODE, CODE_WIDTH, CTX, hcl_lines, json_lines, policy_document_statement, yaml_lines

TF_FIXTURES = FIXTURES.parent / "terraform"
POLICY_RULES = ("CTKMS003", "CTKMS004", "CTKMS005", "CTKMS006")
CASE_PATTERN = re.compile(r"^(rule_00[3-6]_bad_.*|default_key_policy|eds_bad_source_arn|policy_document_.*)$")


def _cases(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and CASE_PATTERN.match(p.name))


CFN_CASES = [(case, name) for case in _cases(FIXTURES) for name in TEMPLATE_FILES if (FIXTURES / case / name).is_file()]
TF_CASES = _cases(TF_FIXTURES)

# Other corpus cases with policy findings: Fn::If scenarios, a KeyPolicy JSON string (its JSON-template twin
# is an escaped string, which the fix only describes), SAM, modules, count/for_each, file(), a replica key.
# Not here: plan JSON (editing the .tf does not change the plan), syntax errors, a downloaded registry
# module whose policy document has count (the fix is plain JSON there), and module_called_twice, whose
# Statement is concat() of two locals (the fix names the policy, the user picks the list).
CFN_OTHER = [("ref_if_in_key_policy", "template.yaml"), ("ref_if_in_key_policy", "template.json"),
             ("ref_if_two_keys", "template.yaml"), ("ref_if_two_keys", "template.json"),
             ("ref_key_policy_json_string", "template.yaml"), ("ref_sam_template", "template.yaml"),
             ("ref_sam_template", "template.json"), ("ref_two_trails_shared_key", "template.yaml"),
             ("ref_two_trails_shared_key", "template.json")]
TF_OTHER = ["count_conditional_enabled", "eds_default_key_policy", "for_each_regions_one_bad_key",
            "module_local_kms_bad", "module_trail_inside", "policy_file_json", "ref_multi_region_replica",
            "ref_two_trails_shared_key", "ref_var_terraform_tfvars"]


# --------------------------------------------------------------------------- reading a fix


def blocks(fix: str) -> list[tuple[str, list[str]]]:
    """(prose, code lines) pairs of a fix text."""
    out: list[tuple[str, list[str]]] = []
    for line in fix.splitlines():
        if line.startswith(CODE):
            assert out, f"code before any prose in:\n{fix}"
            out[-1][1].append(line[len(CODE):])
        elif line.strip():
            out.append((line, []))
    return out


WHERE = re.compile(r"\((?:line (?P<line>\d+)|(?P<file>[^():]+)(?::(?P<fline>\d+))?)\)")


def where(prose: str, default_file: str) -> tuple[str, Optional[int]]:
    """(file, line) named by the last parenthetical location of a prose line."""
    found = [m for m in WHERE.finditer(prose) if m.group("line") or "." in (m.group("file") or "")]
    if not found:
        return default_file, None
    m = found[-1]
    if m.group("line"):
        return default_file, int(m.group("line"))
    return m.group("file"), int(m.group("fline")) if m.group("fline") else None


# --------------------------------------------------------------------------- editing text


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def yaml_item_span(lines: list[str], start: int) -> int:
    """End (exclusive) of the YAML list item / mapping entry starting at ``start``."""
    base = indent_of(lines[start])
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or indent_of(lines[end]) > base):
        end += 1
    return end


def brace_span(lines: list[str], start: int, open_: str = "{", close: str = "}") -> int:
    """End (exclusive) of the bracketed text opening on line ``start``."""
    depth = 0
    for i in range(start, len(lines)):
        depth += lines[i].count(open_) - lines[i].count(close)
        if depth <= 0 and i >= start and (open_ in lines[start]):
            return i + 1
    raise AssertionError(f"no closing {close} for line {start + 1}")


def find_statement(lines: list[str], sid: str, hint: Optional[int], style: str) -> tuple[int, int]:
    """(start, end) line indexes (end exclusive) of the statement with this Sid."""
    patterns = {
        "yaml": re.compile(r"^\s*(-\s+)?Sid:\s*[\"']?" + re.escape(sid) + r"[\"']?\s*$"),
        "hcl": re.compile(r"^\s*Sid\s*=\s*\"" + re.escape(sid) + r"\"\s*$"),
        "doc": re.compile(r"^\s*sid\s*=\s*\"" + re.escape(sid) + r"\"\s*$"),
        "json": re.compile(r"^\s*\"Sid\"\s*:\s*\"" + re.escape(sid) + r"\",?\s*$"),
    }
    hits = [i for i, line in enumerate(lines) if patterns[style].match(line)]
    assert hits, f"no statement with Sid {sid!r}"
    hit = min(hits, key=lambda i: abs(i + 1 - hint)) if hint else hits[0]
    if style == "yaml":
        start = hit
        while not lines[start].lstrip().startswith("- "):
            start -= 1
        return start, yaml_item_span(lines, start)
    opener = "statement {" if style == "doc" else "{"
    start = hit
    while lines[start].strip() != opener:
        start -= 1
    return start, brace_span(lines, start)


def remove_span(lines: list[str], start: int, end: int, json_like: bool) -> list[str]:
    out = lines[:start] + lines[end:]
    if json_like and not lines[end - 1].rstrip().endswith(","):
        # the removed element was the last one: drop the comma that separated it
        prev = start - 1
        while not out[prev].strip():
            prev -= 1
        out[prev] = re.sub(r",\s*$", "", out[prev])
    return out


def insert(lines: list[str], at: int, code: list[str], indent: int) -> list[str]:
    return lines[:at] + [" " * indent + c if c else c for c in code] + lines[at:]


def member_indent(lines: list[str], start: int) -> int:
    """Indentation of the members of the statement (or object/block) opening at ``start``."""
    line = lines[start]
    if line.lstrip().startswith("- "):
        return indent_of(line) + 2
    return indent_of(lines[start + 1])


def code_style(code: list[str]) -> str:
    """yaml, json, hcl (an object in jsonencode) or doc (aws_iam_policy_document blocks) of fix code."""
    first = code[0].strip() if code else ""
    if first.split()[:1] and first.split()[0] in ("statement", "condition", "not_principals", "principals"):
        return "doc"
    if first.startswith("- "):
        return "yaml"
    if re.search(r'^\s*"[^"]+"\s*:', "\n".join(code), re.M):
        return "json"
    if first == "{" or " = " in first:
        return "hcl"
    return "yaml"


def statement_style(lines: list[str], sid: str) -> str:
    """How the statement with this Sid is written in the file."""
    text = "\n".join(lines)
    if re.search(r'"Sid"\s*:\s*"' + re.escape(sid) + '"', text):
        return "json"  # a JSON template, a heredoc, a JSON file, a KeyPolicy string
    if re.search(r'\bsid\s*=\s*"' + re.escape(sid) + '"', text):
        return "doc"
    if re.search(r'\bSid\s*=\s*"' + re.escape(sid) + '"', text):
        return "hcl"
    return "yaml"


STATEMENT_LIST = {"yaml": r"^\s*Statement:\s*$", "json": r"^\s*\"Statement\"\s*:\s*\[\s*$",
                  "hcl": r"^\s*Statement\s*=\s*\[\s*$"}
CONDITION = {"yaml": r"^\s*Condition:\s*$", "hcl": r"^\s*Condition\s*=\s*\{\s*$",
             "json": r"^\s*\"Condition\"\s*:\s*\{\s*$"}


def apply_block(case: Path, file: str, prose: str, code: list[str]) -> None:
    """Apply one (prose, code) block of a fix to the files of ``case``."""
    path_name, line = where(prose, file)
    path = case / path_name
    lines = path.read_text(encoding="utf-8").splitlines()
    m_sid = re.search(r"statement '(?P<sid>[^']*)'", prose)
    sid = m_sid.group("sid") if m_sid else ""
    if prose.startswith(("Add to the Statement list of ", "Add at the start of the Statement array of ")):
        # statements: first in the policy's Statement list, at the list's indentation
        style = code_style(code)
        at = next(i for i in range((line or 1) - 1, len(lines)) if re.match(STATEMENT_LIST[style], lines[i]))
        lines = insert(lines, at + 1, code, indent_of(lines[at + 1]))
    elif prose.startswith("Add this statement block to data.aws_iam_policy_document."):
        # a statement block: before the data block's closing brace
        start = line - 1
        assert lines[start].startswith('data "aws_iam_policy_document"'), lines[start]
        lines = insert(lines, brace_span(lines, start) - 1, code, 2)
    elif sid and re.match(r"^Add (to|at the start of|this \w+ block to) (the \w+ of )?statement '", prose):
        # a member of the statement: after the line that opens it
        assert not re.match(r"^Add (to|at the start of) the \w+ of", prose), "not needed by the fixtures"
        start, _end = find_statement(lines, sid, line, statement_style(lines, sid))
        lines = insert(lines, start + 1, code, member_indent(lines, start))
    elif sid and prose.startswith("In statement") and " change " in prose:
        m = re.search(r"change (?:test = \")?(?P<old>[A-Za-z:]+)\"? to (?:test = \")?(?P<new>[A-Za-z:]+)\"?:", prose)
        assert m, prose
        start, end = find_statement(lines, sid, line, statement_style(lines, sid))
        span = "\n".join(lines[start:end])
        word = re.compile(r"\b" + re.escape(m.group("old")) + r"\b")
        assert word.search(span), (m.group("old"), span)
        lines = lines[:start] + word.sub(m.group("new"), span).split("\n") + lines[end:]
    elif sid and prose.startswith("In statement") and " remove the " in prose:
        style = statement_style(lines, sid)
        start, end = find_statement(lines, sid, line, style)
        if style == "doc":
            keys = re.search(r"remove the condition blocks? on (?P<keys>.*?):", prose).group("keys").split(" and ")
            i = start
            while i < end:
                if lines[i].strip() == "condition {":
                    cend = brace_span(lines, i)
                    if any(f'"{k}"' in x for x in lines[i:cend] for k in keys):
                        lines = lines[:i] + lines[cend:]
                        end -= cend - i
                        continue
                i += 1
        else:
            assert "remove the Condition" in prose, prose
            c = next(i for i in range(start, end) if re.match(CONDITION[style], lines[i]))
            cend = yaml_item_span(lines, c) if style == "yaml" else brace_span(lines, c)
            lines = remove_span(lines, c, cend, style == "json")
    elif sid and prose.startswith("Remove statement"):
        style = statement_style(lines, sid)
        start, end = find_statement(lines, sid, line, style)
        lines = remove_span(lines, start, end, style == "json")
    elif prose.startswith(("Add to the Properties of ", "Add at the start of the Properties of ")):
        start = line - 1
        assert lines[start].strip().startswith(("Properties:", '"Properties": {')), lines[start]
        lines = insert(lines, start + 1, code, indent_of(lines[start + 1]))
    elif re.match(r"^Add to (module\.\S+\.)?aws_kms_\w+\.\S+ \(", prose):
        start = line - 1
        assert lines[start].startswith('resource "aws_kms_'), lines[start]
        lines = insert(lines, start + 1, code, 2)
    elif re.match(r"^Add (this declaration|these declarations) to the module", prose):
        lines = lines + [""] + code
    elif code:
        raise AssertionError(f"the test cannot apply the fix block {prose!r}")
    else:
        return  # a note
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def apply_fix(case: Path, file: str, fix: str) -> None:
    """Apply every block of ``fix`` to the files of ``case`` (``file``: the finding's file)."""
    for prose, code in blocks(fix):
        apply_block(case, file, prose, code)


# --------------------------------------------------------------------------- the tests


def _errors(findings: list[dict]) -> set:
    return {(f["rule"], f["resource"]) for f in findings if f["level"] == catalogue.ERROR}


def _check_case(src: Path, tmp_path: Path, args: list[str], file_of, parameters: Optional[dict] = None) -> int:
    before = run_cli(args, cwd=src, parameters=parameters)
    policy = [f for f in before.findings if f["rule"] in POLICY_RULES]
    assert policy, "the fixture has no policy finding"
    for n, f in enumerate(policy):
        assert f["fix"], f"{f['rule']} {f['resource']} has no fix"
        case = tmp_path / f"{n}-{f['rule']}"
        shutil.copytree(src, case)
        apply_fix(case, file_of(f), f["fix"])
        changed = [p for p in case.rglob("*") if p.is_file()
                   and p.read_bytes() != (src / p.relative_to(case)).read_bytes()]
        assert changed, f"applying the fix changed nothing:\n{f['fix']}"
        after = run_cli(args, cwd=case, parameters=parameters)
        assert not after.errors, f"the fixed files do not parse: {after.errors}\n{f['fix']}"
        left = {(g["rule"], g["resource"]) for g in after.findings}
        assert (f["rule"], f["resource"]) not in left, (
            f"{f['rule']} {f['resource']} is still reported after applying:\n{f['fix']}\n"
            + "\n".join(g["message"] for g in after.findings))
        new = _errors(after.findings) - _errors(before.findings)
        assert not new, f"new error-level findings {new} after applying:\n{f['fix']}"
    return len(policy)


@pytest.mark.parametrize("case,name", CFN_CASES + CFN_OTHER, ids=[f"{c}/{n}" for c, n in CFN_CASES + CFN_OTHER])
def test_cloudformation_fix_removes_the_finding(case, name, tmp_path):
    import json

    expected = json.loads((FIXTURES / case / "expected.json").read_text(encoding="utf-8"))
    _check_case(FIXTURES / case, tmp_path, [name], lambda f: name, expected.get("parameters"))


@pytest.mark.parametrize("case", TF_CASES + TF_OTHER)
def test_terraform_fix_removes_the_finding(case, tmp_path):
    _check_case(TF_FIXTURES / case, tmp_path, ["."], lambda f: f["file"])


EXAMPLES = FIXTURES.parent.parent.parent / "examples"


@pytest.mark.parametrize("name", ["lake-event-data-store.yaml", "unscoped-grant.yaml", "wildcard-in-stringequals.yaml"])
def test_cloudformation_example_fix_removes_the_finding(name, tmp_path):
    _check_case(EXAMPLES / "cloudformation", tmp_path, [name], lambda f: name)


def test_terraform_example_fix_removes_the_finding(tmp_path):
    assert _check_case(EXAMPLES / "terraform" / "wildcard-policy", tmp_path, ["."], lambda f: f["file"]) == 3


def test_the_cases_cover_every_style():
    assert len(CFN_CASES) >= 20 and len(TF_CASES) >= 14
    styles = set()
    for case in TF_CASES:
        text = (TF_FIXTURES / case / "main.tf").read_text(encoding="utf-8")
        styles |= {s for s, mark in (("tf-policy-document", "aws_iam_policy_document"), ("tf-jsonencode", "jsonencode("),
                                     ("tf-json-text", "<<")) if mark in text}
    assert styles == {"tf-policy-document", "tf-jsonencode", "tf-json-text"}


def test_policy_file_fix_writes_json_with_the_literal_account(tmp_path):
    """file(): JSON without interpolation, with the account the policy file names."""
    n = _check_case(TF_FIXTURES / "policy_file_json", tmp_path, ["."], lambda f: f["file"])
    assert n == 1
    fix = run_cli(["."], cwd=TF_FIXTURES / "policy_file_json").findings[0]["fix"]
    assert "(policy.json)" in fix and '"arn:aws:iam::111122223333:root"' in fix and "${" not in fix


# --------------------------------------------------------------------------- what the fixes look like


def _fix(case_dir: Path, args: list[str], rule: str) -> str:
    return next(f["fix"] for f in run_cli(args, cwd=case_dir).findings if f["rule"] == rule)


def test_yaml_fix_uses_sub_and_pseudo_parameters():
    fix = _fix(FIXTURES / "rule_005_bad_unscoped_grant", ["template.yaml"], "CTKMS005")
    assert fix.splitlines()[0] == "Add to statement 'Allow CloudTrail to encrypt logs' (line 51):"
    assert "kms:EncryptionContext:aws:cloudtrail:arn: !Sub" in fix
    assert '"arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"' in fix


def test_json_template_fix_uses_fn_sub():
    fix = _fix(FIXTURES / "rule_003_bad_missing_describe_key", ["template.json"], "CTKMS003")
    assert fix.startswith("Add at the start of the Statement array of the KeyPolicy of TrailKey (line ")
    fix = _fix(FIXTURES / "rule_006_bad_no_reader_grant", ["template.json"], "CTKMS006")
    assert '"Fn::Sub":' in fix and '"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"' in fix


def test_terraform_fix_uses_the_module_locals_and_data_sources():
    fix = _fix(TF_FIXTURES / "rule_006_bad_no_reader_grant", ["."], "CTKMS006")
    assert '"arn:${local.partition}:iam::${local.account_id}:root"' in fix
    assert "ACCOUNT" not in fix and "data \"aws_caller_identity\"" not in fix
    # no data source in the module: the fix declares it instead of writing a placeholder
    fix = _fix(TF_FIXTURES / "default_key_policy", ["."], "CTKMS003")
    assert "${data.aws_caller_identity.current.account_id}" in fix
    assert 'data "aws_caller_identity" "current" {}' in fix and 'data "aws_partition" "current" {}' in fix
    assert fix.splitlines()[1].startswith("Add to aws_kms_key.cloudtrail (line 5):")


def test_policy_document_fix_is_a_statement_block():
    fix = _fix(TF_FIXTURES / "policy_document_override_documents", ["."], "CTKMS006")
    assert fix.splitlines()[0] == "Add this statement block to data.aws_iam_policy_document.cloudtrail_key (line 29):"
    # the principals of the existing (unscoped) reader grant, not the account root
    assert "role/SecurityAudit" in fix and "role/IncidentResponse" in fix and ":root" not in fix
    fix = _fix(TF_FIXTURES / "policy_document_not_principals", ["."], "CTKMS003")
    assert "not_principals {" in fix and '"cloudtrail.amazonaws.com"' in fix


def test_changes_instead_of_additions():
    fix = _fix(TF_FIXTURES / "rule_004_bad_explicit_deny", ["."], "CTKMS004")
    assert fix.startswith("Remove statement 'Deny CloudTrail for trails outside the organization naming scheme'")
    fix = _fix(FIXTURES / "rule_004_bad_stringequals_wildcard", ["template.yaml"], "CTKMS004")
    assert "change StringEquals to StringLike" in fix
    fix = _fix(FIXTURES / "eds_bad_source_arn", ["template.yaml"], "CTKMS004")
    assert "remove the Condition (on aws:SourceArn)" in fix
    fix = _fix(TF_FIXTURES / "rule_006_bad_public_decrypt", ["."], "CTKMS006")
    assert fix.startswith("Remove statement 'Allow everyone to decrypt log files'")
    assert "Add at the start of the Statement array of the policy of aws_kms_key.cloudtrail (line 15):" in fix


def test_code_lines_fit():
    """Code lines are at most CODE_WIDTH wide, except a single token that cannot be broken."""
    for root, args in [(FIXTURES, ["template.yaml"]), (FIXTURES, ["template.json"]), (TF_FIXTURES, ["."])]:
        for case in _cases(root):
            for f in run_cli(args, cwd=root / case).findings:
                for line in (f["fix"] or "").splitlines():
                    if line.startswith(CODE):
                        code = line[len(CODE):]
                        assert len(code) <= CODE_WIDTH or len(code.split()) == 1, (case, code)


# --------------------------------------------------------------------------- the layouts, directly


STATEMENT = {"Sid": "S", "Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::111122223333:role/A", "arn:aws:iam::111122223333:role/B"]},
             "Action": ["kms:Decrypt"], "Resource": "*", "Condition": {"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}}}


def test_layouts_parse_back():
    import json

    import yaml

    assert yaml.safe_load("\n".join(yaml_lines([STATEMENT]))) == [{**STATEMENT, "Action": "kms:Decrypt"}]
    assert json.loads("\n".join(json_lines(STATEMENT))) == STATEMENT
    hcl = "\n".join(hcl_lines(STATEMENT))
    assert 'Effect    = "Deny"' in hcl and '"kms:EncryptionContext:aws:cloudtrail:arn" = "false"' in hcl
    doc = "\n".join(policy_document_statement(STATEMENT))
    assert 'effect    = "Deny"' in doc and "principals {" in doc and 'test     = "Null"' in doc
    hcl2 = pytest.importorskip("hcl2")
    parsed = hcl2.loads("x = " + hcl + "\n")
    assert "Sid" in parsed["x"]
    parsed = hcl2.loads('data "aws_iam_policy_document" "d" {\n' + doc + "\n}\n")
    assert parsed["data"]


def test_yaml_quotes_what_yaml_would_change():
    lines = yaml_lines({"Null": {"k": "false"}, "Version": "2012-10-17", "Resource": "*", "Action": "kms:*"})
    assert lines == ['"Null":', '  k: "false"', 'Version: "2012-10-17"', 'Resource: "*"', "Action: kms:*"]


# --------------------------------------------------------------------------- more styles


def _without_statement(path: Path, sid: str) -> None:
    """Drop the JSON statement with this Sid from a policy file (the fixtures' layout: one member per line)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start, end = find_statement(lines, sid, None, "json")
    path.write_text("\n".join(remove_span(lines, start, end, True)) + "\n", encoding="utf-8")


def test_templatefile_fix_uses_the_template_variables(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(TF_FIXTURES / "policy_templatefile", case)
    _without_statement(case / "policy.json.tpl", "Allow log readers to decrypt log files")
    fix = _fix(case, ["."], "CTKMS006")
    assert fix.startswith("Add at the start of the Statement array of the policy template (policy.json.tpl):")
    assert '"arn:${partition}:iam::${account_id}:root"' in fix
    assert _check_case(case, tmp_path / "applied", ["."], lambda f: f["file"]) == 1


def test_file_without_literal_account_gets_a_placeholder_and_a_note(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(TF_FIXTURES / "policy_file_json", case)
    text = (case / "policy.json").read_text(encoding="utf-8")
    (case / "policy.json").write_text(text.replace("111122223333", "${data}"), encoding="utf-8")
    fix = _fix(case, ["."], "CTKMS006")
    assert "${account_id}" in fix and "is read without template substitution" in fix


def test_without_a_recorded_style_the_fix_is_json():
    """Front ends that do not record how the policy is written (the checkov checks) get JSON."""
    from cloudtrail_kms_lint.model import Key, KeyPolicy, KeyResolution, Location, Subject
    from cloudtrail_kms_lint.trail import analyse
    from cloudtrail_kms_lint.values import Symbol, make_text

    account = Symbol("AWS::AccountId", "account")
    partition = Symbol("AWS::Partition", "partition")
    root = make_text(["arn:", partition, ":iam::", account, ":root"])
    doc = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}]}
    subject = Subject("trail", "Trail", "AWS::CloudTrail::Trail", Location("t.yaml", 3), name="t",
                      partition=partition, region=Symbol("AWS::Region", "region"), account=account)
    key = Key("LogKey", KeyPolicy(doc, Location("t.yaml", 10)))
    findings = {f.rule: f for f in analyse(subject, [KeyResolution("key", key=key)])}
    assert set(findings) == {"CTKMS003", "CTKMS004", "CTKMS006"}
    fix = findings["CTKMS004"].fix
    assert fix.startswith("Add to the Statement list of the key policy of LogKey (line 10):")
    body = "\n".join(line[len(CODE):] for line in fix.splitlines() if line.startswith(CODE))
    import json

    st = json.loads(body)
    assert st["Action"] == "kms:GenerateDataKey*"
    assert st["Condition"]["StringLike"][CTX] == "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"


# --------------------------------------------------------------------------- the text output


def _text(case_dir: Path, *args: str) -> str:
    import contextlib
    import io
    import os

    from cloudtrail_kms_lint.cli import main

    out = io.StringIO()
    old = os.getcwd()
    os.chdir(case_dir)
    try:
        with contextlib.redirect_stdout(out):
            main(["scan", "--color", "never", "--no-config", *args])
    finally:
        os.chdir(old)
    return out.getvalue()


def test_show_fix_prints_the_fix_under_the_catalogue_fix():
    plain = _text(FIXTURES / "rule_003_bad_missing_describe_key", "template.yaml")
    shown = _text(FIXTURES / "rule_003_bad_missing_describe_key", "--show-fix", "template.yaml")
    assert "edit:" not in plain
    lines = shown.splitlines()
    i = lines.index("    edit: Add to the Statement list of the KeyPolicy of TrailKey (line 42):")
    assert lines[i - 1].startswith("         ")  # the catalogue's fix: comes first
    assert lines[i + 1] == "            - Sid: Allow CloudTrail to describe key"
    assert lines[i + 2] == "              Effect: Allow"


def test_show_fix_does_not_repeat_the_same_fix():
    """A key without a policy: CTKMS003, 004 and 006 share one fix (the whole policy), shown once."""
    shown = _text(TF_FIXTURES / "default_key_policy", "--show-fix", ".")
    assert shown.count("policy = jsonencode({") == 1
    assert shown.count("    edit: the same as for CTKMS003 above.") == 2
