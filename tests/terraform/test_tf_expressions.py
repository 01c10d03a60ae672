"""Evaluating Terraform expressions into plain data with symbols."""

import json
import os

import pytest

hcl2 = pytest.importorskip("hcl2")
if not hasattr(hcl2, "parses_to_tree"):  # checkov's bc-python-hcl2, not python-hcl2 >= 8
    pytest.skip("python-hcl2 >= 8 is not installed", allow_module_level=True)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cloudtrail_kms_lint.terraform.expressions import MAX_DEPTH, Scope, evaluate, evaluate_traced  # noqa: E402
from cloudtrail_kms_lint.terraform.functions import (  # noqa: E402
    EvalError,
    JsonEncoded,
    decode_json_text,
    decode_json_value,
    directory_reader,
    encode_json,
    json_text,
)
from cloudtrail_kms_lint.terraform.parse import parse_expression, parse_file, parse_text  # noqa: E402
from cloudtrail_kms_lint.values import Symbol, SymStr, make_text, render, symbols_in  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")
MODULE = os.path.join(DATA, "module")

ACCOUNT = "data.aws_caller_identity.current.account_id"
PARTITION = "data.aws_partition.current.partition"
REGION = "data.aws_region.current.name"


def ev(text, scope=None):
    return evaluate(text, scope)


def shape(v):
    """Symbols as (name, kind) so tests do not depend on reason wording."""
    if isinstance(v, Symbol):
        return ("sym", v.name, v.kind)
    if isinstance(v, SymStr):
        return tuple(shape(p) if isinstance(p, Symbol) else p for p in v.parts)
    if isinstance(v, dict):
        return {shape(k) if not isinstance(k, str) else k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, JsonEncoded):
        return ("json", shape(v.value))
    return v


def scope_of(text, **kwargs):
    return Scope.for_module([parse_text(text, "main.tf")], **kwargs)


@pytest.fixture(scope="module")
def module_files():
    return [parse_file(os.path.join(MODULE, n), display=n) for n in ("main.tf", "heredoc.tf")]


def _attr(files, address, name):
    for f in files:
        for b in f.blocks:
            if b.address == address:
                return b.attribute(name).expression
    raise KeyError(address)


# -- string templates and environment symbols ----------------------------------------------------------


def test_string_template_with_partition_region_and_account_symbols():
    v = ev(f'"arn:${{{PARTITION}}}:kms:${{{REGION}}}:${{{ACCOUNT}}}:key/*"')
    assert shape(v) == ("arn:", ("sym", PARTITION, "partition"), ":kms:", ("sym", REGION, "region"), ":",
                        ("sym", ACCOUNT, "account"), ":key/*")
    assert render(v) == f"arn:${{{PARTITION}}}:kms:${{{REGION}}}:${{{ACCOUNT}}}:key/*"


@pytest.mark.parametrize("ref,kind", [
    ("data.aws_caller_identity.me.account_id", "account"),
    ("data.aws_caller_identity.me.id", "account"),
    ("data.aws_partition.p.partition", "partition"),
    ("data.aws_region.r.name", "region"),
    ("data.aws_region.r.region", "region"),
    ("data.aws_caller_identity.me.arn", "opaque"),
    ("data.aws_partition.p.dns_suffix", "opaque"),
])
def test_environment_data_sources(ref, kind):
    v = ev(ref)
    assert isinstance(v, Symbol) and v.name == ref and v.kind == kind
    assert v.reason


def test_interpolation_only_template_is_the_value_itself():
    v = ev(f'"${{{ACCOUNT}}}"')
    assert isinstance(v, Symbol) and v.kind == "account"
    assert ev('"${[1, 2]}"') == [1, 2]
    assert ev('"${1 + 1}x"') == "2x"
    assert ev('"${true}"') is True


def test_the_resolver_can_supply_environment_values():
    scope = Scope(resources=lambda a: {"name": "eu-west-1"} if a == "data.aws_region.current" else None)
    assert ev(f'"r-${{{REGION}}}"', scope) == "r-eu-west-1"
    assert shape(ev(ACCOUNT, scope)) == ("sym", ACCOUNT, "account")


