"""The README a newcomer reads in five minutes, and docs/ behind it (issue #22): short, the two
commands near the top, and no link into nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: The two commands, exactly as `.ci/run` (which calls scripts/test) and a newcomer run them.
COMMANDS = ("docker compose up -d --build --wait && docker compose run --rm producer", "scripts/test")

FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\]\n]|\][^(\n])*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text without code blocks and code spans: a `[x](y)` inside code is no link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        m = re.match(r"^#{1,6} (.+?)#*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: are not ours


def test_the_readme_is_read_in_five_minutes():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move the detail into docs/"


@pytest.mark.parametrize("command", COMMANDS)
def test_the_two_commands_are_in_the_readmes_first_40_lines(command):
    first = README.read_text().splitlines()[:40]
    assert command in [line.strip() for line in first], f"{command!r} is not a line of README.md's first 40"


def test_the_ci_runs_the_readmes_test_command():
    assert re.search(r"^exec scripts/test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_the_readme_leads_into_every_doc():
    targets = {(README.parent / t.partition("#")[0]).resolve() for t in links(README)}
    assert DOCS and [d.name for d in DOCS if d.resolve() not in targets] == []


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_something_that_exists(path):
    broken = []
    for target in links(path):
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert broken == [], f"{path.relative_to(ROOT)}: {broken}"


def test_the_link_check_bites(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title, `with` code\n\n## Again\n\n## Again\n\n[x](#a-title-with-code) [y](#again-1) "
                    "[z](https://example.org) `[no](link)`\n\n```\n[not](a-link)\n```\n")
    assert links(page) == ["#a-title-with-code", "#again-1"]
    assert anchors(page) == {"a-title-with-code", "again", "again-1"}
    assert slug("No Docker? A local cluster") == "no-docker-a-local-cluster"
    assert slug("The price of every guarantee (issue #24)") == "the-price-of-every-guarantee-issue-24"


def test_no_paragraph_is_glued_to_a_table():
    """A line of prose right under a table's last row renders as one more (broken) row."""
    for path in [README, *DOCS]:
        lines = FENCE.sub("", path.read_text()).splitlines()
        glued = [f"{path.name}:{i + 2}: {b[:40]}" for i, (a, b) in enumerate(zip(lines, lines[1:], strict=False))
                 if a.startswith("|") and b.strip() and not b.startswith("|")]
        assert glued == []
