#!/bin/bash
# The long mode of the simulated power-loss test (ctest's interop.power_loss runs 300 cuts):
# N cut points over raw, qcow2 and lazy qcow2 images, qemu-img check after each.
# Usage: bench/block/power_loss.sh [BUILD_DIR] [N] [FIRST_SEED]
set -eu
BUILD=${1:-build}
N=${2:-3000}
SEED=${3:-100000}
exec "$BUILD/tests/interop/power_loss_torture" "$N" "$SEED" 2> >(grep -v '^Repairing\|^Rebuilding\|^ERROR cluster\|^Leaked' >&2)
