"""`python -m wakeword` runs the same CLI as the `wakeword` console script."""

import sys

from .cli import main

sys.exit(main())
