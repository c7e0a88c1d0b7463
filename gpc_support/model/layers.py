"""Grouped pointwise convolutions (GPC) and the "D6" block, in `keras.ops` only.

The block (docs/method.md section 1) replaces a monolithic 1x1 convolution with
`C` inputs and `F` filters by

    K: grouped 1x1 convolution, N groups -> BatchNorm -> activation   (= k)
    interleave k (a fixed channel shuffle)                             (if F/N > 1)
    L: grouped 1x1 convolution, N groups -> BatchNorm -> activation   (if C >= F)
    output = L + k        (C >= F)      or      interleave(k)  (C < F)

where N is the largest divisor of both C and F with N <= C // ch.

Nothing here imports TensorFlow: the layers run under every Keras 3 backend.

Speed notes (TensorFlow, 2-core CPU; `benchmarks/bench_gpc.py` measures).
`keras.layers.Conv2D(groups=N)` trains about 10x slower than the dense
baseline here: TensorFlow's CPU gradient of a grouped convolution is slow.
Here the grouped convolution is one `einsum` over the pixels viewed as
(pixels, N, C/N) with a kernel stored as (N, C/N, F/N); storing the kernel in
that layout (instead of Conv2D's (1, 1, C/N, F)) saves a transpose per call.
With two groups the layer instead multiplies by the block-diagonal dense
kernel (twice the multiply-accumulates of that layer, no transposes): faster
for gpcMobileNet 16's first block at 112x112.  Measured alternatives: the
same einsum with a Conv2D-layout kernel; explicit transposes + batched
`matmul` (faster alone, slower inside the model); the block-diagonal kernel
for N up to 8 (slower); `ops.conv` with a grouped kernel (as slow as
Conv2D(groups=N)).  The kernel is initialised from
Conv2D(groups=N)'s layout, so it has the same distribution as the method
authors' layers, and `conv2d_kernel_to_grouped` / `grouped_kernel_to_conv2d`
move weights between the two forms.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from ..common.checks import positive_int

__all__ = [
    "group_count",
    "GroupedPointwiseConv2D",
    "ChannelInterleave",
    "interleave_permutation",
    "conv2d_kernel_to_grouped",
    "grouped_kernel_to_conv2d",
    "gpc_block",
    "gpc_block_plan",
]

_PACKAGE = "gpc_support"


def group_count(channels_in: int, filters: int, channels_per_group: int) -> int:
    """Number of groups N of a GPC block (docs/method.md section 1, rule 1).

    The largest integer `N <= channels_in // channels_per_group` that divides
    both `channels_in` and `filters`; at least 1.

    >>> group_count(512, 512, 16)
    32
    >>> group_count(96, 160, 16)
    4
    """
    channels_in = positive_int("channels_in", channels_in)
    filters = positive_int("filters", filters)
    channels_per_group = positive_int("channels_per_group", channels_per_group)
    n = channels_in // channels_per_group
    while n > 1 and (channels_in % n or filters % n):
        n -= 1
    return max(n, 1)


def interleave_permutation(channels: int, groups: int) -> list[int]:
    """Source channel of every output channel of the interleave.

    Output channel `j*N + i` is input channel `i*S + j`, with `S = channels/N`
    (docs/method.md section 1).  Returned as a list `p` with `out[..., m] = in[..., p[m]]`.
    """
    channels = positive_int("channels", channels)
    groups = positive_int("groups", groups)
    if channels % groups:
        raise ValueError(
            f"channels ({channels}) must be divisible by groups ({groups})"
        )
    step = channels // groups
    return [(m % groups) * step + m // groups for m in range(channels)]


# Up to this many groups the grouped convolution runs as one dense matmul with
# a block-diagonal kernel (measured faster on the CPU than the einsum for N=2).
DENSE_MAX_GROUPS = 2


def conv2d_kernel_to_grouped(kernel, groups: int):
    """A `Conv2D(kernel_size=1, groups=N)` kernel (1, 1, C/N, F) -> (N, C/N, F/N)."""
    _, _, c, filters = kernel.shape
    return ops.transpose(ops.reshape(kernel, (c, groups, filters // groups)), (1, 0, 2))


def grouped_kernel_to_conv2d(kernel, groups: int):
    """The inverse of `conv2d_kernel_to_grouped`: (N, C/N, F/N) -> (1, 1, C/N, F)."""
    n, c, f = kernel.shape
    return ops.reshape(ops.transpose(kernel, (1, 0, 2)), (1, 1, c, n * f))


def _output_shape(inputs, channels):
    """Shape for reshaping back to `inputs`' shape with `channels` channels.

    Static sizes where they are known (fewer graph ops), the batch as -1.
    """
    inner = tuple(inputs.shape[1:-1])
    if all(isinstance(d, int) for d in inner):
        return (-1,) + inner + (channels,)
    dynamic = ops.shape(inputs)
    return tuple(dynamic[:-1]) + (channels,)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GroupedPointwiseConv2D(layers.Layer):
    """A 1x1 convolution split into `groups` independent groups, no bias.

    Group `g` reads input channels `[g*C/N, (g+1)*C/N)` and writes output
    channels `[g*F/N, (g+1)*F/N)`: the same function as
    `keras.layers.Conv2D(filters, 1, groups=groups, use_bias=False)`, and the
    same kernel shape `(1, 1, C/N, F)`, computed as one batched matrix
    product over the groups instead.  Parameters: `F * C / N`.

    Works on any input of rank >= 2 whose last axis holds the channels.
    """

    def __init__(
        self,
        filters: int,
        groups: int,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = positive_int("filters", filters)
        self.groups = positive_int("groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"filters ({self.filters}) must be divisible by groups ({self.groups})"
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis must be known")
        if channels % self.groups:
            raise ValueError(
                f"{self.name}: input channels ({channels}) must be divisible "
                f"by groups ({self.groups})"
            )
        self.channels_in = int(channels)
        n = self.groups
        c = self.channels_in // n
        f = self.filters // n
        conv_initializer = self.kernel_initializer

        def initializer(shape, dtype=None):
            # Draw in Conv2D(groups=N)'s layout, so fan-in and fan-out (and
            # so the distribution) are those of the Conv2D(groups=N) form.
            return conv2d_kernel_to_grouped(
                conv_initializer((1, 1, c, self.filters), dtype=dtype), n
            )

        self.kernel = self.add_weight(
            name="kernel",
            shape=(n, c, f),
            initializer=initializer,
            regularizer=self.kernel_regularizer,
        )

    def call(self, inputs):
        n = self.groups
        c = self.channels_in // n
        if n <= DENSE_MAX_GROUPS:
            # Two groups: one dense matmul with the block-diagonal kernel does
            # twice the multiply-accumulates but no transposes, which is
            # faster (gpcMobileNet 16's first block at 112x112: inference
            # 1.9x -> see benchmarks/bench_gpc.py).
            eye = ops.eye(n, dtype=self.kernel.dtype)
            full = ops.einsum("ncf,nm->ncmf", self.kernel, eye)
            full = ops.reshape(full, (self.channels_in, self.filters))
            return ops.matmul(inputs, full)
        grouped = ops.reshape(inputs, (-1, n, c))
        out = ops.einsum("mnc,ncf->mnf", grouped, self.kernel)
        return ops.reshape(out, _output_shape(inputs, self.filters))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            groups=self.groups,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChannelInterleave(layers.Layer):
    """The GPC channel interleave: output channel `j*N + i` = input `i*S + j`.

    `S = C / N`.  Equal to concatenating `x[..., 0::S], x[..., 1::S], ...,
    x[..., S-1::S]`; here it is one reshape -> transpose -> reshape.  A fixed
    permutation with no weights.
    """

    def __init__(self, groups: int, **kwargs):
        super().__init__(**kwargs)
        self.groups = positive_int("groups", groups)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(
                f"{self.name}: input channels ({channels}) must be divisible "
                f"by groups ({self.groups})"
            )
        self.channels = int(channels)

    def call(self, inputs):
        n = self.groups
        s = self.channels // n
        x = ops.transpose(ops.reshape(inputs, (-1, n, s)), (0, 2, 1))
        return ops.reshape(x, _output_shape(inputs, self.channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups)
        return config


def gpc_block_plan(channels_in: int, filters: int, channels_per_group: int,
                   interleave: bool = True, second_conv: bool = True) -> dict:
    """What a D6 block with these sizes contains, without building it.

    Returns a dict with `groups` (N), `interleave` (bool), `second_conv`
    (bool: L present) and `params` (convolution weights + BatchNorm weights,
    total).  `interleave=False` / `second_conv=False` describe the ablation
    blocks without them (see `gpc_block`).
    """
    n = group_count(channels_in, filters, channels_per_group)
    if n == 1:
        return dict(groups=1, interleave=False, second_conv=False,
                    params=channels_in * filters + 4 * filters)
    second = channels_in >= filters and second_conv
    conv = filters * channels_in // n
    params = conv + 4 * filters
    if second:
        params += filters * filters // n + 4 * filters
    return dict(groups=n, interleave=interleave and filters // n > 1, second_conv=second,
                params=params)


def gpc_block(
    x,
    filters: int,
    channels_per_group: int,
    activation="swish",
    name: str = "gpc",
    interleave: bool = True,
    second_conv: bool = True,
    residual_sum: bool = True,
):
    """Apply the D6 block to the Keras tensor `x` and return its output.

    `interleave`, `second_conv` and `residual_sum` switch parts of the block
    off for the ablation variants (all True: the block as the method defines
    it): without the interleave L reads K's output as it is; without L the
    block is K alone; without the sum the output is L alone.

    Layers are named `{name}_K`, `{name}_K_bn`, `{name}_K_act`,
    `{name}_interleave`, `{name}_L`, `{name}_L_bn`, `{name}_L_act`,
    `{name}_add`; when the rule gives one group the block is a plain
    `{name}` 1x1 convolution -> `{name}_bn` -> `{name}_act`.
    """
    filters = positive_int("filters", filters)
    channels_per_group = positive_int("channels_per_group", channels_per_group)
    channels_in = x.shape[-1]
    n = group_count(channels_in, filters, channels_per_group)
    if n == 1:
        y = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=name)(x)
        y = layers.BatchNormalization(name=f"{name}_bn")(y)
        return layers.Activation(activation, name=f"{name}_act")(y)

    k = GroupedPointwiseConv2D(filters, n, name=f"{name}_K")(x)
    k = layers.BatchNormalization(name=f"{name}_K_bn")(k)
    k = layers.Activation(activation, name=f"{name}_K_act")(k)
    shuffled = k
    if interleave and filters // n > 1:
        shuffled = ChannelInterleave(n, name=f"{name}_interleave")(k)
    if channels_in < filters or not second_conv:
        return shuffled
    y = GroupedPointwiseConv2D(filters, n, name=f"{name}_L")(shuffled)
    y = layers.BatchNormalization(name=f"{name}_L_bn")(y)
    y = layers.Activation(activation, name=f"{name}_L_act")(y)
    if not residual_sum:
        return y
    return layers.Add(name=f"{name}_add")([y, k])
