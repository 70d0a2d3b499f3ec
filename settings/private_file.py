"""Writing a file that holds a secret: private from its first byte, and replaced whole or not at all.

Standard library only: the roles' password files, the local cluster's state and its secrets use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str, mode: int = 0o600, owner: tuple[int, int] | None = None) -> Path:
    """Write `text` to `path` with exactly `mode` (and `owner`, (uid, gid), when given) before any byte of it.

    The text goes to a new file beside `path`, which is flushed to disk and then renamed over
    it: a reader sees the old file or the new one, never half of one, and never a moment of
    wider access (the umask does not widen or narrow `mode`: it is set, not asked for).
    """
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600, ours alone
    try:
        try:
            os.fchmod(fd, mode)
            if owner is not None:
                os.fchown(fd, *owner)
            data = text.encode()
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)  # on disk before the rename makes it the file: a crash leaves the old one, not an empty one
        finally:
            os.close(fd)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return path
