"""Flower's configuration file (`celery -A worker flower --conf=worker/flowerconfig.py`): its login, from files.

Flower runs this file as it starts. The password is read from FLOWER_PASSWORD_FILE, so no
process environment, command line or `docker inspect` holds it (FLOWER_BASIC_AUTH would).
Without a password file Flower refuses to start: it never serves its pages without a login.
"""

import os
from pathlib import Path

_user = os.environ.get("FLOWER_USER", "").strip() or "admin"
_file = os.environ.get("FLOWER_PASSWORD_FILE", "").strip()
if not _file:
    raise SystemExit("flower: error: FLOWER_PASSWORD_FILE is not set: Flower serves nothing without a login")
try:
    _password = Path(_file).read_text().strip()
except OSError as exc:
    raise SystemExit(f"flower: error: FLOWER_PASSWORD_FILE={_file}: cannot read it ({exc.strerror})") from None
if not _password:
    raise SystemExit(f"flower: error: FLOWER_PASSWORD_FILE={_file} is empty")

basic_auth = [f"{_user}:{_password}"]
