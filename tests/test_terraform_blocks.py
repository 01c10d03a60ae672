"""terraform/blocks.py (splitting .tf files into top-level blocks without a parser) and the relevance
slicing of module directories (terraform/module.py): only the blocks the analysis can read are parsed,
with the lines, columns and texts of a full parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtrail_kms_lint.terraform import blocks
from cloudtrail_kms_lint.terraform.blocks import references, split

hcl2 = pytest.importorskip("hcl2", reason="the equivalence checks need python-hcl2")

from cloudtrail_kms_lint.terraform import module as tfmodule  # noqa: E402
from cloudtrail_kms_lint.terraform.analysis import analyse_root  # noqa: E402
from cloudtrail_kms_lint.terraform.module import Project, relevant_blocks, root_var_values  # noqa: E402
from cloudtrail_kms_lint.terraform.parse import _body_of, _parse_tree, parse_text, subtrees  # noqa: E402
from cloudtrail_kms_lint.terraform.treecache import TreeCache, build, to_list  # noqa: E402

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
TF_FILES = sorted(p for p in FIXTURES.rglob("*.tf") if p.is_file())
TF_DIRS = sorted({p.parent for p in (FIXTURES / "terraform").rglob("*.tf")})


def _gaps_ok(text: str, spans: list) -> bool:
    """Blocks in order, and between them only whitespace and comments."""
    pos = 0
    pieces = []
    for b in spans:
        if b.start < pos or b.end <= b.start:
            return False
        pieces.append(text[pos:b.start])
        pieces.append(text[b.start:b.end])
        pos = b.end
    pieces.append(text[pos:])
    if "".join(pieces) != text:
        return False
    for gap in pieces[0::2]:
        rest = gap
        while rest:
            rest = rest.lstrip(" \t\r\n")
            if rest.startswith("#") or rest.startswith("//"):
                nl = rest.find("\n")
                rest = "" if nl < 0 else rest[nl:]
            elif rest.startswith("/*"):
                end = rest.find("*/")
                if end < 0:
                    return False
                rest = rest[end + 2:]
            elif rest:
                return False
    return True


def _texts(text: str, spans: list) -> list:
    return [text[b.start:b.end] for b in spans]


# ---------------------------------------------------------------------------- splitting


def test_plain_blocks_labels_lines_and_columns():
    text = ('terraform {\n  required_version = ">= 1.5"\n}\n\n'
            'resource aws_s3_bucket "logs" {\n  bucket = "x"\n}\n'
            '  data "aws_iam_policy_document" p {\n  }\n')
    spans = split(text)
    assert [(b.type, b.labels, b.line, b.column) for b in spans] == [
        ("terraform", (), 1, 1),
        ("resource", ("aws_s3_bucket", "logs"), 5, 1),
        ("data", ("aws_iam_policy_document", "p"), 8, 3),
    ]
    assert _texts(text, spans)[2] == 'data "aws_iam_policy_document" p {\n  }'
    assert spans[1].address == "aws_s3_bucket.logs" and spans[2].address == "data.aws_iam_policy_document.p"
    assert _gaps_ok(text, spans)


def test_heredoc_with_braces_and_hash():
    text = ('resource "aws_kms_key" "k" {\n'
            '  policy = <<EOF\n'
            '{ "a": "}" # not a comment\n'
            '  }}}} /* nor this\n'
            'EOF\n'
            '}\n'
            'resource "aws_s3_bucket" "b" {}\n')
    spans = split(text)
    assert [b.labels for b in spans] == [("aws_kms_key", "k"), ("aws_s3_bucket", "b")]
    assert spans[1].line == 7


def test_indented_heredoc_markers_both_forms():
    text = ('locals {\n'
            '  a = <<-EOT\n'
            '    {\n'
            '    EOT\n'
            '  b = <<EOT2\n'
            '  }\n'
            '      EOT2\n'
            '}\n'
            'output "o" { value = 1 }\n')
    spans = split(text)
    assert [b.type for b in spans] == ["locals", "output"]
    assert spans[1].line == 9


def test_heredoc_marker_must_be_alone_on_its_line():
    # "EOF }" does not end the heredoc: the block is not closed before the end of the text
    assert split('locals {\n  a = <<EOF\nx\nEOF }\n') is None
    assert split('locals {\n  a = <<EOF\nx\n  EOF   \n}\n') is None  # trailing blanks: not the marker
    assert split('locals {\n  a = <<EOF\nx\n  EOF\n}\n') is not None


def test_strings_with_templates_holding_braces_and_strings():
    text = ('locals {\n'
            '  a = "${ "}" }"\n'
            '  b = "${ lookup({ k = "}" }, "k") }{"\n'
            '  c = "%{ if var.x }{%{ else }}%{ endif }"\n'
            '  d = "$${not an interpolation {"\n'
            '  e = "%%{ if } {"\n'
            '  f = "\\"}\\\\"\n'
            '  g = "%{ for x in ["}"] }${x}%{ endfor }"\n'
            '}\n'
            'variable "v" {}\n')
    spans = split(text)
    assert [b.type for b in spans] == ["locals", "variable"]
    assert spans[1].line == 10


def test_template_string_in_directive():
    text = 'locals {\n  a = "%{ if var.x == \\"}\\" }y%{ endif }"\n}\nvariable "v" {}\n'
    spans = split(text)
    assert [b.type for b in spans] == ["locals", "variable"]


def test_comments_with_braces():
    text = ('# a comment { with a brace\n'
            '// another }\n'
            '/* a block comment\n } { */ resource "a" "b" {\n'
            '  x = 1 # }\n'
            '  y = 2 // }\n'
            '  /* } */\n'
            '} # trailing } comment\n'
            'variable "v" {\n}\n')
    spans = split(text)
    assert [b.labels for b in spans] == [("a", "b"), ("v",)]
    assert (spans[0].line, spans[0].column) == (4, 9)
    assert [(b.location.line, b.location.column) for b in parse_text(text).blocks] == [(4, 9), (9, 1)]
    assert _gaps_ok(text, spans)


def test_crlf_line_endings():
    text = 'variable "a" {\r\n  default = <<EOF\r\n}\r\nEOF\r\n}\r\n\r\nresource "x" "y" {\r\n}\r\n'
    spans = split(text)
    assert [(b.type, b.line) for b in spans] == [("variable", 1), ("resource", 7)]
    pf = parse_text(text)
    assert [(b.type, b.location.line) for b in pf.blocks] == [("variable", 1), ("resource", 7)]


def test_newline_between_labels_and_brace():
    text = 'resource "a" "b"\n# comment\n{\n}\n'
    spans = split(text)
    assert spans[0].labels == ("a", "b")
    assert parse_text(text).blocks[0].labels == ("a", "b")


def test_quoted_labels_with_escapes_are_not_plain():
    spans = split('resource "a\\"b" "c" {}\nresource "x" "${y}" {}\n')
    assert [b.plain_labels for b in spans] == [False, False]


def test_empty_and_comment_only_text():
    assert split("") == []
    assert split("# only a comment\n\n/* and */\n") == []


@pytest.mark.parametrize("text", [
    'resource "a" "b" {\n',  # unbalanced
    'resource "a" "b" {\n}\n}\n',  # a stray brace
    'resource "a" "b" {\n  x = "unterminated\n}\n',
    'resource "a" "b" {\n  x = <<EOF\nnever closed\n}\n',
    'resource "a" "b" {\n  x = <<EOF   \nx\nEOF\n}\n',  # not a heredoc opener
    'resource "a" "b" {\n  /* unterminated\n}\n',
    '/* unterminated at the top\n',
    'name = "a top-level attribute"\n',
    'resource "a" "b" {\n  x = "\x00"\n}\n',
    'resource "a" "b" {} resource "c" "d" {}\n',  # two blocks on one line
    '{ }\n',
    'resource "a" "b" = {}\n',
    'resource "a" "b" {\n  x = "${ a }\n}\n',
    'resource "a" "b" {\n  x = "a\\\nb"\n}\n',  # a backslash before a newline
    'resource "a" "b" {\n  x = "$${ never closed"\n}\n',
    '\ufeffresource "a" "b" {}\n',  # a BOM is the caller's to remove, as parse_text does
])
def test_not_understood_gives_none(text):
    assert split(text) is None


def test_references():
    text = ('x = "arn:${aws_s3_bucket.logs.arn}/*"\n'
            'y = data.aws_iam_policy_document.p.json\n'
            'z = local.a-aws_sns_topic.t.arn\n'
            'w = module.kms.key_arn\n'
            'v = aws_sqs_queue . q [0].url\n'
            'u = aws_lb.my-lb.dns_name\n')
    refs = references(text)
    for r in ("aws_s3_bucket.logs", "data.aws_iam_policy_document.p", "aws_sns_topic.t", "module.kms",
              "aws_sqs_queue.q", "aws_lb.my-lb", "aws_lb.my"):
        assert r in refs, r


def test_long_text_without_dots_is_linear():
    # the reference scan must not be quadratic on long runs of name characters (hostile long strings)
    text = 'locals {\n  a = "' + "a" * 2_000_000 + '"\n}\n'
    spans = split(text)
    assert spans is not None and len(spans) == 1


# ---------------------------------------------------------------------------- property: fixtures and mutations


def _shift(form: list, lines: int, offset: int) -> list:
    """A list form with its lines and offsets moved (what the block has in its file)."""
    stack = [form]
    while stack:
        f = stack.pop()
        if len(f) == 8:
            f[2], f[4], f[6], f[7] = f[2] + lines, f[4] + lines, f[6] + offset, f[7] + offset
        else:
            if f[1]:
                m = f[1]
                m[0], m[2], m[4], m[5] = m[0] + lines, m[2] + lines, m[4] + offset, m[5] + offset
            stack.extend(f[2])
    return form


def _flat(form: list) -> list:
    """A list form as a flat sequence (deep trees are compared without recursion)."""
    out: list = []
    stack = [form]
    while stack:
        f = stack.pop()
        if len(f) == 3 and isinstance(f[2], list):
            out.append((f[0], tuple(f[1]) if f[1] else None, len(f[2])))
            stack.extend(reversed(f[2]))
        else:
            out.append(tuple(f))
    return out


def _check_against_python_hcl2(text: str) -> None:
    spans = split(text)
    if spans is None:
        return
    assert _gaps_ok(text, spans)
    try:
        full = _parse_tree(text)
    except RecursionError:
        return
    except Exception:
        full = None
    results = []
    for b in spans:
        pad = b.column - 1
        try:
            tree = _parse_tree(" " * pad + text[b.start:b.end])
        except RecursionError:
            return
        except Exception:
            results.append(None)
            continue
        results.append(build(_shift(to_list(tree), b.line - 1, b.start - pad)))
    if full is None:
        # the full text does not parse: neither does (at least) one block alone
        assert any(r is None for r in results)
        return
    assert all(r is not None for r in results)
    full_blocks = [n for n in subtrees(_body_of(full)) if n.data == "block"]
    assert len(full_blocks) == len(spans)
    for fb, alone in zip(full_blocks, results):
        ab = [n for n in subtrees(_body_of(alone)) if n.data == "block"]
        assert len(ab) == 1
        assert _flat(to_list(ab[0])) == _flat(to_list(fb))


def _read(path: Path):
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text[1:] if text.startswith("\ufeff") else text


TEXTS = [t for t in (_read(p) for p in TF_FILES) if t is not None]


def test_fixture_corpus_is_there():
    assert len(TEXTS) >= 100


@pytest.mark.parametrize("path", TF_FILES, ids=[str(p.relative_to(FIXTURES)) for p in TF_FILES])
def test_every_fixture_file_splits_like_python_hcl2(path):
    text = _read(path)
    if text is not None:
        _check_against_python_hcl2(text)


SPECIAL = ['"', "{", "}", "$", "%", "#", "//", "/*", "*/", "<<EOF\n", "<<-EOF\n", "\nEOF\n", "\\", "\n", "\r\n",
           "${", "%{", "=", " ", "a", "resource \"x\" \"y\" {\n", "\n}\n"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEXTS) if TEXTS else st.just(""), st.lists(
    st.tuples(st.floats(min_value=0, max_value=1), st.sampled_from(SPECIAL), st.booleans()), max_size=3))
def test_mutated_fixtures_split_like_python_hcl2(text, edits):
    for where, piece, cut in edits:
        i = int(where * len(text))
        text = text[:i] + (text[i + len(piece):] if cut else piece + text[i:])
    _check_against_python_hcl2(text)


# ---------------------------------------------------------------------------- relevance slicing


def _sig(b) -> tuple:
    return (b.type, b.labels, b.location.line, b.location.column, b.end_line,
            [(a.name, a.expression.text, a.line, a.location.column) for a in b.attributes.values()],
            [_sig(x) for x in b.blocks])


def _is_ordered_subset(small: list, big: list) -> bool:
    it = iter(big)
    return all(any(s == b for b in it) for s in small)


@pytest.mark.parametrize("directory", TF_DIRS, ids=[str(d.relative_to(FIXTURES)) for d in TF_DIRS])
def test_sliced_module_is_a_subset_of_the_full_parse(directory):
    project = Project(str(directory), str, tree_cache=TreeCache(None))
    md = project.module_dir(str(directory))
    names = sorted(n for n in os.listdir(directory) if n.endswith(".tf"))
    assert project.files_read == {os.path.realpath(directory / n) for n in names}
    assert len(md.files) == len(names)
    for name, sliced in zip(names, md.files):
        text = (directory / name).read_text(encoding="utf-8")
        full = parse_text(text, sliced.path)
        assert _is_ordered_subset([_sig(b) for b in sliced.blocks], [_sig(b) for b in full.blocks])
        assert [(e.line, e.message) for e in sliced.errors] == [(e.line, e.message) for e in full.errors]
        body = text[1:] if text.startswith("\ufeff") else text
        for b in sliced.blocks:
            for a in b.attributes.values():
                # each block's Source is its own text, padded to its column, at its line
                src = a.expression.source
                assert src.text.lstrip(" ") in body and src.line_offset == b.line - 1


def _findings(directory: Path, monkeypatch=None, full: bool = False) -> tuple:
    if full:
        monkeypatch.setattr(blocks, "split", lambda text: None)
    project = Project(str(directory), str, tree_cache=TreeCache(None))
    errors: list = []
    values = root_var_values(str(directory), [], {}, str, errors)
    found = analyse_root(project, str(directory), values)
    if full:
        monkeypatch.undo()
    errs = [(e.file, e.line, e.message) for md in project._dirs.values() for e in md.errors]
    return [f.__dict__ for f in found], errs


@pytest.mark.parametrize("directory", TF_DIRS, ids=[str(d.relative_to(FIXTURES)) for d in TF_DIRS])
def test_sliced_findings_equal_full_parse_findings(directory, monkeypatch):
    assert repr(_findings(directory)) == repr(_findings(directory, monkeypatch, full=True))


MODULE = '''\
variable "name" {
  default = "audit"
}

resource "aws_cloudtrail" "this" {
  name           = var.name
  s3_bucket_name = aws_s3_bucket.logs.id
  kms_key_id     = aws_kms_key.trail.arn
}

resource "aws_s3_bucket" "logs" {
  bucket = "${var.name}-logs"
  count  = length(aws_sns_topic.alerts)
}

resource "aws_sns_topic" "alerts" {
  name = "alerts"
}

resource "aws_lb" "unrelated" {
  name = "web"
  subnets = [for s in aws_subnet.a : s.id]
}

resource "aws_subnet" "a" {
  cidr_block = "10.0.0.0/24"
}

moved {
  from = aws_lb.old
  to   = aws_lb.unrelated
}
'''

KEY = '''\
data "aws_caller_identity" "current" {}

resource "aws_kms_key" "trail" {
  policy = data.aws_iam_policy_document.key.json
}

data "aws_iam_policy_document" "key" {
  statement {
    sid       = "all"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}
'''


def test_only_relevant_blocks_are_parsed(tmp_path):
    (tmp_path / "main.tf").write_text(MODULE)
    (tmp_path / "kms.tf").write_text(KEY)
    md = Project(str(tmp_path), str, tree_cache=TreeCache(None)).module_dir(str(tmp_path))
    got = [(b.type, b.labels) for f in md.files for b in f.blocks]
    assert got == [
        ("data", ("aws_caller_identity", "current")),
        ("resource", ("aws_kms_key", "trail")),
        ("data", ("aws_iam_policy_document", "key")),
        ("variable", ("name",)),
        ("resource", ("aws_cloudtrail", "this")),
        ("resource", ("aws_s3_bucket", "logs")),  # referenced by the trail
        ("resource", ("aws_sns_topic", "alerts")),  # referenced by the bucket's count: transitively
    ]


def test_syntax_error_in_an_irrelevant_block_is_not_reported(tmp_path):
    (tmp_path / "main.tf").write_text(MODULE.replace('name = "web"', 'name = "web" ]'))
    (tmp_path / "kms.tf").write_text(KEY)
    project = Project(str(tmp_path), str, tree_cache=TreeCache(None))
    md = project.module_dir(str(tmp_path))
    assert md.errors == []
    assert parse_text((tmp_path / "main.tf").read_text()).errors  # a full parse reports it


def test_syntax_error_in_a_relevant_block_is_reported_as_a_full_parse_does(tmp_path):
    broken = MODULE.replace('bucket = "${var.name}-logs"', 'bucket = "${var.name}-logs" :')
    (tmp_path / "main.tf").write_text(broken)
    (tmp_path / "kms.tf").write_text(KEY)
    md = Project(str(tmp_path), str, tree_cache=TreeCache(None)).module_dir(str(tmp_path))
    full = parse_text(broken, str(tmp_path / "main.tf"))
    assert [(e.line, e.message) for e in md.errors] == [(e.line, e.message) for e in full.errors]
    assert md.errors and md.errors[0].line == 12
    main = [f for f in md.files if f.path.endswith("main.tf")][0]
    assert main.blocks == full.blocks == []  # exactly the full parse's (partial) result


def test_a_file_that_cannot_be_split_parses_the_directory_in_full(tmp_path, monkeypatch):
    (tmp_path / "main.tf").write_text(MODULE)
    (tmp_path / "odd.tf").write_text('resource "x" "y" {} resource "z" "w" {}\n')
    md = Project(str(tmp_path), str, tree_cache=TreeCache(None)).module_dir(str(tmp_path))
    assert ("resource", ("aws_lb", "unrelated")) in [(b.type, b.labels) for b in md.blocks]
    assert ("moved", ()) in [(b.type, b.labels) for b in md.blocks]


def test_bom_and_crlf_keep_full_parse_positions(tmp_path):
    text = "\ufeff" + (MODULE + KEY).replace("\n", "\r\n")
    (tmp_path / "main.tf").write_bytes(text.encode("utf-8"))
    md = Project(str(tmp_path), str, tree_cache=TreeCache(None)).module_dir(str(tmp_path))
    full = parse_text(text, str(tmp_path / "main.tf"))
    assert _is_ordered_subset([_sig(b) for b in md.files[0].blocks], [_sig(b) for b in full.blocks])
    assert len(md.files[0].blocks) == 7


def test_relevant_blocks_follows_data_references():
    spans = [split('resource "aws_cloudtrail" "t" {\n  x = data.aws_s3_bucket.b.arn\n}\n'
                   'data "aws_s3_bucket" "b" {}\nresource "aws_s3_bucket" "b" {}\n')]
    assert {(0, 0), (0, 1)} <= relevant_blocks(spans)  # (0, 2) too: "aws_s3_bucket.b" is in the text


def test_types_the_analysis_looks_up_are_relevant():
    text = "".join(f'resource "{t}" "x" {{}}\n' for t in (
        "aws_kms_alias", "aws_kms_key_policy", "aws_kms_replica_key", "aws_cloudtrail_event_data_store",
        "aws_s3_bucket")) + "".join(f'data "{t}" "x" {{}}\n' for t in sorted(tfmodule.LOOKED_UP_TYPES))
    text += 'check "c" {}\nimport {}\nterraform {}\nprovider "aws" {}\nlocals {}\noutput "o" {}\nmodule "m" {}\n'
    spans = [split(text)]
    kept = {(spans[0][j].type, spans[0][j].labels[:1]) for _, j in relevant_blocks(spans)}
    assert ("resource", ("aws_s3_bucket",)) not in kept
    assert ("check", ("c",)) not in kept and ("import", ()) not in kept
    assert len(kept) == len(spans[0]) - 3


TRAIL = 'resource "aws_cloudtrail" "t" {\n  name = "t"\n  kms_key_id = %s\n}\n'
HOSTILE = {  # the shapes of tests/test_hostile.py's generated Terraform inputs
    "nested-parens": TRAIL % ("(" * 5000 + '"arn:aws:kms:us-east-1:111122223333:key/x"' + ")" * 5000),
    "nested-brackets": TRAIL % ("[" * 5000 + "]" * 5000),
    "nested-braces": TRAIL % ("{a = " * 3000 + "1" + "}" * 3000),
    "locals-chain": "locals {\n" + "".join(f"  l{i} = local.l{i + 1}\n" for i in range(3000)) + "}\n\n"
                    + TRAIL % "local.l0",
    "big-for": 'locals {\n  big = split(",", "' + ",".join(f"x{i}" for i in range(3000)) + '")\n'
               '  all = flatten([for i in local.big : [for j in local.big : "${i}${j}"]])\n}\n\n' + TRAIL % "local.all[5]",
    "long-line": TRAIL % ('"' + "*a" * 200_000 + '"'),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_shapes_split_like_python_hcl2(name):
    _check_against_python_hcl2(HOSTILE[name])


def test_deeply_nested_relevant_block_is_reported_as_a_full_parse_does(tmp_path):
    (tmp_path / "main.tf").write_text(HOSTILE["nested-parens"])
    md = Project(str(tmp_path), str, tree_cache=TreeCache(None)).module_dir(str(tmp_path))
    full = parse_text(HOSTILE["nested-parens"], str(tmp_path / "main.tf"))
    assert [(e.line, e.message) for e in md.errors] == [(e.line, e.message) for e in full.errors]
