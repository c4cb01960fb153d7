#!/bin/bash
# Interop between corvid's block layer (driven by blkdrv) and qemu-img/qemu-io 7.2.
# Usage: qcow2_interop.sh BLKDRV
set -u
B=$(realpath "$1")
T=$(mktemp -d /tmp/corvid-interop.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
qio() { qemu-io "$@" >/dev/null 2>&1; }

# Same operations through corvid and through qemu-io must give the same file, byte for byte.
ops_corvid=(write 0 4096 0x11 -- write 1M 300k 0x22 -- write 10M 64k 0x33 -- write 20000 3000 0x44 --
            zero 1M 64k -- discard 10M 64k -- write 40M 2M 0x55 -- zero 40M 1M unmap)
ops_qemu=(-c 'write -P 0x11 0 4096' -c 'write -P 0x22 1M 300k' -c 'write -P 0x33 10M 64k'
          -c 'write -P 0x44 20000 3000' -c 'write -z 1M 64k' -c 'discard 10M 64k' -c 'write -P 0x55 40M 2M'
          -c 'write -z -u 40M 1M')
for cs in 512 65536 2M; do
  for compat in 0.10 1.1; do
    for rb in 1 16 64; do
      [ $compat = 0.10 ] && [ $rb != 16 ] && continue
      o="cluster_size=$cs,compat=$compat,refcount_bits=$rb"
      rm -f c.qcow2 q.qcow2
      $B create qcow2 c.qcow2 64M $o || fail "create $o"
      qemu-img create -q -f qcow2 -o $o q.qcow2 64M
      cmp -s c.qcow2 q.qcow2 || fail "create layout differs: $o"
      $B c.qcow2 "${ops_corvid[@]}" >/dev/null || fail "corvid ops $o"
      qio "${ops_qemu[@]}" q.qcow2
      qemu-img check -q c.qcow2 || fail "qemu-img check after corvid writes: $o"
      qemu-img compare -q c.qcow2 q.qcow2 || fail "data differs: $o"
      cmp -s c.qcow2 q.qcow2 || fail "layout after writes differs: $o"
      # qemu-io writes read back in corvid.
      $B -r q.qcow2 read 0 4096 0x11 -- read 1M 64k 0 -- read 1088k 236k 0x22 \
        -- read 20000 3000 0x44 -- read 41M 1M 0x55 -- dump q.raw >/dev/null || fail "corvid reads qemu image: $o"
      qemu-img convert -O raw q.qcow2 ref.raw
      cmp -s q.raw ref.raw || fail "corvid dump differs from qemu-img convert: $o"
    done
  done
done

# Creation options and preallocation give QEMU's exact files.
for o in preallocation=metadata preallocation=falloc preallocation=full "preallocation=metadata,cluster_size=512" \
         "preallocation=falloc,cluster_size=4096" lazy_refcounts=on compression_type=zstd "compat=0.10,cluster_size=2M" \
         "refcount_bits=2,cluster_size=1024" "refcount_bits=8,preallocation=metadata"; do
  rm -f c.qcow2 q.qcow2
  $B create qcow2 c.qcow2 33M "$o" || fail "create $o"
  qemu-img create -q -f qcow2 -o "$o" q.qcow2 33M
  cmp -s c.qcow2 q.qcow2 || fail "create layout differs: $o"
done
rm -f c.qcow2 q.qcow2
$B create qcow2 c.qcow2 1G cluster_size=512
qemu-img create -q -f qcow2 -o cluster_size=512 q.qcow2 1G
cmp -s c.qcow2 q.qcow2 || fail "1G/512 create (refcount table growth) differs"
$B c.qcow2 write 300M 1M 0x66 >/dev/null
qio -c 'write -P 0x66 300M 1M' q.qcow2
cmp -s c.qcow2 q.qcow2 || fail "1G/512 write layout differs"
qemu-img check -q c.qcow2 || fail "1G/512 check"

# Backing files: copy-on-write from the backing file, relative names, chains.
rm -f base.qcow2 mid.qcow2 top.qcow2 qtop.qcow2
qemu-img create -q -f qcow2 base.qcow2 16M
qio -c 'write -P 0xaa 0 16M' base.qcow2
$B create qcow2 mid.qcow2 16M backing_file=base.qcow2,backing_fmt=qcow2 || fail "create overlay"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 qmid.qcow2 16M
cmp -s mid.qcow2 qmid.qcow2 || fail "overlay create differs"
$B create qcow2 top.qcow2 16M backing_file=mid.qcow2,backing_fmt=qcow2 || fail "create chain"
$B mid.qcow2 write 4096 512 0xbb >/dev/null
$B top.qcow2 write 1M 1000 0xcc -- read 0 4096 0xaa -- read 4096 512 0xbb -- read 1M 1000 0xcc >/dev/null || fail "chain reads"
qemu-io -r -c 'read -P 0xaa 0 4096' -c 'read -P 0xbb 4096 512' -c 'read -P 0xcc 1M 1000' -c 'read -P 0xaa 1049576 64536' top.qcow2 | grep -q 'Pattern verification failed' && fail "qemu reads corvid chain"
qemu-img check -q top.qcow2 || fail "check overlay"
qemu-img info top.qcow2 | grep -q 'backing file: mid.qcow2' || fail "backing name"

# A backing loop is an error, not a hang.
qemu-img create -q -f qcow2 l1.qcow2 1M
qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2
qemu-img rebase -u -b l2.qcow2 -F qcow2 l1.qcow2
timeout 10 $B -r l2.qcow2 read 0 512 0 | grep -q 'infinite loop' || fail "backing loop not detected"

# Compressed clusters: corvid writes them, QEMU reads them; QEMU writes them, corvid reads them.
for ct in zlib zstd; do
  rm -f z.qcow2
  $B create qcow2 z.qcow2 8M compression_type=$ct
  $B z.qcow2 compress 0 1M 0x77 -- compress 2M 64k 0x78 -- write 4096 100 0x79 >/dev/null || fail "compressed writes $ct"
  qemu-img check -q z.qcow2 || fail "check compressed $ct"
  qemu-io -r -c 'read -P 0x77 0 4096' -c 'read -P 0x79 4096 100' -c 'read -P 0x77 4196 1044380' -c 'read -P 0x78 2M 64k' z.qcow2 \
    | grep -q 'verification failed' && fail "qemu reads corvid compressed $ct"
  qemu-img map --output=json z.qcow2 | grep -q '"compressed": true' || true
  rm -f zq.qcow2
  qemu-img create -q -f raw src.raw 8M
  qio -f raw -c 'write -P 0x31 0 3M' -c 'write -P 0x32 5M 100k' src.raw
  qemu-img convert -c -O qcow2 -o compression_type=$ct src.raw zq.qcow2
  $B -r zq.qcow2 dump zq.raw >/dev/null || fail "corvid reads qemu compressed $ct"
  cmp -s zq.raw src.raw || fail "compressed data differs $ct"
done

# Internal snapshots, both directions.
rm -f s.qcow2
$B create qcow2 s.qcow2 8M
$B s.qcow2 write 0 64k 0x01 -- snap create one -- write 0 4k 0x02 -- snap create two -- write 0 4k 0x03 >/dev/null
qemu-img check -q s.qcow2 || fail "check after corvid snapshots"
qemu-img snapshot -l s.qcow2 | grep -q ' two ' || fail "qemu lists corvid snapshot"
qemu-img snapshot -a one s.qcow2
$B -r s.qcow2 read 0 64k 0x01 >/dev/null || fail "corvid reads after qemu apply"
$B s.qcow2 snap apply two -- read 0 4k 0x02 -- read 4k 60k 0x01 -- snap delete one >/dev/null || fail "corvid apply/delete"
qemu-img check -q s.qcow2 || fail "check after corvid apply/delete"
qemu-io -r -c 'read -P 0x02 0 4k' s.qcow2 | grep -q 'verification failed' && fail "qemu reads after corvid apply"
qemu-img snapshot -c three s.qcow2
$B s.qcow2 write 0 4k 0x04 -- snap delete three >/dev/null || fail "corvid deletes qemu snapshot"
qemu-img check -q s.qcow2 || fail "check after deleting qemu snapshot"

# Lazy refcounts: a killed writer leaves the dirty bit; an r/w open repairs it. writethrough
# (qemu-io's default) puts the L2 entry on disk before the write completes; under writeback
# it stays cached until a flush and dies with the process.
rm -f d.qcow2
$B create qcow2 d.qcow2 128M lazy_refcounts=on
$B -t writethrough d.qcow2 write 0 512 0x5a -- kill >/dev/null
qemu-img info d.qcow2 | grep -q 'cleanly shut down: no' || fail "dirty bit not set after kill"
qemu-img check d.qcow2 >/dev/null 2>&1; [ $? = 2 ] || fail "qemu-img check does not see the crash"
$B -r d.qcow2 read 0 512 0x5a >/dev/null || fail "read-only open of dirty image"
qemu-img info d.qcow2 | grep -q 'cleanly shut down: no' || fail "read-only open wrote the image"
$B d.qcow2 read 0 512 0x5a >/dev/null 2>&1 || fail "r/w open of dirty image"
qemu-img check -q d.qcow2 || fail "auto-repair left errors"
qemu-img info d.qcow2 | grep -q 'cleanly shut down' && fail "dirty bit still set after repair"
rm -f n.qcow2
$B create qcow2 n.qcow2 128M
$B -t writethrough n.qcow2 write 0 512 0x5a -- kill >/dev/null
qemu-img check -q n.qcow2 || fail "non-lazy image inconsistent after kill"
qemu-io -r -c 'read -P 0x5a 0 512' n.qcow2 | grep -q 'verification failed' && fail "writethrough write lost at kill"

# Resize.
rm -f r.qcow2 rq.qcow2
$B create qcow2 r.qcow2 16M
qemu-img create -q -f qcow2 rq.qcow2 16M
$B r.qcow2 resize 3G >/dev/null || fail "grow"
qemu-img resize -q rq.qcow2 3G
cmp -s r.qcow2 rq.qcow2 || fail "grown image differs"
$B r.qcow2 write 2G 64k 0x12 -- resize 1G shrink -- resize 2G >/dev/null || fail "shrink"
qemu-img check -q r.qcow2 || fail "check after shrink"
$B -r r.qcow2 read 1G 64k 0 >/dev/null || fail "shrunk data must be gone"

# Amend: compat downgrade (zero clusters expanded) and upgrade, lazy_refcounts, as qemu-img amend.
for o in compat=0.10 lazy_refcounts=on; do
  rm -f a.qcow2 qa.qcow2
  qemu-img create -q -f qcow2 a.qcow2 16M
  qemu-io -c 'write -P 1 0 128k' -c 'write -z 64k 64k' -c 'write -z 1M 64k' a.qcow2 >/dev/null
  cp a.qcow2 qa.qcow2
  $B a.qcow2 amend $o >/dev/null || fail "amend $o"
  qemu-img amend -o $o qa.qcow2
  cmp -s a.qcow2 qa.qcow2 || fail "amend $o differs from qemu-img amend"
  qemu-img check -q a.qcow2 || fail "check after amend $o"
done
rm -f a.qcow2 qa.qcow2
qemu-img create -q -f qcow2 -o compat=0.10 a.qcow2 16M
cp a.qcow2 qa.qcow2
$B a.qcow2 amend compat=1.1 >/dev/null || fail "amend upgrade"
qemu-img amend -o compat=1.1 qa.qcow2
cmp -s a.qcow2 qa.qcow2 || fail "amend compat=1.1 differs from qemu-img amend"

echo "interop: $failures failure(s)"
[ $failures = 0 ]
