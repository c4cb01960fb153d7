#!/usr/bin/env python3
"""verify_torture.py LOG BASELINE DUMP: after a killed torture run, every 512-byte sector of
DUMP must hold what the last flushed write covering it wrote, or what a later (unflushed)
write wrote; sectors no write of this run touched must equal BASELINE. Prints the number of
acknowledged (flushed) writes verified."""
import sys

log_path, base_path, dump_path = sys.argv[1:4]
writes, flushed = [], 0
for line in open(log_path):
    f = line.split()
    if f[0] == 'W':
        writes.append((int(f[1]), int(f[2]), int(f[3])))
    elif f[0] == 'F':
        flushed = int(f[1])
base = open(base_path, 'rb').read()
dump = open(dump_path, 'rb').read()
if len(base) != len(dump):
    sys.exit(f'size mismatch {len(base)} != {len(dump)}')
allowed = {}
for seq, off, length in writes:
    pat = seq % 251 + 1
    for s in range(off // 512, (off + length) // 512):
        if seq <= flushed:
            allowed[s] = {pat}
        else:
            allowed.setdefault(s, {base[s * 512]} if s not in allowed else allowed[s]).add(pat)
bad = 0
for s, pats in allowed.items():
    sector = dump[s * 512:(s + 1) * 512]
    if sector[0] not in pats or sector.count(sector[0]) != 512:
        bad += 1
        if bad < 5:
            print(f'sector {s}: got {sector[0]:#x} (uniform={sector.count(sector[0]) == 512}), allowed {sorted(pats)}')
untouched_bad = sum(1 for s in range(len(base) // 512) if s not in allowed and
                    dump[s * 512:(s + 1) * 512] != base[s * 512:(s + 1) * 512])
if bad or untouched_bad:
    sys.exit(f'FAIL: {bad} written sectors and {untouched_bad} untouched sectors wrong')
print(sum(1 for w in writes if w[0] <= flushed))
