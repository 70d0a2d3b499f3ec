"""`python -m producer` (and the `producer` console script): see producer.commands.main."""

from __future__ import annotations

from producer.commands.main import main

if __name__ == "__main__":
    main()
