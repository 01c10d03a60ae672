"""Which files a scan reads: extensions, .gitignore, --exclude, skipped directories."""

import json
from pathlib import Path

from cloudtrail_kms_lint.cli import main
from cloudtrail_kms_lint.discovery import Ignore, iter_files

EXAMPLE = (Path(__file__).resolve().parents[1] / "examples" / "cloudformation" / "aws-managed-key.yaml").read_text()


def _tree(root: Path) -> None:
    for rel in ("a.yaml", "b.yml", "c.json", "d.template", "e.txt", "sub/f.yaml", "build/g.yaml",
                "vendor/h.yaml", ".git/i.yaml", "node_modules/j.yaml", "keep/k.yaml"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("{}")


def test_extensions_gitignore_and_excludes(tmp_path):
    _tree(tmp_path)
    (tmp_path / ".gitignore").write_text("# comment\nbuild/\n/vendor\n*.yml\n")
    found = sorted(Path(p).relative_to(tmp_path).as_posix() for p in iter_files([str(tmp_path)], ["keep"], (".yaml", ".yml", ".json", ".template")))
    assert found == ["a.yaml", "c.json", "d.template", "sub/f.yaml"]


def test_negated_pattern_keeps_a_file():
    ig = Ignore()
    ig.add("*.yaml")
    ig.add("!important.yaml")
    assert ig.ignored("x.yaml", False)
    assert not ig.ignored("important.yaml", False)
    assert ig.ignored("dir/x.yaml", False)


def test_explicit_file_is_scanned_even_if_ignored(tmp_path):
    (tmp_path / ".gitignore").write_text("*.yaml\n")
    f = tmp_path / "t.yaml"
    f.write_text("{}")
    assert list(iter_files([str(f)], [], (".yaml",))) == [str(f)]


def test_non_templates_are_skipped_silently(tmp_path, capsys, monkeypatch):
    (tmp_path / "workflow.yml").write_text("name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n")
    (tmp_path / "chart.yaml").write_text("{{ if .Values.x }}\nkey: [unclosed\n")  # not YAML, not a template
    (tmp_path / "package.json").write_text('{"name": "x"}')
    (tmp_path / "trail.yaml").write_text(EXAMPLE)
    monkeypatch.chdir(tmp_path)
    code = main(["scan", "--format", "json", "."])
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    assert [(f["file"], f["rule"]) for f in doc["findings"]] == [("trail.yaml", "CTKMS002")]
    assert code == 1


def test_exclude_flag(tmp_path, capsys, monkeypatch):
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "trail.yaml").write_text(EXAMPLE)
    monkeypatch.chdir(tmp_path)
    assert main(["scan", "--format", "json", "--exclude", "skip/", "."]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
