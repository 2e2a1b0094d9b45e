"""ironlb: an event-sourced network load balancer for bare-metal Kubernetes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ironlb")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
