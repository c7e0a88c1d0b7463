"""Training one variant: profiles, optimizers, the engine, resume, provenance, TensorBoard."""
