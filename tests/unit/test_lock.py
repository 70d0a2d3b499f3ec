"""The image's lock file agrees with pyproject.toml: every dependency pinned, with hashes, in range."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) from requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    found = {}
    pin = r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)[^\n\\]*((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})+)"
    for match in re.finditer(pin, text, re.M):
        found[canonicalize_name(match[1])] = (match[2], match[3].count("--hash="))
    return found


def image_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["flower"] + extras["gevent"]]


def test_every_image_dependency_is_pinned_in_range_with_hashes():
    pins = locked()
    assert len(pins) >= 20  # celery's whole tree, not only the direct dependencies
    for requirement in image_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: pip-compile again (docs/development.md)"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} not {requirement}"
        assert hashes >= 1


def test_every_pin_has_a_hash():
    text = (ROOT / "requirements.lock").read_text()
    pinned = re.findall(r"^[A-Za-z0-9_.\-]+==", text, re.M)
    assert len(pinned) == len(locked())  # a pin without a hash would not match the pattern
