#!/bin/bash
# Crash-consistency torture (issue 4 item 6): a writer doing random-size writes with periodic
# flushes on a lazy-refcounts and a plain image is SIGKILLed at random points N times. After
# each kill: a read/write open (auto-repair), every write acknowledged by a completed flush
# reads back, and qemu-img check reports no errors. Leaked clusters are allowed and counted
# (then repaired with -r leaks): refcounts become durable before the L2/L1 entries that use
# them (QEMU's order, needed for power-loss safety), so a kill between the two leaks, in QEMU
# as in corvid. Leaks waste space; they never lose data.
# Usage: crash_torture.sh BLKDRV [N]
set -u
B=$(realpath "$1")
N=${2:-200}
V=$(dirname "$(realpath "$0")")/verify_torture.py
T=$(mktemp -d /tmp/corvid-torture.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
SPAN=$((8 << 20))
for kind in lazy plain; do
  $B create qcow2 $kind.qcow2 $SPAN cluster_size=4096,lazy_refcounts=$([ $kind = lazy ] && echo on || echo off)
  qemu-img convert -O raw $kind.qcow2 $kind.base
done
verified=0
leaks=0
leaky=0
for i in $(seq 1 "$N"); do
  kind=$([ $((i % 2)) = 0 ] && echo lazy || echo plain)
  : > log
  $B $kind.qcow2 torture log $i $SPAN >/dev/null 2>&1 &
  pid=$!
  sleep 0.0$((RANDOM % 9 + 1))
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  # Reopen read/write: repairs a dirty image before anything else.
  $B $kind.qcow2 flush >/dev/null 2>repair.err || { echo "FAIL: reopen after kill $i"; cat repair.err; exit 1; }
  qemu-img check -q $kind.qcow2; rc=$?
  if [ $rc = 3 ]; then
    leaks=$((leaks + $(qemu-img check --output=json $kind.qcow2 | sed -n 's/.*"leaks": \([0-9]*\).*/\1/p')))
    leaky=$((leaky + 1))
    qemu-img check -q -r leaks $kind.qcow2 || { echo "FAIL: leak repair after kill $i ($kind)"; exit 1; }
  elif [ $rc != 0 ]; then
    echo "FAIL: qemu-img check after kill $i ($kind)"; qemu-img check $kind.qcow2; exit 1
  fi
  qemu-img convert -O raw $kind.qcow2 dump.raw
  n=$(python3 "$V" log $kind.base dump.raw) || { echo "FAIL: data after kill $i ($kind): $n"; exit 1; }
  verified=$((verified + n))
  mv dump.raw $kind.base
done
echo "crash torture: $N kills, $verified flushed writes verified, no check errors; $leaky kills left leaks ($leaks clusters)"