def test_escapes_and_literal_dollar_braces():
    assert ev(r'"a\tb\"c\\d \u00e9 $${not} %%{not}"') == 'a\tb"c\\d \u00e9 ${not} %{not}'
    assert ev('"100%"') == "100%"


def test_template_directives():
    scope = scope_of('locals {\n  names = ["a", "b"]\n  on = true\n}\n')
    assert ev('"%{ for n in local.names }<${n}>%{ endfor }"', scope) == "<a><b>"
    assert ev('"%{ for i, n in local.names }${i}=${n};%{ endfor }"', scope) == "0=a;1=b;"
    assert ev('"x %{ if local.on }yes%{ else }no%{ endif } y"', scope) == "x yes y"
    assert ev('"x %{~ if !local.on ~} yes %{~ else ~} no %{~ endif ~} y"', scope) == "xnoy"
    v = ev('"a%{ if var.x }b%{ endif }c"')
    assert isinstance(v, SymStr) and v.parts[0] == "a" and v.parts[-1] == "c"


# -- variables and locals -----------------------------------------------------------------------------------


def test_variables_defaults_missing_defaults_and_overrides():
    text = ('variable "name" {\n  default = "trail"\n}\nvariable "kms_key_arn" {\n  type = string\n}\n'
            'variable "n" {\n  default = null\n}\n')
    scope = scope_of(text)
    assert ev("var.name", scope) == "trail"
    assert ev("var.n", scope) is None
    v = ev("var.kms_key_arn", scope)
    assert v == Symbol("var.kms_key_arn", "opaque", "var.kms_key_arn has no default")
    undeclared = ev("var.nope", scope)
    assert isinstance(undeclared, Symbol) and "not declared" in undeclared.reason
    tfvars = parse_file(os.path.join(DATA, "terraform.tfvars"))
    scope = Scope.for_module([parse_text(text, "main.tf")],
                             var_values={n: a.expression for n, a in tfvars.attributes.items()})
    assert ev("var.kms_key_arn", scope) == "arn:aws:kms:eu-west-1:111122223333:key/abc"
    assert ev("var.name", Scope.for_module([parse_text(text, "main.tf")], var_values={"name": "x"})) == "x"


def test_locals_referencing_locals():
    scope = scope_of('locals {\n  a = "x"\n  b = "${local.a}-y"\n}\nlocals {\n  c = upper(local.b)\n'
                     f'  arn = "arn:${{{PARTITION}}}:iam::${{local.acct}}:root"\n  acct = {ACCOUNT}\n}}\n')
    assert ev("local.c", scope) == "X-Y"
    assert ev("local.b", scope) == "x-y"
    assert shape(ev("local.arn", scope)) == ("arn:", ("sym", PARTITION, "partition"), ":iam::",
                                             ("sym", ACCOUNT, "account"), ":root")


def test_a_locals_cycle_is_a_symbol_not_a_recursion_error():
    scope = scope_of('locals {\n  a = local.b\n  b = "${local.c}!"\n  c = local.a\n  d = local.d\n  ok = 1\n}\n')
    v = ev("local.a", scope)
    assert isinstance(v, (Symbol, SymStr))
    syms = [v] if isinstance(v, Symbol) else [p for p in v.parts if isinstance(p, Symbol)]
    assert any("refers to itself" in s.reason for s in syms)
    d = ev("local.d", scope)
    assert isinstance(d, Symbol) and d.name == "local.d" and "local.d -> local.d" in d.reason
    assert ev("local.ok", scope) == 1


def test_a_long_chain_of_locals_ends_in_a_symbol_not_a_recursion_error():
    n = 3 * MAX_DEPTH
    body = "\n".join(f"  l{i} = local.l{i + 1}" for i in range(n)) + f"\n  l{n} = 1\n"
    scope = scope_of("locals {\n" + body + "}\n")
    v = ev("local.l0", scope)
    assert isinstance(v, Symbol) and "nested too deeply" in v.reason
    assert ev(f"local.l{n - 10}", scope) == 1


