"""ironlb: an event-sourced network load balancer for bare-metal Kubernetes."""

from typing import Any


def __getattr__(name: str) -> Any:
    # Looked up lazily: importlib.metadata pulls in email and socket, which the pure
    # reconciler (ironlb.reconcile) must not load.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ironlb")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0+unknown"
    raise AttributeError(f"module 'ironlb' has no attribute {name!r}")
