"""``python -m nestedsystems``: the command line."""

from .cli import main

raise SystemExit(main())
