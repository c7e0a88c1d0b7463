"""Exit 0 if this Python has the packages pinned in a requirements file.

    python scripts/check_requirements.py [requirements.txt ...]

Only reads package metadata (nothing is imported), so it is quick. TensorFlow
counts as present as `tensorflow-cpu` or as `tensorflow` (the GPU build) at
the pinned version.
"""

import re
import sys
from importlib import metadata
from pathlib import Path

ALIASES = {"tensorflow-cpu": ("tensorflow-cpu", "tensorflow")}


def pins(path: Path):
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            yield from pins(path.parent / line[3:].strip())
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(==|<|>=|<=)?\s*([^\s;]*)", line)
        if m:
            yield m.group(1).lower(), m.group(2), m.group(3)


def installed(name):
    for candidate in ALIASES.get(name, (name,)):
        try:
            return metadata.version(candidate)
        except metadata.PackageNotFoundError:
            continue
    return None


def main(argv):
    files = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent / "requirements.txt"]
    missing = []
    for f in files:
        for name, op, version in pins(f):
            have = installed(name)
            if have is None or (op == "==" and have != version):
                missing.append(f"{name}{op or ''}{version} (have {have or 'none'})")
    if missing:
        print("missing or different: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
