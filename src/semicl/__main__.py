"""``python -m semicl`` runs the command-line interface."""

from semicl.cli import main

raise SystemExit(main())