def test_a_value_cut_off_by_the_depth_limit_is_not_cached():
    n = MAX_DEPTH // 2 + 10  # each hop is two nested steps: local.l0 is just too deep
    body = "\n".join(f"  l{i} = local.l{i + 1}" for i in range(n)) + f"\n  l{n} = 1\n"
    scope = scope_of("locals {\n" + body + "}\n")
    assert isinstance(ev("local.l0", scope), Symbol)
    assert all(ev(f"local.l{i}", scope) == 1 for i in range(20, n))


@pytest.mark.parametrize("text", [
    "[" * 400 + "]" * 400,
    "(" * 400 + "1" + ")" * 400,
    "{a = " * 300 + "1" + "}" * 300,
    "upper(" * 300 + '"x"' + ")" * 300,
    "-(" * 300 + "1" + ")" * 300,
])
def test_deep_nesting_ends_in_a_symbol(text):
    v = ev(text)  # the value is kept down to the limit; below it, a Symbol
    deepest = symbols_in(v)
    assert deepest and any("nested too deeply" in s.reason for s in deepest)


# -- conditionals and operators ---------------------------------------------------------------------------------


def test_conditionals():
    assert ev('true ? "a" : "b"') == "a"
    assert ev('1 > 2 ? "a" : "b"') == "b"
    assert ev('"true" ? 1 : 2') == 1
    v = ev('var.use_cmk ? aws_kms_key.a.arn : "alias/aws/cloudtrail"')
    assert isinstance(v, Symbol) and v.kind == "opaque"
    assert "var.use_cmk" in v.reason
    assert ev('var.x ? "same" : "same"') == "same"
    assert ev(f'var.x ? {ACCOUNT} : {ACCOUNT}').kind == "account"
    assert isinstance(ev(f'{ACCOUNT} == "1" ? 1 : 2'), Symbol)
    err = ev("null ? 1 : 2")
    assert isinstance(err, Symbol) and "null" in err.reason


def test_operators():
    assert ev("1 + 2 * 3 - 4 / 2") == 5
    assert ev("7 / 2") == 3.5
    assert ev("-7 % 3") == -1
    assert ev('"2" + 1') == 3
    assert ev("1 == 1.0") is True
    assert ev('1 == "1"') is False
    assert ev("[1, {a = 2}] == [1, {a = 2}]") is True
    assert ev("true && !false") is True
    assert ev("false && var.x") is False
    assert ev("var.x || true") is True
    assert isinstance(ev("var.x && true"), Symbol)
    assert isinstance(ev(f"{ACCOUNT} == \"123\""), Symbol)
    assert isinstance(ev("var.n + 1"), Symbol)
    assert isinstance(ev("1 / 0"), Symbol)
    assert ev("2 >= 2 && 1 < 2 && 3 > 2 && 1 <= 1") is True
    assert ev('"a" != "b"') is True


# -- functions: known values ------------------------------------------------------------------------------------------


def test_jsonencode_is_what_terraform_writes():
    assert ev('jsonencode({b = 1, a = [true, null, "x"], c = {z = 1, y = 2}})') == \
        '{"a":[true,null,"x"],"b":1,"c":{"y":2,"z":1}}'
    assert ev('jsonencode("<a&b>")') == '"\\u003ca\\u0026b\\u003e"'
    assert ev('jsonencode("é\\n")') == '"é\\n"'
    assert ev("jsonencode([1.0, 1.5, 0.0000001, 100000000000000000000])") == \
        "[1,1.5,0.0000001,100000000000000000000]"


def test_jsondecode_and_file(tmp_path):
    scope = Scope(read_file=directory_reader(MODULE))
    assert ev('jsondecode("{\\"a\\": [1, 2.0, \\"x\\"]}")') == {"a": [1, 2, "x"]}
    assert ev('jsondecode(file("static-policy.json"))', scope) == {"Version": "2012-10-17", "Statement": []}
    assert ev('jsondecode(file("${path.module}/static-policy.json"))', scope)["Version"] == "2012-10-17"
    bad = ev('jsondecode("{")')
    assert isinstance(bad, Symbol) and "not valid JSON" in bad.reason


