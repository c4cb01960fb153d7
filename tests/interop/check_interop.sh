#!/bin/bash
# qemu-img check vs corvid's check on images with injected inconsistencies: the diagnostics,
# the counts and (after -r leaks / -r all) the repaired files must be identical.
# Usage: check_interop.sh BLKDRV
set -u
B=$(realpath "$1")
P=$(dirname "$(realpath "$0")")/poke.py
T=$(mktemp -d /tmp/corvid-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A 64 KiB-cluster image: header 0, reftable 0x10000, refblock 0x20000, L1 0x30000,
# L2 0x40000, data 0x50000 and 0x60000.
base() {
  rm -f b.qcow2
  qemu-img create -q -f qcow2 "$@" b.qcow2 128M
  qemu-io -c 'write -P 0x5a 0 128k' b.qcow2 >/dev/null
}

compare_check() {  # name
  local name=$1
  qemu-img check --output=json b.qcow2 >q.json 2>q.err
  $B -r -c b.qcow2 check none >c.out 2>c.err
  # "qemu-img: Check failed" lines are the tool's, not the library's.
  grep -v '^qemu-img: ' q.err | diff - c.err >/dev/null || { fail "$name: diagnostics differ"; grep -v '^qemu-img: ' q.err | diff - c.err | head -5; }
  python3 - "$name" <<'PY' || failures=$((failures + 1))
import json, re, sys
q = json.load(open('q.json'))
c = dict(kv.split('=') for kv in open('c.out').read().split())
want = {'corruptions': q.get('corruptions', 0), 'leaks': q.get('leaks', 0), 'check_errors': q.get('check-errors', 0),
        'end': q.get('image-end-offset', 0)}
got = {'corruptions': int(c['corruptions']), 'leaks': int(c['leaks']), 'check_errors': int(c['check_errors']),
       'end': int(c['end'])}
if want['check_errors']:  # QEMU's end offset after failed refcount reads is incidental
    want.pop('end'); got.pop('end')
if want != got:
    print(f"FAIL: {sys.argv[1]}: counts differ: qemu {want} corvid {got}")
    sys.exit(1)
PY
  for mode in leaks all; do
    cp b.qcow2 q.qcow2
    cp b.qcow2 c.qcow2
    qemu-img check -r $mode q.qcow2 >/dev/null 2>q.err
    $B -c c.qcow2 check $mode >/dev/null 2>c.err
    grep -v '^qemu-img: ' q.err | diff - c.err >/dev/null || { fail "$name -r $mode: diagnostics differ"; grep -v '^qemu-img: ' q.err | diff - c.err | head -5; }
    cmp -s q.qcow2 c.qcow2 || fail "$name -r $mode: repaired files differ"
  done
}

base; "$P" b.qcow2 0x20000 0002;                 compare_check "leak (cluster 0 refcount 2)"
base; "$P" b.qcow2 0x2000a 0003;                 compare_check "data refcount too high"
base; "$P" b.qcow2 0x2000a 0000;                 compare_check "data refcount zero"
base; "$P" b.qcow2 0x40000 00;                   compare_check "L2 entry without COPIED"
base; "$P" b.qcow2 0x30000 00;                   compare_check "L1 entry without COPIED"
base; "$P" b.qcow2 0x40008 80000000000602 ;      compare_check "unaligned data cluster"
base; "$P" b.qcow2 0x30000 81;                   compare_check "L1 reserved bits"
base; "$P" b.qcow2 0x10000 0000000010000000;     compare_check "refblock outside image"
base; "$P" b.qcow2 0x10000 0000000000028000;     compare_check "refblock unaligned"
base; "$P" b.qcow2 0x10000 0000000000020100;     compare_check "refblock entry reserved bits"
base; "$P" b.qcow2 0x2000a 0002; "$P" b.qcow2 0x2000e 0000; compare_check "mixed leak and error"
base -o refcount_bits=1; "$P" b.qcow2 0x20000 1f;   compare_check "refcount_bits=1 missing refcount"
base -o refcount_bits=64; "$P" b.qcow2 0x20000 0000000000000002; compare_check "refcount_bits=64 leak"
base -o cluster_size=512; "$P" b.qcow2 0x400 0002; compare_check "cluster_size=512 leak"
base; "$P" b.qcow2 0x4f 02;                      compare_check "corrupt bit"
base; qemu-img snapshot -c s b.qcow2; compare_check "snapshot (clean)"
base; qemu-img snapshot -c s b.qcow2; "$P" b.qcow2 0x2000a 0001; compare_check "shared cluster refcount too low"

echo "check interop: $failures failure(s)"
[ $failures = 0 ]
