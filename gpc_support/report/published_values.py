"""The numbers this study is compared with, each with its source.

- `REPORT_TABLE`: the course report's Table 6.1 (224x224 images, 50 epochs,
  a GPU), as printed; units: params and computation in millions, size in MiB
  (params x 4 bytes / 2**20, printed "MB"), percentages as printed.  The
  computation column is the report's "Computation (FLOPS)": for MobileNet the
  TensorFlow profiler's count / 2, for the gpc variants the same rule with
  every grouped convolution counted as zero (reconstructed to the digit by
  `gpc_support.model.counts.report_flops`; docs/method.md section 3).
- `AUTHORS_ACCURACY`: the method authors' own notebooks' test accuracy for
  the same five networks (docs/method.md section 4, right-hand column).
- `JPEG_NOTE`: what the JPEG copy of CIFAR-10 costs, as measured by
  scripts/verify_authors_weights.py into results/verification/authors_on_jpeg.json
  (tests/test_authors.py keeps the two in step).
"""

from __future__ import annotations

__all__ = ["REPORT_TABLE", "REPORT_IMAGE_SIZE", "REPORT_EPOCHS", "AUTHORS_ACCURACY",
           "JPEG_NOTE", "report_row_sentence"]

REPORT_IMAGE_SIZE = 224
REPORT_EPOCHS = 50

# Source: the report's Table 6.1 (docs/method.md sections 2-4 restate it).  None = "NA".
REPORT_TABLE: dict[str, dict] = {
    "mobilenet": dict(architecture="MobileNet", params_m=3.239, param_reduction_pct=None,
                      param_size_mb=12.36, computation_m=567.751,
                      computation_reduction_pct=None, test_accuracy_pct=92.35),
    "gpc16": dict(architecture="gpcMobileNet 16 Channels", params_m=0.274, param_reduction_pct=91.54,
                  param_size_mb=1.05, computation_m=32.122,
                  computation_reduction_pct=94.34, test_accuracy_pct=89.67),
    "gpc32": dict(architecture="gpcMobileNet 32 Channels", params_m=0.432, param_reduction_pct=86.66,
                  param_size_mb=1.65, computation_m=57.813,
                  computation_reduction_pct=89.81, test_accuracy_pct=90.82),
    "gpc64": dict(architecture="gpcMobileNet 64 Channels", params_m=0.748, param_reduction_pct=76.90,
                  param_size_mb=2.85, computation_m=83.503,
                  computation_reduction_pct=85.29, test_accuracy_pct=91.96),
    "gpc128": dict(architecture="gpcMobileNet 128 Channels", params_m=1.353, param_reduction_pct=58.22,
                   param_size_mb=5.16, computation_m=160.172,
                   computation_reduction_pct=71.78, test_accuracy_pct=92.69),
}

# Source: docs/method.md section 4, "method authors' notebooks" column (50 epochs, 224 px, PNG data).
AUTHORS_ACCURACY = {"mobilenet": 93.15, "gpc16": 89.81, "gpc32": 91.27, "gpc64": 92.08,
                    "gpc128": 93.02}

JPEG_NOTE = (
    "image folders (e.g. the JPEG copy of CIFAR-10): JPEG at quality 75 is lossy, while the "
    "method authors trained on lossless PNGs; on this copy the authors' own gpcMobileNet 16 and 32 "
    "score 78.2% and 79.3% (2,000 test images, standard error 0.9 pp; "
    "results/verification/authors_on_jpeg.json) against 89.81% and 91.27% on their PNGs, about "
    "12 points less, so absolute accuracies here are not comparable with the report's")


def report_row_sentence(variant: str) -> str:
    """The report's Table 6.1 row for `variant` in words ('' for a variant it does not have)."""
    row = REPORT_TABLE.get(variant)
    if row is None:
        return ""
    text = (f"The report's Table 6.1 gives {row['architecture']} {row['params_m']:.3f}M parameters"
            + (f" ({row['param_reduction_pct']:.2f}% fewer than MobileNet)"
               if row["param_reduction_pct"] is not None else "")
            + f", {row['computation_m']:.3f}M \"FLOPS\" and {row['test_accuracy_pct']:.2f}% test "
            f"accuracy after {REPORT_EPOCHS} epochs at {REPORT_IMAGE_SIZE}x{REPORT_IMAGE_SIZE} px")
    if variant in AUTHORS_ACCURACY:
        text += f" (the method authors' own notebooks: {AUTHORS_ACCURACY[variant]:.2f}%)"
    return text + "."
