"""Parsing Terraform files with python-hcl2: blocks, labels, attributes, lines and errors."""

import os
import subprocess
import sys
import types

import pytest

hcl2 = pytest.importorskip("hcl2")
if not hasattr(hcl2, "parses_to_tree"):  # checkov's bc-python-hcl2, not python-hcl2 >= 8
    pytest.skip("python-hcl2 >= 8 is not installed", allow_module_level=True)

from cloudtrail_kms_lint.cloudformation.loader import ParserMissing  # noqa: E402
from cloudtrail_kms_lint.report import InputError  # noqa: E402
from cloudtrail_kms_lint.terraform import parse as P  # noqa: E402
from cloudtrail_kms_lint.terraform.parse import (  # noqa: E402
    ExpressionSyntaxError,
    heredoc_body,
    parse_expression,
    parse_file,
    parse_text,
    template_expression,
)

DATA = os.path.join(os.path.dirname(__file__), "data")
MODULE = os.path.join(DATA, "module")


@pytest.fixture(scope="module")
def main_tf():
    return parse_file(os.path.join(MODULE, "main.tf"), display="main.tf")


def _block(pf, address):
    return next(b for b in pf.blocks if b.address == address)


def test_top_level_blocks_types_labels_and_lines(main_tf):
    assert main_tf.ok and main_tf.errors == []
    got = [(b.type, b.labels, b.line) for b in main_tf.blocks]
    assert got == [
        ("terraform", (), 1),
        ("data", ("aws_caller_identity", "current"), 5),
        ("data", ("aws_partition", "current"), 6),
        ("data", ("aws_region", "current"), 7),
        ("variable", ("trail_name",), 9),
        ("variable", ("kms_key_arn",), 14),
        ("locals", (), 18),
        ("resource", ("aws_kms_key", "logs"), 25),
        ("resource", ("aws_cloudtrail", "main"), 55),
        ("module", ("kms",), 69),
        ("output", ("key_arn",), 73),
        ("provider", ("aws",), 77),
    ]
    assert [b.address for b in main_tf.blocks_of("data")] == [
        "data.aws_caller_identity.current", "data.aws_partition.current", "data.aws_region.current"]
    assert _block(main_tf, "var.kms_key_arn").type == "variable"
    assert _block(main_tf, "module.kms").labels == ("kms",)


def test_attribute_lines_and_text(main_tf):
    key = _block(main_tf, "aws_kms_key.logs")
    assert list(key.attributes) == ["description", "policy", "tags"]
    assert key.attribute("description").line == 26
    policy = key.attribute("policy")
    assert policy.line == 27
    assert policy.location.file == "main.tf"
    assert policy.expression.line == 27
    assert policy.expression.text.startswith("jsonencode({")
    assert policy.expression.text.endswith("})")
    assert key.attribute("tags").line == 50
    assert key.end_line == 53
    locals_block = _block(main_tf, "locals")
    assert {n: a.line for n, a in locals_block.attributes.items()} == {
        "account_id": 19, "partition": 20, "region": 21, "trail_arn": 22}
    assert locals_block.attribute("partition").expression.text == "data.aws_partition.current.partition"


def test_nested_blocks_and_their_lines(main_tf):
    trail = _block(main_tf, "aws_cloudtrail.main")
    assert trail.attribute("kms_key_id").line == 57
    (selector,) = trail.blocks_of("event_selector")
    assert selector.line == 59
    assert selector.attribute("read_write_type").line == 60
    (dr,) = selector.blocks_of("data_resource")
    assert (dr.line, dr.end_line) == (62, 65)
    assert dr.attribute("values").line == 64
    assert _block(main_tf, "terraform").attribute("required_version").line == 2


def test_syntax_error_is_structured_with_the_right_line():
    pf = parse_file(os.path.join(DATA, "broken.tf"), display="broken.tf")
    assert not pf.ok
    assert pf.blocks == []
    (err,) = pf.errors
    assert isinstance(err, InputError)
    assert err.file == "broken.tf"
    assert err.line == 3
    assert "cannot parse the HCL" in err.message


@pytest.mark.parametrize(
    "text,line",
    [
        ('resource "a" "b" {\n  x = 1\n', 2),  # unterminated block: the last line
        ('locals {\n  a = 1\n  b = [1, 2\n  c = 3\n}\n', 4),
        ('locals {\n  a = "x"\n  b = @\n}\n', 3),
        ("a = 1 +\n", 1),
    ],
)
def test_syntax_errors_report_the_line(text, line):
    pf = parse_text(text, "x.tf")
    assert len(pf.errors) == 1
    assert pf.errors[0].file == "x.tf"
    assert pf.errors[0].line == line


