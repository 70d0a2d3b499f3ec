"""`python -m producer` (and the `producer` console script): see producer.commands.main."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the CLI; a bad setting (worker.config raises it on import) is one line, exit 2."""
    try:
        from producer.commands.main import main as cli_main
    except ValueError as exc:
        if type(exc).__name__ != "SettingError":  # worker.errors.SettingError; its package failed to import
            raise
        print(f"producer: error: {exc}", file=sys.stderr)
        sys.exit(2)
    cli_main()


if __name__ == "__main__":
    main()
