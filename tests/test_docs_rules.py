"""docs/rules.md and the rule catalogue agree.

The catalogue (``cloudtrail_kms_lint.catalogue``) is the single source of truth
for rule ids, levels and texts; every front end links to ``rule.help_uri``,
which is ``docs/rules.md#<anchor>``. These tests keep the document in step:

* one section per catalogue rule, in catalogue order, each with an explicit
  ``<a id="...">`` anchor and a ``## CTKMSnnn: <title>`` heading, and no
  section for an id the catalogue does not have;
* each section's ids table, "Applies to" line, catalogue texts and mappings;
* each section has a failing and a passing example, each in Terraform
  (```hcl) and CloudFormation (```yaml);
* YAML blocks parse (safe loader plus a permissive constructor for the
  CloudFormation short tags), JSON blocks parse, HCL blocks have balanced
  brackets;
* the CloudFormation examples give the findings they claim when run through the
  core evaluator (``trail.analyse``): a failing example of rule X reports
  exactly X, a passing example reports nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from cloudtrail_kms_lint import catalogue, trail
from cloudtrail_kms_lint.catalogue import EVENT_DATA_STORE, TRAIL
from cloudtrail_kms_lint.model import (
    AWS_MANAGED,
    NO_KEY,
    NOT_A_KEY,
    RESOLVED,
    UNRESOLVED,
    Key,
    KeyPolicy,
    KeyResolution,
    Location,
    Subject,
)

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
RULES = catalogue.RULES
RULE_IDS = [r.id for r in RULES]

RULE_HEADING_RE = re.compile(r"^## (CTKMS\d{3}): (.+)$", re.M)
ANY_ID_HEADING_RE = re.compile(r"^#{1,6} (CTKMS\d+)\b", re.M)
ANCHOR_RE = re.compile(r'^<a id="(ctkms\d+)"></a>$', re.M)
H2_RE = re.compile(r"^## ", re.M)
FENCE_RE = re.compile(r"^```([A-Za-z0-9_-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")

APPLIES_TO_WORDS = {TRAIL: "trails", EVENT_DATA_STORE: "event data stores"}


# --------------------------------------------------------------------------- parsing


def _sections() -> dict[str, str]:
    """Rule id -> text of its section (heading to the next level-2 heading)."""
    out: dict[str, str] = {}
    for m in RULE_HEADING_RE.finditer(DOC):
        nxt = H2_RE.search(DOC, m.end())
        end = nxt.start() if nxt else len(DOC)
        body = DOC[m.start():end]
        # the next rule's anchor line sits just before its heading
        body = ANCHOR_RE.sub("", body).rstrip()
        out.setdefault(m.group(1), body)
    return out


SECTIONS = _sections()


def _subsections(section: str) -> dict[str, str]:
    """'### Heading' -> its text, within one rule section."""
    parts = re.split(r"^### (.+)$", section, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _fences(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).lower(), m.group(2)) for m in FENCE_RE.finditer(text)]


def _prose(text: str) -> str:
    """Text outside code blocks, markdown escapes removed, whitespace collapsed."""
    text = FENCE_RE.sub("", text)
    text = MD_ESCAPE_RE.sub(r"\1", text)
    return " ".join(text.split())


def _norm(text: str) -> str:
    return " ".join(text.split())


def _examples(section: str, kind: str) -> list[tuple[str, str, str]]:
    """(subsection title, language, code) of the 'Failing example...' or 'Passing example...' subsections."""
    out = []
    for title, body in _subsections(section).items():
        if title.lower().startswith(f"{kind.lower()} example"):
            for lang, code in _fences(body):
                out.append((title, lang, code))
    return out


# --------------------------------------------------------------------------- YAML with CloudFormation tags


class _CfnSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus a permissive constructor for CloudFormation short tags.

    A subclass, so registering the constructor does not change ``yaml.safe_load``
    for the rest of the test session.
    """


def _construct_cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


_CfnSafeLoader.add_multi_constructor("!", _construct_cfn_tag)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_CfnSafeLoader)  # noqa: S506 - a SafeLoader subclass


# --------------------------------------------------------------------------- a minimal CloudFormation reading, for the examples

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "111122223333"}


class _Unresolved(Exception):
    pass


