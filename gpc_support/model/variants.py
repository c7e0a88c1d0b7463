"""The variant registry: every network of the study by name, label, parsed form and order.

One place for the variants: `check_channels` / `parse_variant` read any form
a user may give (None, 16, 'gpc16', 'base', 'gpc16-relu6', 'mobilenet-a0.5');
`variant_name` is the folder name, `variant_label` the report-style label,
`table_label` the label tables show for a run folder, `variant_sort_key` the
order of tables and figures (the five of the study first).  No Keras here.
"""

from __future__ import annotations

import dataclasses
import numbers
import re

__all__ = ["STUDY_VARIANTS", "REPORT_CHANNELS", "WIDTHS", "ABLATIONS", "Variant", "check_channels",
           "parse_variant", "variant_name", "variant_label", "table_label", "short_name",
           "variant_sort_key"]

# The five networks of the report's Table 6.1, in its order (folder names).
STUDY_VARIANTS = ("mobilenet", "gpc16", "gpc32", "gpc64", "gpc128")
# The channel settings of the report's Table 6.1.
REPORT_CHANNELS = (16, 32, 64, 128)
# The width multipliers of the fair baseline: MobileNet made thinner instead
# of grouped, the budget cut MobileNet itself offers.
WIDTHS = (0.25, 0.5, 0.75)