def test_file_reads_only_through_the_callback_and_inside_the_root():
    outside = ev('file("../broken.tf")', Scope(read_file=directory_reader(MODULE)))
    assert isinstance(outside, Symbol) and "outside" in outside.reason
    missing = ev('file("nope.json")', Scope(read_file=directory_reader(MODULE)))
    assert isinstance(missing, Symbol) and "cannot read" in missing.reason
    disabled = ev('file("static-policy.json")')
    assert isinstance(disabled, Symbol) and "not enabled" in disabled.reason
    assert isinstance(ev("file(var.path)"), Symbol)
    seen = []
    scope = Scope(read_file=lambda p: seen.append(p) or "content")
    assert ev('file("${path.module}/x.json")', scope) == "content" and seen == ["./x.json"]


def test_templatefile():
    scope = Scope(read_file=directory_reader(MODULE))
    v = ev('templatefile("policy.json.tftpl", {sids = ["A", "B"], account = "111122223333"})', scope)
    doc = json.loads(v)
    assert [s["Sid"] for s in doc["Statement"]] == ["A", "B", "Last"]
    assert doc["Statement"][0]["Principal"]["AWS"] == "arn:aws:iam::111122223333:root"
    v = ev(f'jsondecode(templatefile("policy.json.tftpl", {{sids = ["A"], account = {ACCOUNT}}}))', scope)
    assert shape(v["Statement"][0]["Principal"]["AWS"]) == ("arn:aws:iam::", ("sym", ACCOUNT, "account"), ":root")
    missing_var = ev('templatefile("policy.json.tftpl", {sids = ["A"]})', scope)
    assert isinstance(missing_var, Symbol) and "account" in missing_var.reason
    assert isinstance(ev('templatefile("policy.json.tftpl", var.vars)', scope), Symbol)


def test_format():
    assert ev('format("arn:%s:iam::%s:root", "aws", "111122223333")') == "arn:aws:iam::111122223333:root"
    assert ev('format("%d-%05d-%.2f-%t-%q-%%-%v", 7, 42, 3.14159, true, "x", [1])') == \
        '7-00042-3.14-true-"x"-%-[1]'
    assert ev('format("%-4s|%4s|%[1]s", "a", "b")') == "a   |   b|a"
    assert ev('format("%s", 1.5)') == "1.5"
    assert isinstance(ev('format("%s %s", "a")'), Symbol)
    assert isinstance(ev('format("%d", "x")'), Symbol)


def test_join_concat_merge_lookup():
    assert ev('join(",", ["a", "b"], ["c"])') == "a,b,c"
    assert ev('join("-", [1, true])') == "1-true"
    assert ev('concat(["a"], [], ["b", "c"])') == ["a", "b", "c"]
    assert ev("merge({a = 1, b = 1}, null, {b = 2})") == {"a": 1, "b": 2}
    assert ev('lookup({a = "x"}, "a")') == "x"
    assert ev('lookup({a = "x"}, "b", "d")') == "d"
    missing = ev('lookup({a = "x"}, "b")')
    assert isinstance(missing, Symbol) and "no key 'b'" in missing.reason


def test_try_can_coalesce():
    scope = scope_of('locals {\n  cfg = { a = 1 }\n}\n')
    assert ev('try(local.cfg.b, local.cfg.a, "d")', scope) == 1
    assert ev('try(local.cfg.b, "d")', scope) == "d"
    assert ev("can(local.cfg.b)", scope) is False
    assert ev("can(local.cfg.a)", scope) is True
    failed = ev("try(local.cfg.b, local.cfg.c)", scope)
    assert isinstance(failed, Symbol) and "try()" in failed.reason
    assert ev('coalesce(null, "", "x", "y")') == "x"
    assert isinstance(ev('coalesce(null, "")'), Symbol)


def test_tolist_toset_element_replace():
    assert ev('tolist(["a", "b"])') == ["a", "b"]
    assert ev('toset(["b", "a", "b"])') == ["a", "b"]
    assert ev('element(["a", "b", "c"], 4)') == "b"
    assert isinstance(ev('element([], 0)'), Symbol)
    assert isinstance(ev('element(["a"], -1)'), Symbol)
    assert ev('replace("a:b:c", ":", "/")') == "a/b/c"
    assert ev('replace("arn:aws:iam::1:role/x", "/role\\\\/(.*)/", "user/$1")') == "arn:aws:iam::1:user/x"
    assert ev('replace("a1b22", "/[0-9]+/", "#")') == "a#b#"


