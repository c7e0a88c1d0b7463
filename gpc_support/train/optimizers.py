"""The optimizers a profile can name: Keras 3's RMSprop and the Keras 2.6 one.

Both keep `v = rho * v + (1 - rho) * g**2` per weight (v starts at 0) and
differ in where epsilon goes:

    "rmsprop-keras3"  keras.optimizers.RMSprop:  w -= lr * g / sqrt(v + eps)
    "rmsprop-keras2"  `RMSpropKeras2` below:     w -= lr * g / (sqrt(v) + eps)

The second is the update of Keras 2.6's `tf.keras.optimizers.RMSprop()` with
momentum 0 and centered=False (its non-momentum branch; rho 0.9 and epsilon
1e-7 by default), which the method authors trained with.  With eps = 1e-7
the two agree where a weight's RMS gradient sqrt(v) is well above
sqrt(eps) ~ 3.2e-4; at sqrt(v) = 1e-4 Keras 3 steps only
1e-4 / sqrt(1e-8 + 1e-7) ~ 0.30 times as far.

`RMSpropKeras2` is an ordinary Keras 3 optimizer (backend-neutral `ops`,
one "velocity" slot per weight, saved and restored with the model like any
other), registered for serialization as "gpc_study>RMSpropKeras2".
"""

from __future__ import annotations

import numbers

import keras
from keras import ops

from .profiles import OPTIMIZERS, Profile

__all__ = ["OPTIMIZERS", "RMSpropKeras2", "make_optimizer", "recorded_optimizer"]

# What runs recorded before the engine wrote the optimizer's name used: the
# profile field's default.
LEGACY_OPTIMIZER = Profile.optimizer


@keras.saving.register_keras_serializable(package="gpc_study", name="RMSpropKeras2")
class RMSpropKeras2(keras.optimizers.Optimizer):
    """RMSprop as Keras 2.6 computed it (momentum 0, not centered).

    Per weight w with gradient g:  v <- rho * v + (1 - rho) * g**2, then
    w <- w - lr * g / (sqrt(v) + epsilon).  The learning rate may be a float
    (held in a variable a callback can assign) or a schedule, as for any
    Keras optimizer.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, name="rmsprop_keras2",
                 **kwargs):
        for field, value, low in (("rho", rho, 0.0), ("epsilon", epsilon, 0.0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not value >= low:
                raise ValueError(f"{field} must be a number >= {low}, got {value!r}")
        if not rho < 1:
            raise ValueError(f"rho must be a number in [0, 1), got {rho!r}")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(velocity, ops.add(ops.multiply(self.rho, velocity),
                                      ops.multiply(1.0 - self.rho, ops.square(gradient))))
        # epsilon added to the root, not under it: the Keras 2.6 update
        denominator = ops.add(ops.sqrt(velocity), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(lr, gradient), denominator))

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config


def make_optimizer(name: str, learning_rate: float):
    """A fresh optimizer of the profile's `optimizer` name, at `learning_rate`."""
    if name == "rmsprop-keras3":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    if name == "rmsprop-keras2":
        return RMSpropKeras2(learning_rate=learning_rate)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def recorded_optimizer(record: dict) -> str:
    """The optimizer a run's config.json or metrics.json says it used.

    Runs recorded before the field existed trained with Keras 3's RMSprop
    (the only one the engine had), so a record without it means that one."""
    name = record.get("optimizer")
    if name is None:
        profile = record.get("profile")
        name = profile.get("optimizer") if isinstance(profile, dict) else None
    return LEGACY_OPTIMIZER if name is None else name
