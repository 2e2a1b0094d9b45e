"""``python -m ironlb``: the same entry point as the ``ironlb`` command."""

from .cli import main

raise SystemExit(main())
