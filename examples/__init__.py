"""The bundled example cluster, shipped inside the package so ``ironlb plan`` has a default."""

from importlib.resources import files
from pathlib import Path


def example_path(name: str = "cluster.yaml") -> Path:
    """Filesystem path of a bundled example manifest."""
    return Path(str(files(__name__) / name))
