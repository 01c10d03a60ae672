"""The text pre-filter and its index: what is read again, and what may be trusted without reading."""

import fnmatch
import json
import os
import random
import time

import pytest

from cloudtrail_kms_lint import prefilter
from cloudtrail_kms_lint.changed import expand
from cloudtrail_kms_lint.cli import main
from cloudtrail_kms_lint.discovery import Ignore
from cloudtrail_kms_lint.prefilter import Index, local_sources, other_facts, terraform_facts

TRAIL = '''resource "aws_cloudtrail" "t" {
  name           = "t"
  s3_bucket_name = "logs"
}
'''
PLAIN = '''resource "aws_s3_bucket" "b" {
  bucket = "logs-xx"
}
'''


def test_local_sources_need_a_word_boundary():
    data = b'''module "a" { source = "./a" }
module "b" {
  source="../b"
}
data_source = "./not-a-call"
x = { source = "git::https://example.com/m" }
'''
    assert local_sources(data) == ("./a", "../b")


def test_terraform_and_other_facts():
    f = terraform_facts("x.tf", b'resource "aws_cloudtrail_event_data_store" "s" {} # cloudtrail-kms-lint:ignore CTKMS001 -- why')
    assert (f.trail, f.sources, f.marker) == (True, (), True)
    assert other_facts("p.json", b'{"format_version": "1.2", "planned_values": {}}').kind == "plan"
    assert other_facts("t.yaml", b"Resources:\n  T:\n    Type: AWS::CloudTrail::Trail\n").kind == "trail-template"
    assert other_facts("t.yaml", b"Resources:\n  B:\n    Type: AWS::S3::Bucket\n").kind == "template"
    assert other_facts("ci.yml", b"on: [push]\n").kind == ""


def _old_ignored(patterns, rel, is_dir):
    """The fnmatch implementation the compiled matcher replaced (the reference)."""
    name = rel.rsplit("/", 1)[-1]
    result = False
    for glob, negated, dir_only, anchored in patterns:
        if dir_only and not is_dir:
            continue
        if anchored:
            hit = fnmatch.fnmatchcase(rel, glob) or fnmatch.fnmatchcase(rel, glob + "/*")
        else:
            hit = (fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(rel, glob)
                   or fnmatch.fnmatchcase(rel, "*/" + glob))
        if hit:
            result = not negated
    return result


def test_compiled_gitignore_matches_the_fnmatch_reference():
    patterns = ["*.yml", "build/", "/vendor", "!keep.yml", "a/*/c", "**/x", "[ab]*.tf", "d?r/", "*", "!*.tf",
                "sub/f.yaml", "x.y", "a[!b]c", "!/vendor/keep"]
    paths = ["a.yml", "build", "x/build", "vendor", "x/vendor", "vendor/keep", "keep.yml", "a/b/c", "a/b/c/d", "q/x",
             "x", "a.tf", "b.tf", "dir", "dar/q", "sub/f.yaml", "x/y", "xzy", "abc", "acc", "a.yaml"]
    rng = random.Random(7)
    for _ in range(400):
        ig = Ignore()
        for p in rng.sample(patterns, rng.randint(0, 5)):
            ig.add(p)
        for rel in paths:
            for is_dir in (True, False):
                assert ig.ignored(rel, is_dir) == _old_ignored(ig.patterns, rel, is_dir), (ig.patterns, rel, is_dir)


@pytest.fixture
def trusting(monkeypatch):
    """Record files in the index at once (a real run waits RACY_SECONDS after a change)."""
    monkeypatch.setattr(prefilter, "RACY_SECONDS", 0)


def _scan(tmp_path, capsys, *args):
    code = main(["scan", "--format", "json", "--cache-dir", str(tmp_path / "cache"), *args])
    return code, json.loads(capsys.readouterr().out)


def _index(tmp_path):
    [path] = (tmp_path / "cache").glob("v*/prefilter/*.json")
    return json.loads(path.read_text())


