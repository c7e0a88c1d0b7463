"""CIFAR-10: on-disk layouts, sources and cache, the split, input pipeline, augmentation, the embedded subset."""
