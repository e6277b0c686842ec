"""Reading qfluct's CSV outputs in the study plot scripts (shared by plot_*.py)."""
import glob
import os
import re

import numpy as np


def load(path):
    """A qfluct CSV as a numpy record array (columns by name: data["tau_z"])."""
    return np.genfromtxt(path, delimiter=",", names=True)


def runs(directory, prefix):
    """{N: data} for the files PREFIX_N<N>.csv in directory, sorted by N."""
    found = {}
    for f in glob.glob(os.path.join(directory, f"{prefix}_N*.csv")):
        found[int(re.search(r"_N(\d+)\.csv$", f).group(1))] = load(f)
    return dict(sorted(found.items()))
