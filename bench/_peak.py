"""Run a Python script as `__main__` and write its own peak RSS (VmHWM, in kB) to a file at exit.

    python bench/_peak.py OUT_FILE SCRIPT [ARGS...]

Why not wait4's ru_maxrss: Linux carries a process's maxrss across fork and exec, so a child's ru_maxrss is
at least its parent's RSS at the time it was started (a bench holding its export in memory would be
measured instead of the writer). VmHWM belongs to the process's own address space, which exec replaces.
"""

from __future__ import annotations

import atexit
import runpy
import sys


def _write_peak(path: str) -> None:
    with open("/proc/self/status") as status:
        peak = next((line.split()[1] for line in status if line.startswith("VmHWM:")), "0")
    with open(path, "w") as out:
        out.write(peak)


if __name__ == "__main__":
    out_file, script, *args = sys.argv[1:]
    atexit.register(_write_peak, out_file)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")