def _resolve(value: Any, template: dict) -> Any:
    """Resolve the intrinsic functions the examples use; literal pseudo parameters."""
    params = template.get("Parameters") or {}
    resources = template.get("Resources") or {}
    if isinstance(value, list):
        return [_resolve(v, template) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            if arg in PSEUDO:
                return PSEUDO[arg]
            if arg in params:
                if "Default" in params[arg]:
                    return params[arg]["Default"]
                raise _Unresolved(f"parameter {arg} has no default")
            if arg in resources:
                return ("resource", arg)
            raise _Unresolved(f"Ref {arg}")
        if fn == "Fn::GetAtt":
            name = arg[0]
            if name in resources:
                return ("resource", name)
            raise _Unresolved(f"GetAtt {arg}")
        if fn == "Fn::Sub":
            if not isinstance(arg, str):
                raise _Unresolved("Fn::Sub with a variable map")

            def sub(m: re.Match) -> str:
                name = m.group(1)
                if name in PSEUDO:
                    return PSEUDO[name]
                if name in params and "Default" in params[name]:
                    return str(params[name]["Default"])
                raise _Unresolved(f"${{{name}}}")

            return re.sub(r"\$\{([^}!]+)\}", sub, arg)
        if fn.startswith("Fn::"):
            raise _Unresolved(fn)
    return {k: _resolve(v, template) for k, v in value.items()}


def _findings_of_template(template: dict) -> set[str]:
    resources = template["Resources"]
    subjects = [
        (name, res)
        for name, res in resources.items()
        if res.get("Type") in ("AWS::CloudTrail::Trail", "AWS::CloudTrail::EventDataStore")
    ]
    assert subjects, "the example has no trail or event data store"
    rules: set[str] = set()
    for name, res in subjects:
        props = res.get("Properties") or {}
        is_trail = res["Type"] == "AWS::CloudTrail::Trail"
        subject = Subject(
            kind=TRAIL if is_trail else EVENT_DATA_STORE,
            resource=name,
            resource_type=res["Type"],
            location=Location(str(DOC_PATH)),
            name=props.get("TrailName", "") if is_trail else "",
            partition=PSEUDO["AWS::Partition"],
            region=PSEUDO["AWS::Region"],
            account=PSEUDO["AWS::AccountId"],
        )
        attr = "KMSKeyId" if is_trail else "KmsKeyId"
        rules |= {f.rule for f in trail.analyse(subject, [_resolution(props.get(attr), template)])}
    return rules


def _resolution(ref: Any, template: dict) -> KeyResolution:
    if ref in (None, ""):
        return KeyResolution(kind=NO_KEY)
    try:
        value = _resolve(ref, template)
    except _Unresolved as e:
        return KeyResolution(kind=UNRESOLVED, detail=str(e))
    if isinstance(value, tuple):
        res = template["Resources"][value[1]]
        if res.get("Type") != "AWS::KMS::Key":
            return KeyResolution(kind=NOT_A_KEY, detail=f"{value[1]} is a {res.get('Type')}")
        props = res.get("Properties") or {}
        policy: Optional[KeyPolicy] = None
        if "KeyPolicy" in props:
            policy = KeyPolicy(document=_resolve(props["KeyPolicy"], template))
        key = Key(name=value[1], policy=policy, spec=props.get("KeySpec", "SYMMETRIC_DEFAULT"))
        return KeyResolution(kind=RESOLVED, key=key)
    if isinstance(value, str) and "alias/aws/" in value:
        return KeyResolution(kind=AWS_MANAGED, detail=value)
    return KeyResolution(kind=UNRESOLVED, detail=f"literal {value!r} names a key defined elsewhere")


# --------------------------------------------------------------------------- the catalogue side


def test_help_uri_points_at_the_rule_anchor():
    assert catalogue.DOCS_URL.endswith("/docs/rules.md")
    for rule in RULES:
        assert rule.anchor == rule.id.lower()
        assert rule.help_uri.endswith("#" + rule.anchor), rule.id


def test_every_rule_has_exactly_one_anchor_and_heading():
    anchors = ANCHOR_RE.findall(DOC)
    headings = [m.group(1) for m in RULE_HEADING_RE.finditer(DOC)]
    for rule in RULES:
        assert anchors.count(rule.anchor) == 1, f'need exactly one <a id="{rule.anchor}"></a>'
        assert headings.count(rule.id) == 1, f"need exactly one '## {rule.id}: ...' heading"


def test_anchor_is_on_the_line_before_the_heading():
    lines = DOC.splitlines()
    for i, line in enumerate(lines):
        m = RULE_HEADING_RE.match(line)
        if m:
            prev = next((p for p in reversed(lines[:i]) if p.strip()), "")
            assert prev == f'<a id="{m.group(1).lower()}"></a>', f"anchor missing before {line!r}"


def test_heading_has_catalogue_id_and_title():
    titles = {m.group(1): m.group(2) for m in RULE_HEADING_RE.finditer(DOC)}
    for rule in RULES:
        assert titles[rule.id] == rule.title, rule.id


def test_sections_are_in_catalogue_order():
    order = [m.group(1) for m in RULE_HEADING_RE.finditer(DOC)]
    assert order == RULE_IDS
    anchor_order = ANCHOR_RE.findall(DOC)
    assert anchor_order == [r.anchor for r in RULES]


def test_no_section_or_anchor_for_an_unknown_id():
    known = set(RULE_IDS)
    for rule_id in ANY_ID_HEADING_RE.findall(DOC):
        assert rule_id in known, f"heading for {rule_id}, which is not in the catalogue"
    for anchor in ANCHOR_RE.findall(DOC):
        assert anchor.upper() in known, f"anchor {anchor}, which is not in the catalogue"
    for rule_id in set(re.findall(r"\bCTKMS\d+\b", DOC)):
        assert rule_id in known, f"{rule_id} is mentioned but not in the catalogue"
    for link in set(re.findall(r"\]\(#(ctkms\d+)\)", DOC)):
        assert link.upper() in known, f"link to #{link}, which is not a rule anchor"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_ids_table(rule):
    section = SECTIONS[rule.id]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) >= 3, "ids table missing"
    header = [c.strip().lower() for c in rows[0].strip("|").split("|")]
    assert header == ["logical id", "checkov id", "cfn-lint id", "level"]
    cells = [c.strip().strip("`") for c in rows[2].strip("|").split("|")]
    assert cells == [rule.id, rule.checkov_id, rule.cfn_lint_id, rule.level]


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_applies_to_and_security_severity(rule):
    m = re.search(r"^Applies to: (.+?)\. SARIF security-severity: ([0-9.]+)\.$", SECTIONS[rule.id], re.M)
    assert m, "missing 'Applies to: ... SARIF security-severity: ...' line"
    assert m.group(1) == ", ".join(APPLIES_TO_WORDS[a] for a in rule.applies_to)
    assert m.group(2) == rule.security_severity


