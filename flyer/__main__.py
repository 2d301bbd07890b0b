"""``python -m flyer``: the CLI."""
from flyer.cli import main

main()