def test_more_functions():
    assert ev('length(["a", "b"])') == 2
    assert ev('split(",", "a,b")') == ["a", "b"]
    assert ev('upper("a")') == "A" and ev('lower("A")') == "a"
    assert ev("keys({b = 1, a = 2})") == ["a", "b"] and ev("values({b = 1, a = 2})") == [2, 1]
    assert ev("flatten([[1, [2]], 3])") == [1, 2, 3]
    assert ev("distinct([1, 2, 1])") == [1, 2]
    assert ev('compact(["a", "", null, "b"])') == ["a", "b"]
    assert ev('contains(["a"], "a")') is True and ev('contains(["a"], "b")') is False
    assert ev("tostring(1)") == "1" and ev('tonumber("2")') == 2 and ev('tobool("true")') is True
    assert ev('trimspace("  x ")') == "x"
    assert ev('sensitive("s")') == "s"
    assert ev('one(["x"])') == "x" and ev("one([])") is None


# -- functions: unknown inputs ------------------------------------------------------------------------------------------


def test_functions_keep_symbols_where_the_structure_is_known():
    v = ev(f'format("arn:%s:iam::%s:root", {PARTITION}, {ACCOUNT})')
    assert shape(v) == ("arn:", ("sym", PARTITION, "partition"), ":iam::", ("sym", ACCOUNT, "account"), ":root")
    v = ev(f'join(":", ["arn", {PARTITION}, "iam", "", {ACCOUNT}, "root"])')
    assert shape(v) == ("arn:", ("sym", PARTITION, "partition"), ":iam::", ("sym", ACCOUNT, "account"), ":root")
    assert shape(ev(f'concat(["a"], [{ACCOUNT}])')) == ["a", ("sym", ACCOUNT, "account")]
    assert shape(ev(f"merge({{a = {ACCOUNT}}}, {{b = 1}})")) == {"a": ("sym", ACCOUNT, "account"), "b": 1}
    assert shape(ev(f'lookup({{a = {ACCOUNT}}}, "a")')) == ("sym", ACCOUNT, "account")
    assert shape(ev(f'coalesce("", {ACCOUNT})')) == ("sym", ACCOUNT, "account")
    assert shape(ev(f"tolist([{ACCOUNT}])")) == [("sym", ACCOUNT, "account")]
    assert shape(ev(f"tostring({ACCOUNT})")) == ("sym", ACCOUNT, "account")
    assert shape(ev(f'element(["x", {ACCOUNT}], 1)')) == ("sym", ACCOUNT, "account")
    assert shape(ev(f'replace("arn:${{{ACCOUNT}}}:x", ":", "/")')) == ("arn/", ("sym", ACCOUNT, "account"), "/x")
    assert shape(ev(f'split(":", "a:${{{PARTITION}}}:b")')) == ["a", ("sym", PARTITION, "partition"), "b"]
    assert shape(ev(f'try({ACCOUNT}, "d")')) == ("sym", ACCOUNT, "account")


@pytest.mark.parametrize("text", [
    'format("%s", var.x)',  # -> the symbol itself, checked below
    "jsondecode(var.policy)",
    'join(",", var.list)',
    "concat(var.list, [1])",
    "merge(var.map, {a = 1})",
    'lookup(var.map, "a")',
    'lookup({a = 1}, var.key)',
    'coalesce(var.x, "d")',
    "element(var.list, 0)",
    "tolist(var.list)",
    "toset(var.list)",
    'element(["a"], var.i)',
    'replace(var.s, "a", "b")',
    f'replace("x${{{ACCOUNT}}}", "1", "2")',  # "1" could be inside the account id
    "file(var.path)",
    'templatefile("x.tftpl", var.vars)',
    'format(var.fmt, "a")',
    'try(var.x, "d")',
    "length(var.list)",
    f"upper({ACCOUNT})",
    "[for s in var.list : s]",
    '{for k, v in var.map : k => v}',
    '[for s in ["a"] : s if var.flag]',
    "var.list[*].arn",
    "var.map[var.key]",
])
def test_unknown_inputs_give_symbols_never_errors(text):
    v = ev(text)
    assert isinstance(v, (Symbol, SymStr)), v
    syms = [v] if isinstance(v, Symbol) else [p for p in v.parts if isinstance(p, Symbol)]
    assert all(s.reason for s in syms)