def test_index_table_lists_every_rule():
    for rule in RULES:
        row = next((line for line in DOC.splitlines() if line.startswith(f"| [{rule.id}](#{rule.anchor})")), None)
        assert row, f"index row for {rule.id}"
        cells = [c.strip().strip("`") for c in row.strip("|").split("|")]
        assert cells[1:5] == [rule.title, rule.level, rule.checkov_id, rule.cfn_lint_id]


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_catalogue_texts_appear_verbatim(rule):
    subs = {k: _prose(v) for k, v in _subsections(SECTIONS[rule.id]).items()}
    assert _norm(f"Fails when {rule.fails_when}.") in subs["What it checks"]
    assert _norm(rule.rationale) in subs["Why it's bad"]
    assert _norm(rule.remediation) in subs["How to fix"]


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_mappings(rule):
    text = _prose(_subsections(SECTIONS[rule.id])["Mappings"])
    for framework, values in rule.mappings.items():
        assert _norm(f"{framework}: {'; '.join(values)}") in text, framework


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_section_structure(rule):
    titles = list(_subsections(SECTIONS[rule.id]))
    required = ["What it checks", "Why it's bad", "Failing example", "Passing example", "How to fix", "Mappings", "AWS documentation"]
    positions = [titles.index(t) for t in required]
    assert positions == sorted(positions), f"subsections out of order: {titles}"
    aws_links = re.findall(r"\]\((https://docs\.aws\.amazon\.com/[^)]+)\)", _subsections(SECTIONS[rule.id])["AWS documentation"])
    assert aws_links, "no AWS documentation link"


