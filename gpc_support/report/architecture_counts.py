"""Computation counts of the study's networks, built with Keras (for the summary).

- `architecture_counts(image_size)`: parameters, multiply-accumulates
  (`metrics.count_macs`) and the report's "Computation (FLOPS)" rule
  (`metrics.report_flops`: grouped convolutions counted as zero, plus swish
  elements, half the pool and 30) for MobileNet and gpcMobileNet 16/32/64/128;
  at 224x224 the rule gives the report's Table 6.1 figures to the digit;
- `fill_report_flops(results)`: adds `report_flops` to the metrics of runs
  whose metrics.json does not record it, computed for their variant at
  their image size.

Only the MobileNet baseline and plain gpc<N> variants are built here; other
variant names (ablations) keep whatever their metrics.json records.
"""

from __future__ import annotations

import functools
import re

from .results import runs_phrase

__all__ = ["channels_of", "architecture_counts", "fill_report_flops"]

_GPC_RE = re.compile(r"^gpc(\d+)$")


def channels_of(variant: str):
    """None for 'mobilenet', N for 'gpc<N>'; ValueError for any other name."""
    if variant == "mobilenet":
        return None
    match = _GPC_RE.match(variant)
    if not match:
        raise ValueError(f"variant must be 'mobilenet' or 'gpc<N>' to be built here, got {variant!r}")
    return int(match.group(1))


@functools.lru_cache(maxsize=None)
def _counts(variant: str, image_size: int) -> tuple[int, int, int]:
    from ..model.counts import count_macs, count_params, report_flops
    from ..model.networks import build_model

    model = build_model(channels_of(variant), input_shape=(image_size, image_size, 3))
    return count_params(model)[0], count_macs(model), report_flops(model)


def architecture_counts(image_size: int = 224,
                        variants=("mobilenet", "gpc16", "gpc32", "gpc64", "gpc128")) -> dict:
    """`{variant: {"params_total", "macs", "report_flops"}}` for one image of `image_size` px."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 32:
        raise ValueError(f"image_size must be an integer >= 32, got {image_size!r}")
    out = {}
    for variant in variants:
        params, macs, rule = _counts(variant, image_size)
        out[variant] = {"params_total": params, "macs": macs, "report_flops": rule}
    return out


def fill_report_flops(results) -> list[str]:
    """Set `metrics["report_flops"]` where a complete run lacks it; return notes.

    The figure is computed for the corrected networks (ReLU6 outside the D6
    blocks), which is what the report's rule describes; runs made before the
    fidelity fix had swish everywhere, which the rule would count more of.
    """
    filled, skipped = [], []
    for runs in results.values():
        for run in runs:
            m = run.metrics
            if m is None or m.get("report_flops") is not None:
                continue
            try:
                channels_of(run.variant)
            except ValueError:
                skipped.append(run)
                continue
            if run.image_size is None:
                skipped.append(run)
                continue
            m["report_flops"] = _counts(run.variant, run.image_size)[2]
            filled.append(run)
    notes = []
    if filled:
        notes.append("The report-rule computation of " + runs_phrase(filled) + " was computed "
                     "here from the variant's architecture (the corrected network at the run's "
                     "image size; metrics.json does not record it).")
    if skipped:
        notes.append("No report-rule computation for " + runs_phrase(skipped) + " (not a plain "
                     "MobileNet / gpc<N> network, or no image size recorded).")
    return notes