def test_an_unknown_function_gives_a_symbol_naming_it():
    v = ev('cidrsubnet("10.0.0.0/16", 8, 1)')
    assert isinstance(v, Symbol) and v.kind == "opaque"
    assert v.name == 'cidrsubnet("10.0.0.0/16", 8, 1)'
    assert "cidrsubnet()" in v.reason and "not supported" in v.reason
    v = ev('provider::aws::arn_parse("arn:aws:iam::1:root")')
    assert isinstance(v, Symbol) and "provider::aws::arn_parse" in v.reason
    inside = ev('jsonencode({a = base64encode("x")})')
    assert isinstance(inside, JsonEncoded) and isinstance(inside.value["a"], Symbol)


# -- jsonencode / jsondecode with symbols ----------------------------------------------------------------------------------


def test_jsonencode_with_symbols_keeps_the_structure():
    v = ev(f'jsonencode({{Principal = {{AWS = "arn:aws:iam::${{{ACCOUNT}}}:root"}}}})')
    assert isinstance(v, JsonEncoded)
    assert shape(v.value) == {"Principal": {"AWS": ("arn:aws:iam::", ("sym", ACCOUNT, "account"), ":root")}}
    text = v.text()
    assert shape(text) == ('{"Principal":{"AWS":"arn:aws:iam::', ("sym", ACCOUNT, "account"), ':root"}}')
    assert decode_json_text(text) == v.value
    assert ev(f'jsondecode(jsonencode({{a = {ACCOUNT}}}))') == {"a": ev(ACCOUNT)}
    inner = ev(f'"policy: ${{jsonencode({{a = {ACCOUNT}}})}}"')
    assert shape(inner) == ('policy: {"a":', ("sym", ACCOUNT, "account"), "}")


def test_the_kms_key_policy_round_trips_into_a_dict_with_symstr(module_files):
    scope = Scope.for_module(module_files)
    policy = evaluate(_attr(module_files, "aws_kms_key.logs", "policy"), scope)
    assert isinstance(policy, JsonEncoded)
    doc = decode_json_value(policy)
    root, cloudtrail = doc["Statement"]
    assert root["Sid"] == "EnableRoot"
    assert shape(root["Principal"]["AWS"]) == ("arn:", ("sym", PARTITION, "partition"), ":iam::",
                                               ("sym", ACCOUNT, "account"), ":root")
    assert cloudtrail["Action"] == ["kms:GenerateDataKey*", "kms:DescribeKey"]
    assert shape(cloudtrail["Condition"]["StringEquals"]["aws:SourceArn"]) == (
        "arn:", ("sym", PARTITION, "partition"), ":cloudtrail:", ("sym", REGION, "region"), ":",
        ("sym", ACCOUNT, "account"), ":trail/org-trail")
    # the JSON text Terraform would write, with the symbols in place, decodes to the same document
    assert decode_json_text(policy.text()) == doc


def test_heredoc_json_policy(module_files):
    v = evaluate(_attr(module_files, "aws_kms_key.heredoc", "policy"), Scope())
    assert isinstance(v, SymStr)
    doc = decode_json_value(v)
    assert doc["Version"] == "2012-10-17"
    assert shape(doc["Statement"][0]["Principal"]["AWS"]) == ("arn:", ("sym", PARTITION, "partition"), ":iam::",
                                                              ("sym", ACCOUNT, "account"), ":root")
    pf = parse_text('locals {\n  p = <<-EOT\n    {"a": "b\\\\n",\n     "c": ${jsonencode(["x"])}}\n  EOT\n'
                    '  q = <<EOT\nplain "quotes" and \\backslash\nEOT\n}\n', "h.tf")
    scope = Scope.for_module([pf])
    assert ev("local.p", scope) == '{"a": "b\\\\n",\n "c": ["x"]}\n'
    assert ev("jsondecode(local.p)", scope) == {"a": "b\\n", "c": ["x"]}
    assert ev("local.q", scope) == 'plain "quotes" and \\backslash\n'


