"""`python -m gpc_support.batch`, the old name of the command line: runs `gpc_support.run.cli`."""

import sys

from gpc_support.run.cli import main
from gpc_support.run.stopping import install_stop_handlers

if __name__ == "__main__":
    install_stop_handlers()  # as `python -m gpc_support.run.cli` does
    sys.exit(main())
