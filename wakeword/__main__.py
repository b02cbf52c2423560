"""`python -m wakeword` runs the same CLI as the `wakeword` console script."""

from .cli import run

run()
