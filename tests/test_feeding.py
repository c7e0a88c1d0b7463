"""The backend-neutral feeder and the per-epoch random state of the model."""

import numpy as np
import pytest

from gpc_support.data.input_pipeline import make_dataset
from gpc_support.data.array_feeder import ArrayFeeder, epoch_order


def numbered(n):
    x = np.zeros((n, 32, 32, 3), np.uint8)
    x[:, 0, 0, 0] = np.arange(n)  # image id
    return x, np.arange(n) % 10


def ids_of(feeder):
    return np.concatenate([b[0][:, 0, 0, 0] for b in feeder])


def test_evaluation_order_types_and_last_batch():
    x, y = numbered(20)
    feeder = make_dataset(x, y, 8, training=False)
    batches = list(feeder)
    assert len(feeder) == 3 and [len(b[0]) for b in batches] == [8, 8, 4]
    assert batches[0][0].dtype == np.uint8 and batches[0][1].dtype == np.float32
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]),
                                  np.eye(10, dtype=np.float32)[y])
    with pytest.raises(IndexError):
        feeder[3]


def test_training_order_is_a_function_of_seed_and_epoch():
    x, y = numbered(50)
    feeder = make_dataset(x, y, 16, training=True, seed=3)
    seen = {}
    for epoch in (0, 1, 5):
        feeder.set_epoch(epoch)
        batches = list(feeder)
        assert [len(b[0]) for b in batches] == [16, 16, 16, 2]
        ids = ids_of(feeder)
        labels = np.concatenate([b[1].argmax(1) for b in batches])
        np.testing.assert_array_equal(labels, ids % 10)  # pairs stay together
        # exactly numpy's permutation of (seed, epoch): the documented contract
        np.testing.assert_array_equal(ids, np.random.default_rng([3, epoch]).permutation(50))
        seen[epoch] = ids
    assert not np.array_equal(seen[0], seen[1]) and sorted(seen[0]) == list(range(50))
    # a new feeder (a resumed run) set to epoch 5 sees epoch 5's order, whatever came before
    again = ArrayFeeder(x, y, 16, shuffle=True, seed=3)
    again.set_epoch(5)
    np.testing.assert_array_equal(ids_of(again), seen[5])
    other_seed = ArrayFeeder(x, y, 16, shuffle=True, seed=4)
    other_seed.set_epoch(5)
    assert not np.array_equal(ids_of(other_seed), seen[5])
    np.testing.assert_array_equal(epoch_order(50, 3, 1), seen[1])


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, None, "8"])
def test_bad_batch_size(batch_size):
    x = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(x, np.zeros(4, int), batch_size, training=False)


def test_bad_arrays_are_named():
    with pytest.raises(ValueError, match="uint8"):
        ArrayFeeder(np.zeros((4, 32, 32, 3), np.float32), np.zeros(4, int), 2, shuffle=False)
    with pytest.raises(ValueError, match="labels"):
        ArrayFeeder(np.zeros((4, 32, 32, 3), np.uint8), np.zeros(3, int), 2, shuffle=False)
    with pytest.raises(ValueError, match="0..9"):
        ArrayFeeder(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 10]), 2, shuffle=False)
    with pytest.raises(ValueError, match="epoch"):
        ArrayFeeder(np.zeros((2, 32, 32, 3), np.uint8), np.zeros(2, int), 2, shuffle=True).set_epoch(-1)


def test_model_fit_takes_the_feeder_in_its_epoch_order():
    """Model.fit reads the batches in the order the feeder gives for the epoch set."""
    import keras

    x, y = numbered(24)
    feeder = ArrayFeeder(x, y, 8, shuffle=True, seed=1)
    seen = []

    class Spy(keras.layers.Layer):
        def call(self, inputs):
            return inputs

    inputs = keras.Input((32, 32, 3), dtype="uint8")
    h = keras.layers.Lambda(lambda t: keras.ops.cast(t, "float32"))(inputs)
    h = keras.layers.GlobalAveragePooling2D()(Spy()(h))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
    model.compile("sgd", "categorical_crossentropy", run_eagerly=True)

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            feeder.set_epoch(epoch)

        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    orig = feeder.__class__.__getitem__
    taken = []

    def spy_getitem(self, index):
        item = orig(self, index)
        taken.append((self.epoch, item[0][:, 0, 0, 0].copy()))
        return item

    feeder.__class__.__getitem__ = spy_getitem
    try:
        model.fit(feeder, epochs=3, initial_epoch=1, shuffle=False, verbose=0, callbacks=[Record()])
    finally:
        feeder.__class__.__getitem__ = orig
    for epoch in (1, 2):
        ids = np.concatenate([b for e, b in taken if e == epoch][-3:])
        np.testing.assert_array_equal(ids, np.random.default_rng([1, epoch]).permutation(24))


def test_every_seed_generator_is_found_and_reseeded_per_epoch():
    """Augmentation and dropout draws depend on (seed, epoch) only, not on what
    ran before: a .keras checkpoint does not restore SeedGenerator states."""
    import keras

    from gpc_support.train.profiles import get_profile
    from gpc_support.train.engine import build_training_model, reseed_generators, seed_generators

    model, network = build_training_model(16, get_profile("smoke"), seed=0)
    generators = seed_generators(model)
    owners = {type(layer).__name__ for layer in model._flatten_layers()
              if getattr(layer, "_seed_generators", None)}
    assert len(generators) >= 2 and "Dropout" in owners  # augmentation + dropout
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    preprocess = model.layers[-2]

    def draws(epoch, warmup=0):
        for _ in range(warmup):  # consume random numbers, like an interrupted epoch
            preprocess(x, training=True)
            model(x, training=True)
        reseed_generators(model, 7, epoch)
        return np.asarray(preprocess(x, training=True)), np.asarray(model(x, training=True))

    first = draws(3)
    again = draws(3, warmup=2)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    other = draws(4)
    assert not np.array_equal(first[0], other[0])
    states = [np.asarray(g.state.value) for g in generators]
    reseed_generators(model, 7, 4)
    assert len({tuple(s) for s in (np.asarray(g.state.value) for g in generators)}) == len(generators)
    assert any(not np.array_equal(s, np.asarray(g.state.value)) for s, g in zip(states, generators))
    # a generator held directly as an attribute of a custom layer is found too
    class Noisy(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.rng_for_noise = keras.random.SeedGenerator(5)

        def call(self, t):
            return t + keras.random.normal(keras.ops.shape(t), seed=self.rng_for_noise)

    inputs = keras.Input((3,))
    custom = keras.Model(inputs, Noisy()(inputs))
    assert len(seed_generators(custom)) == 1
