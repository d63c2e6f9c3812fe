"""``python -m areion_core``: the same as the ``areion`` command."""

from .cli import main

raise SystemExit(main())
