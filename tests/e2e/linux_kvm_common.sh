# Sourced by the Linux e2e scripts: KVM check and the cached Debian kernel (tests/linux/fetch-kernel).
# Sets $kernel_dir. Exit 77 = skip.
[ -e /dev/kvm ] || { echo "SKIP: /dev/kvm is absent"; exit 77; }
{ : <>/dev/kvm; } 2>/dev/null || { echo "SKIP: /dev/kvm is not accessible"; exit 77; }
mkdir -p "$work"
exec 9>"$work/.lock"
flock 9
"$src/tests/linux/fetch-kernel" "$work" || exit $?
kernel_dir=$work
# vmlinux out of the bzImage: Debian's payload is LZ4 (legacy frame, magic 02 21 4c 18); lz4 stops
# at the end of the frame and complains about what follows, so its status is not checked.
if [ ! -s "$work/vmlinux" ]; then
  command -v lz4 >/dev/null || { echo "SKIP: lz4 is not installed (scripts/setup)"; exit 77; }
  off=$(grep -obUaP '\x02\x21\x4c\x18' "$work/vmlinuz" | head -1 | cut -d: -f1)
  [ -n "$off" ] || { echo "FAIL: no LZ4 payload in $work/vmlinuz"; exit 1; }
  tail -c +$((off + 1)) "$work/vmlinuz" | lz4 -dc >"$work/vmlinux.tmp" 2>/dev/null
  head -c 4 "$work/vmlinux.tmp" | grep -q ELF || { echo "FAIL: the LZ4 payload is not an ELF"; exit 1; }
  mv "$work/vmlinux.tmp" "$work/vmlinux"
fi
flock -u 9
