#!/bin/sh
# SPDX-License-Identifier: MIT
# Real soft-RoCE suite for the encshim verbs interposer, run by `make check`.
# Boots Debian's own kernel in qemu (TCG, no KVM needed) over this machine's
# root file system shared read-only (virtio-9p), makes two rxe devices on a
# veth pair and runs unmodified verbs programs with and without the preload
# while tcpdump captures RoCEv2 (UDP 4791). See docs/VERBS.md and
# ../shared/notes/rdma-vm.md. Exits 77 (skip) with a reason where qemu or
# the kernel cannot be obtained.
#
# Environment: ENCSHIM_GUEST_CACHE (kernel and initramfs cache, default
# /var/cache/encshim-guest, else $top_builddir/guest-cache),
# ENCSHIM_GUEST_TIMEOUT (seconds for the whole guest, default 900: a bound, not the expected time; under TCG on 2 busy cores the MPI groups alone can take 5 minutes),
# ENCSHIM_GUEST_TESTS (space-separated subset of the guest tests).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$(cd "$here/../../.." && pwd)}
top_builddir=$(cd "$top_builddir" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

for t in qemu-system-x86_64 busybox depmod modprobe cpio python3 timeout; do
	command -v $t >/dev/null 2>&1 || [ -x /bin/$t ] || [ -x /sbin/$t ] ||
		skip "$t not found (apt-get install qemu-system-x86 busybox-static kmod cpio python3)"
done
busybox=$(command -v busybox || echo /bin/busybox)
file -L "$busybox" 2>/dev/null | grep -q "statically linked" ||
	ldd "$busybox" 2>&1 | grep -q "not a dynamic" || skip "busybox is not static (apt-get install busybox-static)"
lib="$top_builddir/verbs/.libs/libencshim-verbs.so"
[ -f "$lib" ] || fail "$lib not built"
[ -x "$top_builddir/encshim" ] || fail "$top_builddir/encshim not built"

cache=${ENCSHIM_GUEST_CACHE:-/var/cache/encshim-guest}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache="$top_builddir/guest-cache"
mkdir -p "$cache" || skip "no writable cache directory"

# --- kernel: Debian's linux-image (unsigned), downloaded once ---
kdir="$cache/kernel"
if [ ! -f "$kdir/.ok" ]; then
	deb=$(ls "$cache"/linux-image-*-amd64-unsigned_*.deb 2>/dev/null | tail -1)
	if [ -z "$deb" ]; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9.]*-[0-9]*-amd64\)$/\1/p' | head -1)
		[ -n "$pkg" ] || skip "cannot resolve linux-image-amd64 (apt-get update?)"
		(cd "$cache" && timeout 300 apt-get download "$pkg-unsigned" >/dev/null 2>&1) ||
			skip "apt-get download $pkg-unsigned failed (no network or archive?)"
		deb=$(ls "$cache"/linux-image-*-amd64-unsigned_*.deb | tail -1)
	fi
	rm -rf "$kdir" && mkdir -p "$kdir" && dpkg -x "$deb" "$kdir" || skip "dpkg -x $deb failed"
	kver=$(ls "$kdir/lib/modules" | head -1)
	depmod -b "$kdir" "$kver" || skip "depmod failed"
	touch "$kdir/.ok"
fi
kver=$(ls "$kdir/lib/modules" | head -1)
vmlinuz="$kdir/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || skip "no kernel image in $kdir"

# --- initramfs: static busybox, the modules needed to mount the root ---
initrd="$cache/initrd-$kver.cpio"
if [ ! -f "$initrd" ] || [ "$here/guest-init" -nt "$initrd" ] || [ "$here/run.sh" -nt "$initrd" ]; then
	ird=$(mktemp -d) || exit 1
	mkdir -p "$ird/bin" "$ird/mods" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/host" "$ird/upper" "$ird/newroot"
	cp "$busybox" "$ird/bin/busybox"
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe -d "$kdir" -S "$kver" --show-depends $m 2>/dev/null; done |
		sed -n 's/^insmod \([^ ]*\).*/\1/p' | awk '!seen[$0]++' > "$ird/mods.list.abs"
	[ -s "$ird/mods.list.abs" ] || skip "cannot resolve the guest's 9p/overlay modules"
	: > "$ird/mods/list"
	while read -r m; do
		b=$(basename "$m"); cp "$m" "$ird/mods/$b"; echo "$b" >> "$ird/mods/list"
	done < "$ird/mods.list.abs"
	rm -f "$ird/mods.list.abs"
	cp "$here/guest-init" "$ird/init" && chmod 755 "$ird/init"
	(cd "$ird" && find . | cpio -o -H newc 2>/dev/null) > "$initrd.tmp" && mv "$initrd.tmp" "$initrd"
	rm -rf "$ird"
fi

# --- run ---
out="$top_builddir/tests/verbs/guest-results"
rm -rf "$out" && mkdir -p "$out"
tests=${ENCSHIM_GUEST_TESTS:-all}
tmo=${ENCSHIM_GUEST_TIMEOUT:-900}
echo "guest: kernel $kver, results in $out"
start=$(date +%s)
nice -n 10 timeout "$tmo" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2G \
	-machine q35 -nographic -no-reboot -nic none -monitor none \
	-serial "file:$out/console.log" -kernel "$vmlinuz" -initrd "$initrd" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$out",mount_tag=results,security_model=none,multidevs=remap \
	-append "console=ttyS0 panic=-1 quiet esv_kver=$kver esv_kdir=$kdir esv_suite=$here/guest-suite.sh esv_top=$top_builddir esv_tests=$(echo $tests | tr ' ' ,)" \
	</dev/null >/dev/null 2>&1
qrc=$?
echo "guest: qemu exit $qrc after $(( $(date +%s) - start )) s"
[ $qrc -eq 124 ] && { tail -30 "$out/console.log"; fail "guest timed out after $tmo s"; }
[ -f "$out/suite.done" ] || { tail -40 "$out/console.log"; fail "guest suite did not finish"; }
cat "$out/summary.txt"
# Wire evidence, analysed here (decoding inside the guest is slow).
python3 "$here/pcapcheck.py" "$out" || exit 1
grep -q '^FAIL' "$out/summary.txt" && exit 1
exit 0
