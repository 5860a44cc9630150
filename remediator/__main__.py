"""``python -m remediator`` runs the CLI."""

from .cli import main

main()