@pytest.mark.parametrize("kind", ["Failing", "Passing"])
@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_examples_in_terraform_and_cloudformation(rule, kind):
    langs = [lang for _title, lang, _code in _examples(SECTIONS[rule.id], kind)]
    assert "hcl" in langs, f"{rule.id}: no Terraform (```hcl) {kind.lower()} example"
    assert "yaml" in langs, f"{rule.id}: no CloudFormation (```yaml) {kind.lower()} example"
    hcl = [code for _t, lang, code in _examples(SECTIONS[rule.id], kind) if lang == "hcl"]
    assert any('resource "aws_cloudtrail' in code for code in hcl)


def test_every_cloudformation_example_has_a_trail_or_event_data_store():
    seen = 0
    for rule in RULES:
        for kind in ("Failing", "Passing"):
            for _title, lang, code in _examples(SECTIONS[rule.id], kind):
                if lang == "yaml":
                    seen += 1
                    template = _load_yaml(code)
                    types = {r.get("Type") for r in template["Resources"].values()}
                    assert types & {"AWS::CloudTrail::Trail", "AWS::CloudTrail::EventDataStore"}
    assert seen >= 2 * len(RULES)


# --------------------------------------------------------------------------- code blocks parse


def _all_fences() -> list[tuple[str, str]]:
    return _fences(DOC)


def test_code_blocks_are_labelled():
    for lang, code in _all_fences():
        assert lang in {"hcl", "yaml", "json"}, f"unlabelled or unexpected code block ({lang!r}): {code[:60]!r}"


def test_yaml_blocks_parse():
    blocks = [code for lang, code in _all_fences() if lang == "yaml"]
    assert blocks
    for code in blocks:
        data = _load_yaml(code)
        assert isinstance(data, dict) and "Resources" in data
        # unquoted Null would load as a None key; "false" must stay a string
        for res in data["Resources"].values():
            for st in ((res.get("Properties") or {}).get("KeyPolicy") or {}).get("Statement", []):
                cond = st.get("Condition") or {}
                assert None not in cond, "quote the Null operator in YAML"


def test_json_blocks_parse():
    for lang, code in _all_fences():
        if lang == "json":
            json.loads(code)


def _balanced(code: str) -> bool:
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c == "#" or code.startswith("//", i):
            i = code.find("\n", i)
            if i < 0:
                break
            continue
        if c == '"':
            i += 1
            while i < n and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
        elif c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack or stack.pop() != pairs[c]:
                return False
        i += 1
    return not stack


def test_hcl_blocks_are_balanced():
    blocks = [code for lang, code in _all_fences() if lang == "hcl"]
    assert blocks
    for code in blocks:
        assert _balanced(code), code[:80]


# --------------------------------------------------------------------------- examples give the findings they claim


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_cloudformation_failing_examples_fail_this_rule_only(rule):
    examples = [(t, code) for t, lang, code in _examples(SECTIONS[rule.id], "Failing") if lang == "yaml"]
    assert examples
    for title, code in examples:
        assert _findings_of_template(_load_yaml(code)) == {rule.id}, f"{rule.id} / {title}"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_cloudformation_passing_examples_pass_every_rule(rule):
    examples = [(t, code) for t, lang, code in _examples(SECTIONS[rule.id], "Passing") if lang == "yaml"]
    assert examples
    for title, code in examples:
        assert _findings_of_template(_load_yaml(code)) == set(), f"{rule.id} / {title}"


def test_recommended_policy_json_passes_every_rule():
    """The complete key policy in 'What AWS requires' passes for the trail it names."""
    block = next(code for lang, code in _all_fences() if lang == "json" and '"Statement"' in code)
    subject = Subject(
        kind=TRAIL, resource="Trail", resource_type="AWS::CloudTrail::Trail", location=Location(str(DOC_PATH)),
        name="management-events", partition="aws", region="us-east-1", account="111122223333",
    )
    key = Key(name="TrailKey", policy=KeyPolicy(document=json.loads(block)))
    assert trail.analyse(subject, [KeyResolution(kind=RESOLVED, key=key)]) == []
