"""`python -m gpc_support.summary_notebook RESULTS`, the old name: runs `gpc_support.run.summary_notebook`."""

import sys

from gpc_support.run.summary_notebook import build_summary, main, render_html  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
