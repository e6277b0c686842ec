#!/usr/bin/env bash
# Installs the Debian 12 packages qfluct needs (run as root; a no-op when all are present).
set -euo pipefail
# Open MPI (libopenmpi-dev, openmpi-bin): the CLI's mpirun support and its tests (QFLUCT_ENABLE_MPI).
# pybind11 (pybind11-dev, python3-pybind11, python3-dev): the Python module qfluct and its tests;
# QuTiP (python3-qutip): the example examples/fig2.py compares with its mesolve; nbconvert
# (jupyter-nbconvert, python3-ipykernel) executes it as the notebook examples/fig2.ipynb.
packages=(build-essential cmake libeigen3-dev libboost-random-dev libfmt-dev catch2 libcli11-dev
          libtomlplusplus-dev nlohmann-json3-dev libssl-dev python3 python3-numpy python3-matplotlib
          libopenmpi-dev openmpi-bin pybind11-dev python3-pybind11 python3-dev python3-qutip
          jupyter-nbconvert python3-ipykernel)
# Optional extras for the QuTiP/PIQS benchmarks (scipy, GNU time); installed with QFLUCT_WITH_QUTIP=1.
if [ "${QFLUCT_WITH_QUTIP:-0}" = 1 ]; then packages+=(python3-scipy time); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