def test_unreadable_and_non_utf8_files_are_errors_not_exceptions(tmp_path):
    pf = parse_file(str(tmp_path / "missing.tf"))
    assert pf.errors and pf.errors[0].line is None and "cannot read" in pf.errors[0].message
    bad = tmp_path / "bad.tf"
    bad.write_bytes(b'locals {\n  a = "\xff"\n}\n')
    pf = parse_file(str(bad), display="bad.tf")
    assert pf.errors == [InputError("bad.tf", 2, "cannot read the file: it is not UTF-8 text")]


def test_duplicate_attribute_is_an_error_and_the_first_is_kept():
    pf = parse_text('resource "aws_kms_key" "k" {\n  policy = "a"\n  policy = "b"\n}\n', "d.tf")
    assert pf.errors[0].line == 3 and "already defined at line 2" in pf.errors[0].message
    assert pf.blocks[0].attribute("policy").expression.text == '"a"'


def test_tfvars_are_top_level_attributes():
    pf = parse_file(os.path.join(DATA, "terraform.tfvars"))
    assert pf.blocks == []
    assert list(pf.attributes) == ["kms_key_arn", "trail_name"]
    assert pf.attributes["trail_name"].line == 2


def test_crlf_bom_comments_and_keyword_names():
    text = "\ufeff# c\r\nlocals {\r\n  // c\r\n  for_each = 1 /* x */\r\n  in = 2\r\n}\r\n"
    pf = parse_text(text, "w.tf")
    assert pf.ok, pf.errors
    attrs = pf.blocks[0].attributes
    assert {n: a.line for n, a in attrs.items()} == {"for_each": 4, "in": 5}


def test_heredoc_body_keeps_terraform_newlines_and_trims_indentation():
    assert heredoc_body("<<EOT\nhello\n  world\nEOT\n") == ("hello\n  world\n", False)
    assert heredoc_body("<<-EOT\n    a\n      b\n\n    c\n  EOT\n") == ("a\n  b\n\nc\n", True)
    assert heredoc_body("<<EOT\nEOT\n") == ("", False)


def test_template_expression_keeps_quotes_backslashes_and_line_numbers():
    expr = template_expression('{"a": "x\\n\\"y"}\n${var.z}\n', "f.tf", 10)
    assert expr.node.data == "string"
    assert expr.line == 10


def test_parse_expression_and_its_errors():
    e = parse_expression("var.x ? 1 : 2", "e.tf", 7)
    assert e.text == "var.x ? 1 : 2"
    assert e.line == 7
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_expression("1 +", "e.tf", 7)
    assert info.value.error.file == "e.tf" and info.value.error.line == 7


def test_deeply_nested_input_never_raises():
    deep = "a = " + "[" * 3000 + "]" * 3000 + "\n"
    pf = parse_text(deep, "deep.tf")  # parsed or reported, never a RecursionError
    assert pf.ok or pf.errors
    nested_blocks = "b {\n" * 100 + "}\n" * 100
    pf = parse_text(nested_blocks, "blocks.tf")
    assert any("nested too deeply" in e.message for e in pf.errors)


def test_missing_hcl2_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hcl2", None)  # import hcl2 -> ImportError
    with pytest.raises(ParserMissing) as info:
        parse_text("a = 1\n")
    assert "cloudtrail-kms-lint[terraform]" in str(info.value)
    assert not P.hcl2_available()


def test_foreign_hcl2_is_detected(monkeypatch):
    fake = types.ModuleType("hcl2")
    fake.__version__ = "0.4.3"
    fake.loads = lambda text: {}
    monkeypatch.setitem(sys.modules, "hcl2", fake)
    with pytest.raises(ParserMissing) as info:
        parse_file(os.path.join(MODULE, "main.tf"))
    assert "0.4.3" in str(info.value) and "cloudtrail-kms-lint[terraform]" in str(info.value)


def test_importing_the_package_loads_no_parser():
    code = (
        "import cloudtrail_kms_lint.terraform.parse, cloudtrail_kms_lint.terraform.expressions, "
        "cloudtrail_kms_lint.terraform.functions, sys\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert not loaded & {"hcl2", "lark"}, sorted(loaded & {"hcl2", "lark"})
