"""What a process costs, for tests and benchmarks: its CPU time, and the peak memory of the
wakeword command line measured in a child process.

For the peak, ru_maxrss is no use here: Linux keeps it across execve, so a child forked from a large process
would report the parent's peak, not its own. VmHWM belongs to the address space, which execve
replaces; the child prints it at exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import atexit, runpy, sys
def report():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            sys.stderr.write('VMHWM_KB ' + line.split()[1] + '\\n')
atexit.register(report)
sys.argv = ['wakeword'] + sys.argv[1:]
runpy.run_module('wakeword', run_name='__main__')
"""


def run_measured(args, python: str = sys.executable, **kwargs) -> tuple[float | None, subprocess.CompletedProcess]:
    """Run `wakeword ARGS` by `python`, from the checkout; (its peak RSS in MB or None, the result)."""
    kwargs.setdefault("cwd", ROOT)
    r = subprocess.run([python, "-c", _CHILD, *map(str, args)], capture_output=True, text=True, **kwargs)
    kb = [int(line.split()[1]) for line in r.stderr.splitlines() if line.startswith("VMHWM_KB")]
    return (kb[-1] / 1024.0 if kb else None), r


def cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds: fields 14 and 15 of /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
