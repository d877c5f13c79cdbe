#!/usr/bin/env bash
# Re-record the real programs' output that tests/photon replays or compares against.
# Runs on a machine with NO probe, NO Photon and NO Particle login (HOME is a fresh temp dir).
#   tests/data/openocd/no-probe-*.log   openocd 0.12 with the session argv photondbg uses
#   tests/data/particle/*.txt            particle-cli 3.40.0: usb list, serial list, compile
#   tests/data/dfu/*.txt                 dfu-util 0.11: -l, download with no device
# Each .txt is "exit=N" then the stdout, a line "--- stderr ---", then stderr.
set -u
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
PARTICLE=${PARTICLE:-$ROOT/.tools/particle/node_modules/.bin/particle}
export HOME=$(mktemp -d)
trap 'rm -rf "$HOME"' EXIT

rec() {  # rec FILE CMD...
  local out=$1; shift
  local o e rc
  o=$(mktemp); e=$(mktemp)
  "$@" >"$o" 2>"$e"; rc=$?
  { echo "exit=$rc"; cat "$o"; echo; echo "--- stderr ---"; cat "$e"; } >"$out"
  rm -f "$o" "$e"
}

for iface in cmsis-dap stlink; do
  openocd -f interface/$iface.cfg -f target/stm32f2x.cfg -c "bindto 127.0.0.1" \
    -c "gdb_port 0" -c "telnet_port 0" -c "tcl_port disabled" -c init \
    -c "cortex_m vector_catch hard_err int_err bus_err state_err chk_err nocp_err mm_err reset" \
    >openocd/no-probe-$iface.log 2>&1
  echo "@exit $?" >>openocd/no-probe-$iface.log
done

tmpapp=$(mktemp -d); echo 'void setup() {} void loop() {}' >"$tmpapp/app.ino"
rec particle/version.txt "$PARTICLE" --version
rec particle/usb-list-none.txt "$PARTICLE" usb list
rec particle/serial-list-none.txt "$PARTICLE" serial list
rec particle/compile-not-logged-in.txt "$PARTICLE" compile photon "$tmpapp" --target 0.6.0 --saveTo "$tmpapp/x.bin"
head -c 64 /dev/zero >"$tmpapp/zero.bin"
rec particle/flash-usb-malformed.txt "$PARTICLE" flash --usb "$tmpapp/zero.bin"
rm -rf "$tmpapp"

rec dfu/list-none.txt dfu-util -l
tmpbin=$(mktemp); printf '\x00\x00\x02\x20\x01\x01\x02\x08' >"$tmpbin"
rec dfu/download-no-device.txt dfu-util -d 2b04:d006 -a 0 -s 0x08020000:leave -D "$tmpbin"
rm -f "$tmpbin"
