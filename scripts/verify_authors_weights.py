#!/usr/bin/env python3
"""Check `build_model` against the method authors' trained gpcMobileNet files.

    .venv/bin/python scripts/verify_authors_weights.py --data-dir <CIFAR-10 image folders> \
        ../shared/authors/*.hdf5

For each file: rebuild the authors' network from the file's own description,
load the same weights into `gpc_support.model.networks.build_model`, run both on the
same real test images (nearest-resized to 224, scaled to [0, 1]) and print
how far their softmax outputs are apart, how often their argmax agrees, and
each one's accuracy.  With the right wiring they agree to float32 rounding.
Exit status 1 when a file's outputs differ by more than --tolerance.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="the authors' *-best_result.hdf5 files")
    parser.add_argument("--data-dir", required=True,
                        help="CIFAR-10 as image folders (test/<class>/*.png or *.jpg)")
    parser.add_argument("--images", type=int, default=500,
                        help="test images to compare on, balanced over classes (default 500)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest allowed |softmax difference| (default 1e-4)")
    parser.add_argument("--out", default=None,
                        help="also write the results as JSON to this file (e.g. "
                             "results/verification/authors_on_jpeg.json)")
    args = parser.parse_args(argv)

    from gpc_support.train.authors_weights import AuthorsFileError, compare_outputs, load_test_images
    from gpc_support.data.split import DataError

    try:
        images, labels = load_test_images(args.data_dir, args.images)
    except (DataError, ValueError) as err:
        parser.error(str(err))
    worst, results = 0.0, []
    for path in args.files:
        try:
            r = compare_outputs(path, images, labels)
        except AuthorsFileError as err:
            print(f"{Path(path).name}: {err}", file=sys.stderr)
            return 2
        worst = max(worst, r["max_abs_diff"])
        results.append(r)
        print(f"{r['file']}: gpcMobileNet {r['channels']} ch, {r['images']} test images: "
              f"max |softmax difference| {r['max_abs_diff']:.2e}, argmax agrees on "
              f"{100 * r['argmax_agreement']:.1f}%, accuracy authors' graph "
              f"{100 * r['authors_accuracy']:.1f}% / build_model {100 * r['build_model_accuracy']:.1f}%",
              flush=True)
    if args.out:
        write_record(Path(args.out), results, images, labels)
        print(f"written: {args.out}")
    return 0 if worst <= args.tolerance else 1


def write_record(out: Path, results: list[dict], images, labels) -> None:
    """The comparison as JSON, with each accuracy's binomial standard error and
    the SHA-256 of the images and labels compared on (no path of this machine)."""
    import datetime
    import hashlib

    from gpc_support.common.atomic_files import atomic_write_json

    for r in results:
        for key in ("authors_accuracy", "build_model_accuracy"):
            if key in r:
                p, n = r[key], r["images"]
                r[key.replace("accuracy", "standard_error")] = (p * (1 - p) / n) ** 0.5
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, {
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "scripts/verify_authors_weights.py --images N --data-dir <folder> FILES --out FILE",
        "data": "CIFAR-10 test image folders: the first N/10 files of each class in name "
                "order, nearest-resized to 224 px",
        "images_sha256": hashlib.sha256(images.tobytes() + labels.astype("int64").tobytes()).hexdigest(),
        "results": results,
    })


if __name__ == "__main__":
    sys.exit(main())
