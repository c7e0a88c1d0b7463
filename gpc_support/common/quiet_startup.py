"""Keep TensorFlow's native start-up lines out of notebook cells.

TensorFlow's C++ runtime writes a few lines straight to file descriptor 2
when it loads ("All log messages before absl::InitializeLog() ...", the
oneDNN notice), before any Python logging setting applies; a notebook
kernel shows them as red text in the first cell.  `quiet_native_stderr()`
sends file descriptor 2 to a temporary file while TensorFlow loads, then
drops the known start-up lines and writes anything else back to stderr, so a
real error stays visible.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

__all__ = ["STARTUP_NOISE", "quiet_native_stderr", "is_startup_noise"]

STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]0000 \S+ +\d+ \S+\] "  # absl log lines (oneDNN notice, CUDA probing)
    r"|To enable the following instructions:"
    r"|.*oneDNN custom operations are on)")


def is_startup_noise(line: str) -> bool:
    """True for a line TensorFlow's runtime prints on loading."""
    return bool(STARTUP_NOISE.match(line))


@contextlib.contextmanager
def quiet_native_stderr():
    """Capture file descriptor 2 in the block; re-emit what is not start-up noise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if line.strip() and not is_startup_noise(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)
