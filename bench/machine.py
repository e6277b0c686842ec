"""The machine line every benchmark prints: CPU model, processors, load, library versions."""
import os
import platform
import subprocess


def cpu_model():
    """The CPU model from lscpu ("?" where it is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor() or "?"
    return next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), "?")


def describe(threads):
    """CPU, processors, load at the start, Python/NumPy/SciPy/QuTiP versions, and `threads` (how
    each solver was limited)."""
    import numpy as np
    import qutip
    import scipy
    return (f"{cpu_model()}, nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
            f"QuTiP {qutip.__version__}; {threads}")
