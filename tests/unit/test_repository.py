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


def test_the_marker_check_bites():
    assert MARKER.search("a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> other\n")
    assert not MARKER.search("a ======= b\n<<<<<<<< not eight\n")
