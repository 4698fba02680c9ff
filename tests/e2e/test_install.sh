#!/usr/bin/env bash
# make install with PREFIX and DESTDIR: the program, the man page (built by
# scdoc from docs/vdpa-shim.1.scd), the systemd units with this install's
# paths, the example config (never replacing an operator's); the installed
# program runs; the units pass systemd-analyze verify; uninstall removes what
# install put there, except the config.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
command -v scdoc >/dev/null || skip "scdoc is not installed (make deps)"
w=$(mktemp -d /tmp/vs-install.XXXXXX)
trap 'rm -rf "$w"' EXIT
d=$w/root
cd "$E2E_ROOT"

make -s --no-print-directory BUILD="$BUILD" PREFIX=/opt/vs DESTDIR="$d" install >"$w/make.log" 2>&1 ||
    fail "make install failed: $(tail -n 5 "$w/make.log")"
for f in opt/vs/bin/vdpa-shim opt/vs/share/man/man1/vdpa-shim.1 \
         opt/vs/lib/systemd/system/vdpa-shim.service opt/vs/lib/systemd/system/vdpa-shim.socket \
         opt/vs/share/doc/vdpa-shim/vdpa-shim.conf.example etc/vdpa-shim/vdpa-shim.conf; do
    [[ -f $d/$f ]] || fail "make install did not install /$f"
done
[[ -x $d/opt/vs/bin/vdpa-shim ]] || fail "the program is not executable"
[[ $(stat -c %a "$d/opt/vs/lib/systemd/system/vdpa-shim.service") == 644 ]] || fail "unit mode"
# nothing outside DESTDIR's PREFIX and SYSCONFDIR
extra=$(cd "$d" && find . -type f | grep -vE '^\./(opt/vs|etc/vdpa-shim)/' || true)
[[ -z $extra ]] || fail "installed outside PREFIX: $extra"

# the installed program runs and says its version (the VERSION file's)
v=$("$d/opt/vs/bin/vdpa-shim" --version) || fail "--version exited $?"
[[ $v == "vdpa-shim $(cat VERSION) "* ]] || fail "--version says '$v'"

# the man page is a man page, with this version and the sections an
# operator looks for
man1=$d/opt/vs/share/man/man1/vdpa-shim.1
grep -q '^\.TH "vdpa-shim" "1" .*"vdpa-shim '"$(cat VERSION)"'"' "$man1" || fail "man page header: $(grep '^.TH' "$man1")"
for s in SYNOPSIS OPTIONS "DEVICE KEYS" "CONFIG FILE" TRACE SIGNALS SYSTEMD "EXIT STATUS" EXAMPLES; do
    grep -q "^\.SH $s\$" "$man1" || fail "man page lacks section $s"
done
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$man1" >"$w/man.txt" 2>"$w/man.err" || fail "man cannot render it: $(head -3 "$w/man.err")"
    grep -q 'SIGHUP' "$w/man.txt" || fail "rendered man page lacks SIGHUP"
    [[ ! -s $w/man.err ]] || fail "man warns: $(head -3 "$w/man.err")"
fi

# the units carry this install's paths
unit=$d/opt/vs/lib/systemd/system/vdpa-shim.service
grep -qx 'ExecStart=/opt/vs/bin/vdpa-shim --config /etc/vdpa-shim/vdpa-shim.conf' "$unit" ||
    fail "ExecStart: $(grep ExecStart= "$unit")"
if command -v systemd-analyze >/dev/null; then
    # verify with ExecStart pointing at the installed file (DESTDIR is not /)
    sed "s|/opt/vs/bin/vdpa-shim|$d/opt/vs/bin/vdpa-shim|" "$unit" >"$w/vdpa-shim.service"
    cp "$d/opt/vs/lib/systemd/system/vdpa-shim.socket" "$w/"
    (cd "$w" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
        ./vdpa-shim.socket ./vdpa-shim.service) >"$w/verify.log" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$w/verify.log")"
    grep -v -e 'Failed to connect' -e 'Unit .*\.mount' "$w/verify.log" | grep -qi 'vdpa-shim' &&
        fail "systemd-analyze verify complains: $(cat "$w/verify.log")"
fi

# the installed example config is valid: the shim starts its devices (paths
# moved into the scratch dir)
sed -e "s|/run/|$w/run/|g" "$d/etc/vdpa-shim/vdpa-shim.conf" >"$w/shim.conf"
mkdir -p "$w/run/vdpa-shim"
shim_start "$w/shim.log" --config "$w/shim.conf"
wait_for 5 test -S "$w/run/vdpa-shim/vm0-disk.sock" || fail "the example config's device did not start"
shim_stop
[[ ! -e $w/run/vdpa-shim/vm0-disk.sock ]] || fail "the socket was left behind"

# a second install keeps an operator's config
echo "# mine" >>"$d/etc/vdpa-shim/vdpa-shim.conf"
make -s --no-print-directory BUILD="$BUILD" PREFIX=/opt/vs DESTDIR="$d" install >"$w/make.log" 2>&1 ||
    fail "second make install failed"
tail -n 1 "$d/etc/vdpa-shim/vdpa-shim.conf" | grep -qx '# mine' || fail "make install replaced the config"

make -s --no-print-directory BUILD="$BUILD" PREFIX=/opt/vs DESTDIR="$d" uninstall >"$w/make.log" 2>&1 ||
    fail "make uninstall failed: $(tail -n 5 "$w/make.log")"
left=$(cd "$d" && find . -type f)
[[ $left == "./etc/vdpa-shim/vdpa-shim.conf" ]] || fail "after uninstall: $left"
echo "PASS: make install PREFIX=/opt/vs DESTDIR=...: 6 files, man page, units verified, uninstall"
