"""The variables this project reads, and how it reads them: as `docker compose` does.

A variable's value is the environment's, else the clone's .env (which compose reads too), else
the content of the file NAME_FILE names (for secrets), else its default. Every variable is
declared once here (`variable(...)`), so the typo check of .env (producer/compose_env.py) and
the Kubernetes manifests' test read the names and defaults off `VARIABLES`, not off the code.
Standard library only; reading a file happens in `Reader`, never on import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Where compose mounts each role's password (docker-compose.yml's `secrets` volume).
COMPOSE_SECRETS = "/run/secrets/"
#: The clone's .env, which `docker compose` reads. A process of the clone on the host (the
#: producer, `producer status`) reads it too, as compose does, so a setting put there
#: (REDIS_PORT, WORKER_WAIT, ...) reaches both. No image holds one (.dockerignore).
DOTENV = Path(__file__).resolve().parent.parent / ".env"


class SettingError(ValueError):
    """An environment variable holds a value this project cannot use (one line, the variable named)."""


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name and its default as a user would write it (None: unset)."""

    name: str
    default: str | None = None


#: Every variable the settings read, by name, in the order they are declared.
VARIABLES: dict[str, Variable] = {}


def variable(name: str, default: str | None = None) -> Variable:
    """Declare a variable (once): it is then known to VARIABLES."""
    if name in VARIABLES:
        raise AssertionError(f"{name} is declared twice")
    VARIABLES[name] = found = Variable(name, default)
    return found


def read_dotenv(dotenv: Path = DOTENV) -> dict[str, str]:
    """NAME -> value of each `NAME=value` line (quotes and blanks stripped, comments skipped); {} without a file."""
    try:
        text = dotenv.read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()  # compose reads `export NAME=value` too
        if sep and key and not line.lstrip().startswith("#"):
            found[key] = value.strip().strip("'\"")
    return found


def lookup(name: str, environ: Mapping[str, str], dotenv: Mapping[str, str]) -> str:
    """A variable as compose sees it (pure): the environment's, else the .env's, else "". A name the
    environment holds, even blank, is the environment's: a blank one clears the .env's (as the local
    cluster does for the workers it starts with URLs of their own)."""
    return (environ[name] if name in environ else dotenv.get(name, "")).strip()


class Reader:
    """Reads declared variables from one environment and .env, checked, each refusal a SettingError."""

    def __init__(self, environ: Mapping[str, str], dotenv: Mapping[str, str]) -> None:
        self.environ, self.dotenv = environ, dotenv

    def raw(self, var: Variable) -> str | None:
        """The value (`lookup`), else the content of the file NAME_FILE names, else None (the caller's default)."""
        if value := lookup(var.name, self.environ, self.dotenv):
            return value
        if path := lookup(f"{var.name}_FILE", self.environ, self.dotenv):
            try:
                return Path(path).read_text().strip()
            except OSError as exc:
                # compose's secrets volume, filled by the cluster's first `up` (a `run` starts nothing)
                hint = ("; the cluster's first `docker compose up -d --wait` makes it"
                        if isinstance(exc, FileNotFoundError) and path.startswith(COMPOSE_SECRETS) else "")
                raise SettingError(f"{var.name}_FILE={path}: cannot read it ({exc.strerror}){hint}") from None
        return None

    def text(self, var: Variable) -> str:
        """The value, else the variable's default ("" without one)."""
        return self.raw(var) or var.default or ""

    def whole(self, var: Variable, minimum: int = 1) -> int:
        """A whole number of at least `minimum`."""
        value = self.raw(var)
        if value is None:
            return int(var.default or minimum)
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise SettingError(f"{var.name}={value!r}: must be a whole number of at least {minimum}")
        return number

    def seconds(self, var: Variable, zero_ok: bool = False) -> float:
        """A finite number of seconds above 0 (or 0 itself, with `zero_ok`)."""
        value = self.raw(var)
        if value is None:
            return float(var.default or 0)
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and (number > 0 or (zero_ok and number == 0))):
            raise SettingError(f"{var.name}={value!r}: must be a number of seconds "
                               f"{'of at least' if zero_ok else 'above'} 0")
        return number
