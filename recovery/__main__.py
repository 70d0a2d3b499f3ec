"""`python -m recovery`: run the recovery service until SIGTERM or Ctrl-C."""

import sys

from recovery.service import main

if __name__ == "__main__":
    sys.exit(main())
