"""The clone's .env as `docker compose` reads it: a setting's value, and the names in it that nothing reads.

Compose takes any NAME=value from .env and uses only the names its files interpolate; the
rest it ignores without a word, so `WORKRES=8` started the default 2 workers and nobody
said why. The names this project knows are read off its own files, so they cannot drift:
every `${NAME}` of the compose files beside docker-compose.yml, and every variable the
settings declare (settings.environment.VARIABLES, and NAME_FILE for each). A name close to
one of those is most likely a typo of it and is named with it; any other is the user's own
(a token kept for another tool) and is left alone.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from settings.environment import DOTENV, VARIABLES, lookup, read_dotenv  # the clone's .env and its one parser

#: The clone's top folder: docker-compose.yml, and the .env compose reads beside it.
ROOT = Path(__file__).resolve().parent.parent
#: Compose's own variables (COMPOSE_PROJECT_NAME, COMPOSE_FILE, DOCKER_HOST, ...): settings too.
COMPOSE_PREFIXES = ("COMPOSE_", "DOCKER_")
#: How close a name must be to a known one to be called its typo (difflib's ratio; 0.6 is its default).
CLOSE = 0.75


def compose_setting(name: str, default: str, dotenv: Path = DOTENV) -> str:
    """A compose setting as `docker compose` sees it: the shell's variable, else the clone's .env, else the default.

    Compose's view of the environment (its files interpolate FLOWER_PORT, ...), not a setting of
    this process: hence read here, a documented exception to "only the settings read the environment"."""
    return lookup(name, os.environ, read_dotenv(dotenv)) or default


def compose_names(root: Path = ROOT) -> set[str]:
    """Every variable the clone's compose files interpolate (`${NAME}`, `${NAME:-default}`, ...)."""
    return {name for path in sorted(root.glob("*.yml"))
            for name in re.findall(r"\$\{([A-Za-z_]\w*)", path.read_text())}


def config_names() -> set[str]:
    """Every variable the settings read (importing the package declares them all), and each one's NAME_FILE."""
    return set(VARIABLES) | {f"{name}_FILE" for name in VARIABLES}


def known_names(root: Path = ROOT) -> set[str]:
    """The names this project reads: its compose files' and its settings module's."""
    return compose_names(root) | config_names()


def typos(names: list[str], known: set[str]) -> dict[str, str]:
    """Each unknown name that is close to a known one -> that known one. Unknown names close to nothing
    are left out: a user's own variables, not a mistake of ours to name."""
    found = {}
    for name in names:
        if name in known or name.startswith(COMPOSE_PREFIXES):
            continue
        if close := difflib.get_close_matches(name, sorted(known), n=1, cutoff=CLOSE):
            found[name] = close[0]
    return found


def typo_warning(dotenv: Path | None = None, root: Path = ROOT) -> str | None:
    """One line naming the .env's (DOTENV's) probable typos and what each most likely means; None when none.

    A warning, not an error: compose starts anyway, and a name kept there for another tool must break nothing.
    """
    dotenv = dotenv or DOTENV
    names = list(read_dotenv(dotenv))
    if not names or not (found := typos(names, known_names(root))):
        return None
    listed = ", ".join(f"{name} (did you mean {known}?)" for name, known in found.items())
    one = len(found) == 1
    return (f"warning: {dotenv}: {listed} {'is' if one else 'are'} not a setting of this project: "
            f"docker compose ignores {'it' if one else 'them'}")
