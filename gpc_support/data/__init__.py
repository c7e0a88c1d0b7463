"""CIFAR-10: sources and cache, the split, the input pipeline, augmentation, the embedded subset."""