# Ablation variants: each changes ONE part of a network, so the
# comparison with its reference isolates that part.
ABLATIONS = {
    "mobilenet-swish": "MobileNet with swish after each pointwise BatchNorm (ReLU6 elsewhere)",
    "relu6": "the D6 block with ReLU6 instead of swish in K and L",
    "no-interleave": "the D6 block without the interleave: K -> L -> + K",
    "no-sum": "the D6 block without the sum: K -> interleave -> L, output L",
    "k-only": "the grouped convolution K alone: no interleave, no L",
    "k-interleave": "K and the interleave, no L and no sum: channels cross groups at "
                    "every block, as in ShuffleNet",
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """What `build_model` builds: the channels per group (None: dense
    pointwise layers) and the parts of the pointwise block."""

    channels: int | None
    activation: str = "swish"        # of the pointwise layers
    interleave: bool = True
    second_conv: bool = True         # L, where the block does not expand channels
    residual_sum: bool = True        # output L + K instead of L alone
    ablation: str | None = None
    alpha: float = 1.0               # width multiplier of the dense networks

    @property
    def family(self) -> str:
        """'mobilenet', 'mobilenet-swish' (dense, any width), 'gpc' or 'ablation'."""
        if self.channels is None:
            return "mobilenet" if self.activation == "relu6" else "mobilenet-swish"
        return "gpc" if self.ablation is None else "ablation"

    @property
    def name(self) -> str:
        if self.channels is None:
            return self.family + ("" if self.alpha == 1 else f"-a{self.alpha:g}")
        base = f"gpc{self.channels}"
        return base if self.ablation is None else f"{base}-{self.ablation}"

    @property
    def label(self) -> str:
        if self.channels is None:
            base = "MobileNet" if self.family == "mobilenet" else "MobileNet-swish"
            return base if self.alpha == 1 else f"{base} \u00d7{self.alpha:g}"
        base = f"gpcMobileNet {self.channels} Channels"
        return base if self.ablation is None else f"{base} ({self.ablation})"


_GPC_NAME = re.compile(r"gpc(\d+)(?:-(relu6|no-interleave|no-sum|k-only|k-interleave))?")
_DENSE_NAME = re.compile(r"(mobilenet|mobilenet-swish)(?:-a(\d*\.?\d+))?")


def _allowed() -> str:
    return ("None or 'mobilenet' (the MobileNet baseline), a positive integer number of "
            "channels per group such as 16, 32, 64 or 128, 'gpc<ch>', 'mobilenet-swish', "
            "a thinner MobileNet 'mobilenet-a<alpha>' / 'mobilenet-swish-a<alpha>' with "
            "0 < alpha <= 1 (such as 0.25, 0.5, 0.75), "
            "or 'gpc<ch>-relu6' / 'gpc<ch>-no-interleave' / 'gpc<ch>-no-sum' / "
            "'gpc<ch>-k-only' / 'gpc<ch>-k-interleave'")


def _dense_name(family: str, alpha_text: str | None, original):
    """Canonical name of a dense variant: None for the full-width MobileNet,
    'mobilenet-swish', or 'mobilenet-a0.5' / 'mobilenet-swish-a0.5'."""
    alpha = 1.0 if alpha_text is None else float(alpha_text)
    if not 0 < alpha <= 1 or int(32 * alpha) < 1:
        raise ValueError(f"channels must be {_allowed()}; got {original!r} "
                         f"(the width multiplier must be in (0, 1])")
    if alpha == 1:
        return None if family == "mobilenet" else family
    return f"{family}-a{alpha:g}"


def check_channels(channels):
    """Canonical form of a variant: None, a positive int, or an ablation name.

    None / 'mobilenet' / 'base' / 'mobilenet-a1' -> None; 16 or 'gpc16' -> 16;
    the other names ('mobilenet-swish', 'mobilenet-a0.50', 'gpc16-relu6', ...)
    -> their canonical name, lower case ('mobilenet-a0.5').
    Raises ValueError naming what is allowed otherwise.
    """
    if channels is None:
        return None
    if isinstance(channels, str):
        text = channels.strip().lower()
        if text in ("base", "baseline"):
            return None
        dense = _DENSE_NAME.fullmatch(text)
        if dense:
            return _dense_name(dense.group(1), dense.group(2), channels)
        match = _GPC_NAME.fullmatch(text)
        if match and int(match.group(1)) >= 1:
            return text if match.group(2) else int(match.group(1))
        raise ValueError(f"channels must be {_allowed()}; got {channels!r}")
    if (
        isinstance(channels, bool)
        or not isinstance(channels, numbers.Integral)
        or channels < 1
    ):
        raise ValueError(f"channels must be {_allowed()}; got {channels!r}")
    return int(channels)


def parse_variant(channels) -> Variant:
    """The `Variant` that `channels` (any form `check_channels` accepts) names."""
    channels = check_channels(channels)
    if channels is None:
        return Variant(None, activation="relu6")
    if isinstance(channels, int):
        return Variant(channels)
    dense = _DENSE_NAME.fullmatch(channels)
    if dense:
        alpha = 1.0 if dense.group(2) is None else float(dense.group(2))
        if dense.group(1) == "mobilenet":
            return Variant(None, activation="relu6", alpha=alpha)
        return Variant(None, activation="swish", ablation="mobilenet-swish", alpha=alpha)
    match = _GPC_NAME.fullmatch(channels)
    ch, part = int(match.group(1)), match.group(2)
    return {
        "relu6": Variant(ch, activation="relu6", ablation=part),
        "no-interleave": Variant(ch, interleave=False, ablation=part),
        "no-sum": Variant(ch, residual_sum=False, ablation=part),
        "k-only": Variant(ch, interleave=False, second_conv=False, ablation=part),
        "k-interleave": Variant(ch, second_conv=False, residual_sum=False, ablation=part),
    }[part]


def variant_name(channels) -> str:
    """Short file-system name of a variant: 'mobilenet', 'gpc16', 'gpc16-relu6'."""
    return parse_variant(channels).name


def variant_label(channels) -> str:
    """Report-style name: 'MobileNet', 'MobileNet \u00d70.5' or 'gpcMobileNet 16 Channels'."""
    return parse_variant(channels).label


_PLAIN_GPC = re.compile(r"^gpc(\d+)$")


def table_label(variant: str) -> str:
    """The label tables show for a run folder: 'MobileNet' for 'mobilenet',
    'gpcMobileNet 16 Channels' for 'gpc16'; any other name (an ablation such
    as 'gpc16-relu6', a thinner MobileNet) is its own label, short enough for
    a table column."""
    if variant == "mobilenet":
        return "MobileNet"
    match = _PLAIN_GPC.match(variant)
    return f"gpcMobileNet {match.group(1)} Channels" if match else variant


def short_name(variant: str) -> str:
    """'MobileNet' for the baseline, the folder name otherwise ('gpc16')."""
    return "MobileNet" if variant == "mobilenet" else variant


def variant_sort_key(variant: str):
    """The five of the study in order, then gpc<N> by N, then other names."""
    if variant in STUDY_VARIANTS:
        return (0, STUDY_VARIANTS.index(variant), "")
    match = _PLAIN_GPC.match(variant)
    return (1, int(match.group(1)), "") if match else (2, 0, variant)