def test_warm_run_trusts_the_index_and_a_changed_file_is_read_again(tmp_path, monkeypatch, capsys, trusting):
    repo = tmp_path / "repo"
    (repo / "m").mkdir(parents=True)
    f = repo / "m" / "main.tf"
    size = max(len(PLAIN), len(TRAIL)) + 10
    f.write_text(PLAIN.ljust(size - 1) + "\n")
    monkeypatch.chdir(repo)
    code, doc = _scan(tmp_path, capsys, ".")
    assert (code, doc["findings"]) == (0, [])
    assert "m/main.tf" in _index(tmp_path)["files"]

    # Same size, mtime put back: only the ctime (which user space cannot set) tells the change.
    st = f.stat()
    time.sleep(0.05)
    f.write_text(TRAIL.ljust(size - 1) + "\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (f.stat().st_size, f.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    code, doc = _scan(tmp_path, capsys, ".")
    assert code == 1
    assert [x["rule"] for x in doc["findings"]] == ["CTKMS001"]


def test_a_file_changed_seconds_ago_is_not_recorded(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.tf").write_text(PLAIN)
    monkeypatch.chdir(repo)
    _scan(tmp_path, capsys, ".")
    # just written: its timestamps could be shared by the next change (git's racily clean files)
    written = list((tmp_path / "cache").glob("v*/prefilter/*.json"))
    assert all("main.tf" not in json.loads(p.read_text())["files"] for p in written)
    code, doc = _scan(tmp_path, capsys, ".")  # and it is read again
    assert doc["summary"]["files_scanned"] == 1


def test_damaged_index_is_ignored(tmp_path, monkeypatch, capsys, trusting):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.tf").write_text(TRAIL)
    monkeypatch.chdir(repo)
    _scan(tmp_path, capsys, ".")
    [path] = (tmp_path / "cache").glob("v*/prefilter/*.json")
    doc = json.loads(path.read_text())
    [key] = doc["files"]
    assert key == "main.tf"  # relative to the repository
    doc["files"][key][2:] = ["not a list", 3]
    path.write_text(json.dumps(doc))
    code, out = _scan(tmp_path, capsys, ".")
    assert [x["rule"] for x in out["findings"]] == ["CTKMS001"]
    path.write_text("{not json")
    code, out = _scan(tmp_path, capsys, ".")
    assert [x["rule"] for x in out["findings"]] == ["CTKMS001"]


def test_no_cache_writes_no_index(tmp_path, monkeypatch, capsys, trusting):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.tf").write_text(TRAIL)
    monkeypatch.chdir(repo)
    main(["scan", "--no-cache", "--cache-dir", str(tmp_path / "cache"), "."])
    capsys.readouterr()
    assert not (tmp_path / "cache").exists()


def test_index_of_other_code_is_not_used(tmp_path):
    (tmp_path / "a.tf").write_text(TRAIL)
    st = os.stat(tmp_path / "a.tf")
    real = str((tmp_path / "a.tf").resolve())
    old = Index(str(tmp_path / "cache"), str(tmp_path), "code-1")
    old.entries["a.tf"] = [f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}", 1, [], ""]
    old.dirty = True
    old.save()
    prefilter._LOADED.clear()
    assert Index(str(tmp_path / "cache"), str(tmp_path), "code-1").get(real, st) is not None
    prefilter._LOADED.clear()
    assert Index(str(tmp_path / "cache"), str(tmp_path), "code-2").get(real, st) is None


def test_expand_sees_a_new_caller_after_the_listing_was_recorded(tmp_path, monkeypatch, trusting):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "modules" / "kms").mkdir(parents=True)
    (repo / "modules" / "kms" / "main.tf").write_text(PLAIN)
    (repo / "a").mkdir()
    (repo / "a" / "main.tf").write_text('module "k" {\n  source = "../modules/kms"\n}\n')
    monkeypatch.chdir(repo)
    cache = str(tmp_path / "cache")
    assert expand(["modules/kms/main.tf"], cache_dir=cache) == ["a"]
    [path] = (tmp_path / "cache").glob("v*/prefilter/*.json")
    assert str(repo.resolve()) in json.loads(path.read_text())["dirs"]  # the repository root: an absolute key
    time.sleep(0.05)
    (repo / "b").mkdir()  # a new directory: the repository root's listing changed
    (repo / "b" / "main.tf").write_text('module "k" {\n  source = "../modules/kms"\n}\n')
    assert expand(["modules/kms/main.tf"], cache_dir=cache) == ["a", "b"]
    time.sleep(0.05)
    (repo / "a" / "main.tf").write_text('module "k" {\n  source = "../modules/other"\n}\n')  # no longer a caller
    assert expand(["modules/kms/main.tf"], cache_dir=cache) == ["b"]
    assert expand(["modules/kms/main.tf"], cache_dir=cache, use_cache=False) == ["b"]


def test_a_file_just_edited_is_read_and_the_index_is_not_rewritten(tmp_path, monkeypatch, capsys):
    """The pre-commit case: the file was recorded earlier and has just been edited. Its old entry
    no longer matches (so it is read), and no new one is written (it may change again at once)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    f = repo / "main.tf"
    f.write_text(PLAIN)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(prefilter, "RACY_SECONDS", 0)
    _scan(tmp_path, capsys, ".")
    [index] = (tmp_path / "cache").glob("v*/prefilter/*.json")
    written = index.stat().st_mtime_ns
    monkeypatch.setattr(prefilter, "RACY_SECONDS", 3600)  # everything counts as just changed
    time.sleep(0.05)
    f.write_text(TRAIL)
    code, doc = _scan(tmp_path, capsys, ".")
    assert [x["rule"] for x in doc["findings"]] == ["CTKMS001"]
    assert index.stat().st_mtime_ns == written


def test_a_warm_run_reads_no_unchanged_file(tmp_path, monkeypatch, capsys, trusting):
    """What the index is for: the second run stats unchanged files instead of reading them."""
    from cloudtrail_kms_lint import scan as scan_module

    repo = tmp_path / "repo"
    for name in ("a", "b", "c"):
        (repo / name).mkdir(parents=True)
        (repo / name / "main.tf").write_text(PLAIN)
    monkeypatch.chdir(repo)
    _scan(tmp_path, capsys, ".")
    reads = []
    real = scan_module._read_bytes
    monkeypatch.setattr(scan_module, "_read_bytes", lambda path, *a: reads.append(path) or real(path, *a))
    code, doc = _scan(tmp_path, capsys, ".")
    assert (code, doc["summary"]["files_scanned"]) == (0, 3)
    assert reads == []
    time.sleep(0.05)
    (repo / "b" / "main.tf").write_text(PLAIN + "\n")
    _scan(tmp_path, capsys, ".")
    assert [os.path.relpath(p, repo) for p in reads] == [os.path.join("b", "main.tf")]