def test_symbols_outside_json_strings_decode_to_the_symbol():
    text = make_text(['{"a": ', Symbol("var.n"), ', "b": "x', Symbol(ACCOUNT, "account"), '"}'])
    assert shape(decode_json_text(text)) == {"a": ("sym", "var.n", "opaque"), "b": ("x", ("sym", ACCOUNT, "account"))}
    broken = ev('jsondecode("{\\"a\\": ${var.x}")')
    assert isinstance(broken, Symbol)


# -- references, resources, modules, instances ----------------------------------------------------------------------------


def test_references_are_recorded_for_a_trace(module_files):
    scope = Scope.for_module(module_files)
    _, refs = evaluate_traced(_attr(module_files, "aws_kms_key.logs", "policy"), scope)
    addresses = [r.address for r in refs]
    assert addresses[:4] == ["local.partition", "data.aws_partition.current", "local.account_id",
                             "data.aws_caller_identity.current"]
    assert "var.trail_name" in addresses and "data.aws_region.current" in addresses
    trail_ref = next(r for r in refs if r.address == "local.trail_arn")
    assert trail_ref.location.file == "main.tf" and trail_ref.location.line == 44
    var_ref = next(r for r in refs if r.address == "var.trail_name")
    assert var_ref.location.line == 22  # inside local.trail_arn
    # cached locals replay what they read
    _, again = evaluate_traced("local.trail_arn", scope)
    assert [r.address for r in again][:2] == ["local.trail_arn", "local.partition"]


def test_resource_references_through_the_callback():
    resources = {
        "aws_kms_key.logs": {"description": "logs", "policy": "{}"},
        "aws_kms_key.many": [{"description": "k0"}, {"description": "k1"}],
        "aws_kms_key.each": {"a": {"description": "ka"}},
    }
    scope = Scope(resources=resources.get)
    assert ev("aws_kms_key.logs.description", scope) == "logs"
    arn = ev("aws_kms_key.logs.arn", scope)
    assert isinstance(arn, Symbol) and arn.name == "aws_kms_key.logs.arn" and "after apply" in arn.reason
    other = ev("aws_kms_key.other.arn", scope)
    assert other.name == "aws_kms_key.other.arn" and "not in the scanned configuration" in other.reason
    assert ev("aws_kms_key.many[1].description", scope) == "k1"
    assert ev("aws_kms_key.many[*].description", scope) == ["k0", "k1"]
    assert ev("aws_kms_key.many.*.description", scope) == ["k0", "k1"]
    assert shape(ev("aws_kms_key.many[*].arn", scope)) == [("sym", "aws_kms_key.many[*].arn", "opaque")] * 2
    assert ev('aws_kms_key.each["a"].description', scope) == "ka"
    no_callback = ev("aws_kms_key.logs.arn")
    assert no_callback == Symbol("aws_kms_key.logs.arn", "opaque", "aws_kms_key.logs.arn is known only after apply")
    data = ev("data.aws_iam_policy_document.key.json")
    assert isinstance(data, Symbol) and data.name == "data.aws_iam_policy_document.key.json"


def test_module_outputs():
    scope = Scope(modules=lambda m, o: {"key_arn": "arn:aws:kms:x"}.get(o) if m == "kms" else None)
    assert ev("module.kms.key_arn", scope) == "arn:aws:kms:x"
    v = ev("module.other.key_arn", scope)
    assert isinstance(v, Symbol) and v.name == "module.other.key_arn"


def test_count_each_and_path():
    base = Scope(path_module="modules/kms")
    assert isinstance(ev("count.index", base), Symbol)
    assert isinstance(ev("each.value", base), Symbol)
    one = base.with_instance(count_index=2, each_key="a", each_value={"arn": "x"})
    assert ev("count.index + 1", one) == 3
    assert ev('"${each.key}:${each.value.arn}"', one) == "a:x"
    assert ev('"${path.module}/p.json"', one) == "modules/kms/p.json"
    assert isinstance(ev("path.cwd"), Symbol)


