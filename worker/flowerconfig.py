"""Flower's configuration file (`celery -A worker flower --conf=worker/flowerconfig.py`): its login, from files.

Flower runs this file as it starts. The password is read from FLOWER_PASSWORD_FILE (settings),
so no process environment, command line or `docker inspect` holds it (FLOWER_BASIC_AUTH would).
Without a password file Flower refuses to start: it never serves its pages without a login.
Flower executes this file as its configuration; nothing imports it, so its refusals (SystemExit,
one line) are the one place a module of the project stops on load, by design.
"""

from pathlib import Path

from settings import SettingError, current

try:
    _settings = current()
except SettingError as exc:
    raise SystemExit(f"flower: error: {exc}") from None
_file = _settings.flower_password_file
if not _file:
    raise SystemExit("flower: error: FLOWER_PASSWORD_FILE is not set: Flower serves nothing without a login")
try:
    _password = Path(_file).read_text().strip()
except OSError as exc:
    raise SystemExit(f"flower: error: FLOWER_PASSWORD_FILE={_file}: cannot read it ({exc.strerror})") from None
if not _password:
    raise SystemExit(f"flower: error: FLOWER_PASSWORD_FILE={_file} is empty")

basic_auth = [f"{_settings.flower_user}:{_password}"]
