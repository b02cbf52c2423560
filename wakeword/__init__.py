"""wakeword: an on-device "stop" wake-word daemon for the Raspberry Pi."""

import os

# Before numpy is imported: the detector multiplies small matrices (a 257x40 filterbank, a
# few windows at a time), where OpenBLAS's worker threads only spin and burn CPU. Measured on
# a 2-core machine, one thread made the MFCC path 5x cheaper. A user's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
