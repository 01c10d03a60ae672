"""terraform/treecache.py: block parse trees cached as plain JSON, read back without lark or python-hcl2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cloudtrail_kms_lint.terraform import treecache
from cloudtrail_kms_lint.terraform.treecache import Token, Tree, TreeCache, build, to_list

pytest.importorskip("hcl2", reason="fresh parses need python-hcl2")

from cloudtrail_kms_lint.terraform.module import Project  # noqa: E402
from cloudtrail_kms_lint.terraform.parse import (  # noqa: E402
    _parse_tree,
    is_token,
    is_tree,
    node_column,
    node_line,
    node_text,
)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures" / "terraform"
TF_DIRS = sorted({p.parent for p in FIXTURES.rglob("*.tf")})

TEXT = '''resource "aws_kms_key" "k" {
  description = "key ${var.name}"
  policy = <<EOF
{"a": "${data.aws_caller_identity.current.account_id}"}
EOF
  tags = { for k, v in var.tags : k => v if v != "" }
  dynamic "x" {
    for_each = []
    content {}
  }
}
'''


def _nodes(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if is_tree(n):
            stack.extend(reversed(n.children))


def _signature(node, source) -> list:
    out = []
    for n in _nodes(node):
        meta = getattr(n, "meta", None)
        out.append((n.data if is_tree(n) else (n.type, str(n)), node_line(n, source), node_column(n),
                    node_text(n, source),
                    None if not is_tree(n) or meta.empty else (meta.end_line, meta.end_column),
                    (n.end_line, n.end_column) if is_token(n) else None))
    return out


def test_round_trip_equals_the_lark_tree():
    lark_tree = _parse_tree(TEXT)
    form = to_list(lark_tree)
    ours = build(json.loads(json.dumps(form)))
    assert isinstance(ours, Tree)
    from cloudtrail_kms_lint.terraform.parse import Source

    source = Source("f.tf", TEXT)
    assert _signature(ours, source) == _signature(lark_tree, source)
    assert to_list(ours) == form
    tokens = [n for n in _nodes(ours) if is_token(n)]
    assert tokens and all(isinstance(t, Token) and isinstance(t, str) for t in tokens)


def test_convert_equals_build_of_the_list_form():
    lark_tree = _parse_tree(TEXT)
    form, ours = treecache.convert(lark_tree)
    assert form == to_list(lark_tree)
    from cloudtrail_kms_lint.terraform.parse import Source

    source = Source("f.tf", TEXT, 41)
    assert _signature(ours, source) == _signature(build(form), source) == _signature(lark_tree, source)


def test_deep_trees_are_converted_without_recursion():
    text = "x = " + "(" * 3000 + "1" + ")" * 3000 + "\n"
    lark_tree = _parse_tree(text)
    form, ours = treecache.convert(lark_tree)
    again = build(form)  # (JSON of a tree this deep is refused by json itself: such entries stay in memory)
    assert isinstance(ours, Tree) and isinstance(again, Tree)


def _module_signature(project: Project, directory: Path) -> list:
    md = project.module_dir(str(directory))
    out = [(e.file, e.line, e.message) for e in md.errors]
    for f in md.files:
        for b in f.blocks:
            for a in b.attributes.values():
                out.append((f.path, b.address, a.name, _signature(a.expression.node, a.expression.source)))
    return out


@pytest.mark.parametrize("directory", TF_DIRS, ids=[d.name for d in TF_DIRS])
def test_cached_parse_equals_fresh_parse(directory, tmp_path):
    fresh = _module_signature(Project(str(directory), str, tree_cache=TreeCache(str(tmp_path))), directory)
    cache = TreeCache(str(tmp_path))  # a new process's view: the disk only
    cached = _module_signature(Project(str(directory), str, tree_cache=cache), directory)
    assert cached == fresh
    if fresh:
        assert cache.misses == 0 and cache.hits > 0


def test_entries_are_json_files_under_two_character_directories(tmp_path):
    cache = TreeCache(str(tmp_path))
    text = 'variable "v" {}'
    cache.parsed(text, _parse_tree(text))
    key = TreeCache.key(text)
    path = tmp_path / key[:2] / f"{key}.json"
    assert json.loads(path.read_text()) == {"v": 1, "tree": to_list(_parse_tree(text))}
    assert not [p for p in tmp_path.rglob(".tmp-*")]


@pytest.mark.parametrize("damage", [
    b"", b"{", b"\xff\xfe", b"[]", b'{"v": 2, "tree": ["a", null, []]}', b'{"v": 1, "tree": ["a", 3]}',
    b'{"v": 1, "tree": ["a", [1, 2], []]}', b'{"v": 1, "tree": ["T", "v", 1, 1, 1, 1, 1]}',
    b'{"v": 1, "tree": 7}', b'{"v": 1, "tree": ["a", null, [["b", null, "c"]]]}',
])
def test_a_damaged_entry_is_a_miss(tmp_path, damage):
    text = 'variable "v" {}'
    writer = TreeCache(str(tmp_path))
    writer.parsed(text, _parse_tree(text))
    key = TreeCache.key(text)
    (tmp_path / key[:2] / f"{key}.json").write_bytes(damage)
    reader = TreeCache(str(tmp_path))
    assert reader.tree(text) is None
    assert (reader.hits, reader.misses) == (0, 1)


def test_an_unwritable_directory_is_only_slower(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = TreeCache(str(blocker))
    text = 'variable "v" {}'
    cache.parsed(text, _parse_tree(text))  # never raises
    assert cache.tree(text) is not None  # the in-process copy


def test_key_depends_on_text_and_parser_version(monkeypatch):
    a = TreeCache.key("x")
    assert TreeCache.key("y") != a
    monkeypatch.setattr(treecache, "_SALT", "other-version\0code")
    assert TreeCache.key("x") != a


def test_default_is_in_memory_and_replaceable(tmp_path):
    saved = treecache._DEFAULT
    try:
        treecache.set_default(None)
        assert treecache.default().directory is None
        mine = TreeCache(str(tmp_path))
        Project(str(tmp_path), str, tree_cache=mine)
        assert treecache.default() is mine
        Project(str(tmp_path), str)  # a Project without a cache never writes to another's directory
        assert treecache.default() is not mine and treecache.default().directory is None
    finally:
        treecache.set_default(saved)


SCRIPT = textwrap.dedent('''
    import json, sys
    from cloudtrail_kms_lint.terraform.analysis import analyse_root
    from cloudtrail_kms_lint.terraform.module import Project, root_var_values
    from cloudtrail_kms_lint.terraform.treecache import TreeCache
    from cloudtrail_kms_lint.cache import finding_to_dict

    cache = TreeCache(sys.argv[1])
    out = []
    for root in sys.argv[2:]:
        project = Project(root, str, tree_cache=cache)
        errors = []
        values = root_var_values(root, [], {}, str, errors)
        findings = analyse_root(project, root, values)
        out.append([finding_to_dict(f) for f in findings])
    print(json.dumps({"findings": out, "lark": "lark" in sys.modules, "hcl2": "hcl2" in sys.modules,
                      "misses": cache.misses}, default=str, sort_keys=True))
''')

# every fixture, syntax errors included (a remembered syntax error is reported without a parser)
CLEAN = TF_DIRS


def _run(cache_dir: Path, dirs: list, block_hcl2: bool = False) -> dict:
    code = SCRIPT
    if block_hcl2:  # python-hcl2 is not installed
        code = "import sys\nsys.modules['hcl2'] = None\nsys.modules['lark'] = None\n" + code
    run = subprocess.run([sys.executable, "-c", code, str(cache_dir)] + [str(d) for d in dirs],
                         capture_output=True, text=True, cwd=str(ROOT), timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_a_full_hit_imports_neither_lark_nor_hcl2(tmp_path):
    first = _run(tmp_path, CLEAN)
    assert first["lark"] and first["misses"] > 0
    second = _run(tmp_path, CLEAN)
    assert second["findings"] == first["findings"]
    assert (second["lark"], second["hcl2"], second["misses"]) == (False, False, 0)
    # and it does not need python-hcl2 installed at all
    third = _run(tmp_path, CLEAN, block_hcl2=True)
    assert third["findings"] == first["findings"]


def test_a_miss_without_python_hcl2_is_parser_missing(tmp_path):
    code = ("import sys\nsys.modules['hcl2'] = None\n"
            "from cloudtrail_kms_lint.terraform.module import Project\n"
            "from cloudtrail_kms_lint.terraform.treecache import TreeCache\n"
            "from cloudtrail_kms_lint.cloudformation.loader import ParserMissing\n"
            "try:\n"
            "    Project(sys.argv[1], str, tree_cache=TreeCache(sys.argv[2])).module_dir(sys.argv[1])\n"
            "except ParserMissing as e:\n"
            "    print('ParserMissing', e)\n")
    run = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "rule_001_no_key"), str(tmp_path)],
                         capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert run.stdout.startswith("ParserMissing"), run.stdout + run.stderr


BROKEN = [
    'resource "aws_cloudtrail" "t" {\n  kms_key_id = aws_kms_key.k.arn,\n}\n',  # an unexpected token
    'resource "aws_cloudtrail" "t" {\n  name = "x" ^\n}\n',  # an unexpected character
    'resource "aws_cloudtrail" "t" {\n  name = (\n}\n',
    'resource "aws_cloudtrail" "t" {\n  name = "a"\n  name = "b"\n}\n',  # parses; the walk reports it
]


@pytest.mark.parametrize("text", BROKEN)
def test_a_remembered_syntax_error_is_reported_the_same_way(tmp_path, text):
    d = tmp_path / "m"
    d.mkdir()
    (d / "main.tf").write_text(text)
    first = _module_signature(Project(str(d), str, tree_cache=TreeCache(str(tmp_path / "c"))), d)
    cache = TreeCache(str(tmp_path / "c"))
    second = _module_signature(Project(str(d), str, tree_cache=cache), d)
    assert second == first and first[0][2]
    assert cache.misses == 0


def test_a_remembered_expression_error_is_reported_the_same_way(tmp_path):
    from cloudtrail_kms_lint.terraform.parse import ExpressionSyntaxError, _cached_tree, parse_expression

    saved = treecache._DEFAULT
    try:
        treecache.set_default(TreeCache(str(tmp_path)))
        with pytest.raises(ExpressionSyntaxError) as first:
            parse_expression("var.x +* 2", "f.tf", 7)
        _cached_tree.cache_clear()
        treecache.set_default(TreeCache(str(tmp_path)))
        with pytest.raises(ExpressionSyntaxError) as second:
            parse_expression("var.x +* 2", "f.tf", 7)
        assert treecache.default().misses == 0
        assert (second.value.error.line, second.value.error.message) == (first.value.error.line,
                                                                         first.value.error.message)
    finally:
        treecache.set_default(saved)
        _cached_tree.cache_clear()
