"""What every part of the cluster is told, in one room below all the others (standard library only).

- `settings.model`: the settings, one frozen object (`current()`), that alone decides where Redis is.
- `settings.environment`: the variables, declared once, read as `docker compose` reads them.
- `settings.roles`: who may do what in Redis, the passwords, and compose's `secrets` service.
- `settings.local_state`: where `producer local up` keeps its cluster's state, and how to read it.
- `settings.urls`: Redis URLs, built in one place.
- `settings.private_file`: a file only its owner may read, written atomically.
"""

from settings.environment import SettingError
from settings.model import Settings, current, load

__all__ = ["SettingError", "Settings", "current", "load"]
