"""Where the producer runs, and so what its messages can promise: on the host, or in the project's image.

In the image (compose's `docker compose run --rm producer`, a Kubernetes Job) no extra can be
installed, and a file written outside a folder mounted from the host goes when the container
does: "pip install -e '.[plot]'" and "trace written to /tmp/run.json" were both untrue there.
The Dockerfile says it is the image (IN_PROJECT_IMAGE=1); compose's producer service mounts the
clone's ./out as /out, its working folder, and says so (OUTPUT_DIR, OUTPUT_DIR_ON_HOST).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from settings import current


@dataclass(frozen=True)
class Where:
    """In the image or not; the folder mounted from the host for the producer's files, and the host's name for it."""

    in_image: bool = False
    output_dir: Path | None = None
    output_dir_on_host: str | None = None

    @classmethod
    def here(cls) -> Where:
        """This process's (settings: IN_PROJECT_IMAGE, OUTPUT_DIR, OUTPUT_DIR_ON_HOST)."""
        s = current()
        mounted = s.output_dir and s.output_dir_on_host
        return cls(s.in_image, Path(s.output_dir) if mounted else None, s.output_dir_on_host if mounted else None)

    def on_host(self, path: Path) -> str | None:
        """The host's name of `path` when it lies in the mounted folder (`./out/run.json`), else None."""
        if self.output_dir is None or self.output_dir_on_host is None:
            return None
        full = Path(os.path.abspath(path))
        if not full.is_relative_to(self.output_dir):
            return None
        return f"{self.output_dir_on_host.rstrip('/')}/{full.relative_to(self.output_dir).as_posix()}"

    def keep_it(self) -> str:
        """How a file outlives the container: where to write it."""
        if self.output_dir is not None:
            return f"write it under {self.output_dir} (on the host {self.output_dir_on_host}), the working folder"
        return "mount a folder from the host and write it there"

    def written(self, path: Path) -> str:
        """Where a file the producer wrote is, as its user will look for it.

        `run.json` on the host; in the container, its name on the host when it is in the mounted
        folder, else a warning that it is gone with the container, and where to write it instead.
        """
        if not self.in_image:
            return str(path)
        if host := self.on_host(path):
            return f"{host} on the host ({os.path.abspath(path)} in the container)"
        return f"{os.path.abspath(path)}, inside the container only: it goes when the container does; {self.keep_it()}"

    def install_hint(self, extra: str, example: str) -> str:
        """How to get an optional extra (`example`: its option in use, `--plot run.png`): pip, on the host; in
        the image, which holds none, the producer on the host instead (it finds compose's cluster by itself)."""
        if not self.in_image:
            return f"pip install -e '.[{extra}]'"
        return (f"not in this image: run the producer on the host for it, in the clone: python3 -m venv .venv && "
                f".venv/bin/pip install -e '.[{extra}]', then .venv/bin/producer {example}")