# -- for expressions, splats, indexing ------------------------------------------------------------------------------------


def test_for_expressions():
    scope = scope_of('locals {\n  l = ["a", "bb", "c"]\n  m = {x = 1, y = 2}\n}\n')
    assert ev("[for s in local.l : upper(s) if length(s) == 1]", scope) == ["A", "C"]
    assert ev("[for i, s in local.l : i]", scope) == [0, 1, 2]
    assert ev("{for k, v in local.m : v => k}", scope) == {"1": "x", "2": "y"}
    assert ev("[for v in local.m : v]", scope) == [1, 2]
    assert ev("{for s in local.l : length(s) => s...}", scope) == {"1": ["a", "c"], "2": ["bb"]}
    assert isinstance(ev("{for s in local.l : length(s) => s}", scope), Symbol)  # duplicate key
    v = ev(f'[for s in local.l : "arn:${{{PARTITION}}}:${{s}}"]', scope)
    assert shape(v[0]) == ("arn:", ("sym", PARTITION, "partition"), ":a")


def test_splat_and_indexing_on_known_values():
    scope = scope_of('locals {\n  objs = [{name = "a", ids = [1]}, {name = "b", ids = [2]}]\n'
                     '  one = {name = "c"}\n  m = {k = "v"}\n}\n')
    assert ev("local.objs[*].name", scope) == ["a", "b"]
    assert ev("local.objs.*.name", scope) == ["a", "b"]
    assert ev("local.objs[*].ids[0]", scope) == [1, 2]
    assert ev("local.objs.*.ids[0]", scope) == [1]  # legacy splat: the index applies to the result
    assert ev("local.one[*].name", scope) == ["c"]
    assert ev("null[*]") == []
    assert ev('local.m["k"]', scope) == "v" and ev("local.m.k", scope) == "v"
    assert ev("local.objs[1].name", scope) == "b" and ev("local.objs.1.name", scope) == "b"
    out_of_range = ev("local.objs[5]", scope)
    assert isinstance(out_of_range, Symbol) and "out of range" in out_of_range.reason
    no_attr = ev("local.one.nope", scope)
    assert isinstance(no_attr, Symbol) and "nope" in no_attr.reason
    assert ev('["a", "b"][1]') == "b"
    assert ev('{a = {b = "c"}}.a.b') == "c"


# -- robustness ----------------------------------------------------------------------------------------------------------------


def test_syntax_errors_in_expression_text_are_symbols():
    v = ev("1 +")
    assert isinstance(v, Symbol) and "cannot parse" in v.reason


def test_evaluate_accepts_values_and_expressions():
    assert evaluate(5) == 5
    assert evaluate(parse_expression('"x"')) == "x"


_EXPR_ALPHABET = 'abvrlocaxy.[]{}()"$%~*,:=?!<>+-/ 01\n\\'


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_EXPR_ALPHABET, max_size=40))
def test_evaluate_never_raises(text):
    evaluate(text)


_SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\ue000\ue001"), max_size=8)
_SYMBOLS = st.sampled_from([Symbol(ACCOUNT, "account"), Symbol(PARTITION, "partition"), Symbol("var.x")])
_TEXTS = st.one_of(_SAFE_TEXT, _SYMBOLS, st.lists(st.one_of(_SAFE_TEXT, _SYMBOLS), max_size=4).map(make_text))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6),
                     st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: float(f) if not f.is_integer() else int(f)),
                     _TEXTS)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_SAFE_TEXT, inner, max_size=3)), max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(_VALUES)
def test_json_text_round_trips_with_symbols(value):
    assert decode_json_text(json_text(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10 ** 9, 10 ** 9), _SAFE_TEXT),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_SAFE_TEXT, inner, max_size=3)),
                    max_leaves=10))
def test_encode_json_is_valid_compact_sorted_json(value):
    text = encode_json(value)
    assert json.loads(text) == value
    if isinstance(value, dict):
        assert list(json.loads(text)) == sorted(value)


def test_decode_json_text_rejects_placeholder_characters():
    with pytest.raises(EvalError):
        decode_json_text(make_text(['"\ue000"', Symbol("var.x")]))
