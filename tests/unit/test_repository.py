"""The repository itself: nothing committed half-merged."""

from __future__ import annotations

import re
import subprocess

from tests.helpers import ROOT

MARKER = re.compile(r"^(<{7}|>{7})( |$)|^={7}$", re.MULTILINE)


def test_no_merge_conflict_markers_are_committed():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    marked = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if MARKER.search(text):
            marked.append(name.decode())
    assert marked == [], f"merge-conflict markers in {marked}"


#: What a merge tool or a patch leaves beside a file: never part of the project.
LEFTOVER = re.compile(r"\.(orig|rej|BACKUP\.\d+|BASE\.\d+|LOCAL\.\d+|REMOTE\.\d+)(\.[^/]*)?$|~$")


def test_no_merge_or_patch_leftovers_are_committed():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert [name for name in files if LEFTOVER.search(name)] == []


def test_the_leftover_check_bites():
    assert all(LEFTOVER.search(n) for n in ("docs/a.md.orig", "x.py.rej", "README.md~", "a.BACKUP.1.py"))
    assert not any(LEFTOVER.search(n) for n in ("docs/origin.md", "orig.py", "worker/records.py"))


def test_the_marker_check_bites():
    assert MARKER.search("a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> other\n")
    assert not MARKER.search("a ======= b\n<<<<<<<< not eight\n")
