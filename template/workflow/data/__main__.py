"""`python -m workflow.data COMMAND`: the data commands (cli.py)."""

import sys

from workflow.data.cli import main

if __name__ == "__main__":
    sys.exit(main())
