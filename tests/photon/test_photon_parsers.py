"""Parsers on the real programs' recorded output (tests/data) and on documented formats."""

import struct

import pytest
from recordings import openocd_log, recording

from photondbg.errors import UsageError
from photondbg.photon import board, dfu, openocd_events, particle
from photondbg.photon.run import Result


def test_particle_usb_list_recorded_none():
    rec = recording("particle/usb-list-none.txt")
    assert rec.exit_code == 0 and rec.stdout.strip() == "No devices found."
    assert particle.parse_usb_list(rec.stdout) == []


def test_particle_usb_list_devices():
    text = (
        "my_photon [e00fce681234567890abcdef] (Photon)\n"
        "<no name> [3c002a000a47353235303037] (Photon, DFU)\n"
    )
    devs = particle.parse_usb_list(text)
    assert [(d.name, d.id, d.in_dfu) for d in devs] == [
        ("my_photon", "e00fce681234567890abcdef", False),
        ("<no name>", "3c002a000a47353235303037", True),
    ]


def test_particle_serial_list():
    rec = recording("particle/serial-list-none.txt")
    assert rec.exit_code == 0 and particle.parse_serial_list(rec.stdout) == []
    found = particle.parse_serial_list(
        "Found 1 device connected via serial:\n/dev/ttyACM0 - Photon - e00fce681234567890abcdef\n"
    )
    assert [(d.port, d.type, d.id) for d in found] == [
        ("/dev/ttyACM0", "Photon", "e00fce681234567890abcdef")
    ]


def test_particle_compile_not_logged_in_recorded():
    rec = recording("particle/compile-not-logged-in.txt")
    assert rec.exit_code == 1
    res = particle.parse_compile(rec.stdout, rec.exit_code)
    assert not res.ok and res.message.startswith("You're not logged in")
    msg = particle.explain(Result([], rec.exit_code, rec.stdout, rec.stderr), "compile")
    assert msg == "particle compile: not logged in to the Particle cloud (run `particle login`)"


def test_particle_compile_success_format():
    text = (
        "Compiling code for photon\n\nIncluding:\n    app.ino\n\n"
        "attempting to compile firmware\n\nCompile succeeded.\n\n"
        "Saved firmware to: /tmp/out/app.bin\n"
    )
    res = particle.parse_compile(text, 0)
    assert res.ok and str(res.saved_to) == "/tmp/out/app.bin"


def test_particle_flash_output():
    ok = "Switching device to dfu mode\nFlashing app.bin\nFlash success!\n"
    assert particle.parse_flash(ok, 0) == (True, True)
    assert particle.parse_flash("Flashing app.bin\nFlash failed.\n", 0) == (False, False)
    rec = recording("particle/flash-usb-malformed.txt")
    assert particle.parse_flash(rec.stdout, rec.exit_code) == (False, False)


def test_particle_explain_missing_execa():
    out = "Error: Cannot find module 'execa'\nRequire stack:\n- /x/particle-cli/src/lib/udev.js"
    msg = particle.explain(Result([], 1, "", out), "serial list")
    assert "execa@5" in msg and "\n" not in msg


def test_dfu_list_recorded_none():
    rec = recording("dfu/list-none.txt")
    assert rec.exit_code == 0 and rec.stdout.startswith("dfu-util 0.11")
    assert dfu.parse_list(rec.stdout) == []


def test_dfu_list_photon_lines():
    # format of dfu-util 0.9+ as Particle documents it for a Photon in DFU mode
    text = (
        'Found DFU: [2b04:d006] ver=0200, devnum=18, cfg=1, intf=0, path="253-1.1.6", '
        'alt=1, name="@DCT Flash   /0x00000000/01*016Kg", serial="00000000010C"\n'
        'Found DFU: [2b04:d006] ver=0200, devnum=18, cfg=1, intf=0, path="253-1.1.6", '
        'alt=0, name="@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg", '
        'serial="00000000010C"\n'
        "Found Runtime: [2522:0007] ver=1503, devnum=5, cfg=1, intf=2, alt=0, "
        'name="LH Labs DFU", serial="UNKNOWN"\n'
    )
    devs = dfu.parse_list(text)
    assert [(d.kind, d.alt, d.is_photon, d.path) for d in devs] == [
        ("DFU", 1, True, "253-1.1.6"),
        ("DFU", 0, True, "253-1.1.6"),
        ("Runtime", 0, False, None),
    ]
    assert devs[1].name.startswith("@Internal Flash")


def test_dfu_download_no_device_recorded():
    rec = recording("dfu/download-no-device.txt")
    assert rec.exit_code == 74
    msg = dfu.explain(Result([], rec.exit_code, rec.stdout, rec.stderr))
    assert msg.startswith("dfu-util: no Photon in DFU mode")


@pytest.mark.parametrize(
    "words,region",
    [
        ((0x080A0000, 0x080A4F10), "user"),  # module_info: start, end of a user part
        ((0x08020000, 0x0805F000), "system-part1"),
        ((0x20020000, 0x08020195), "monolithic"),  # vector table: initial SP, reset handler
    ],
)
def test_dfu_image_region(words, region):
    assert dfu.image_region(struct.pack("<II", *words)).name == region


@pytest.mark.parametrize("head", [b"\x00" * 8, b"\x7fELF\x01\x01\x01\x00", b"abc"])
def test_dfu_image_region_refuses_to_guess(head):
    with pytest.raises(UsageError):
        dfu.image_region(head)


def test_monolithic_and_user_addresses_match_device_os():
    assert board.REGIONS["monolithic"].address == 0x08020000  # PLATFORM_DFU, STM32F2XX
    assert board.REGIONS["user"].address == 0x080A0000
    assert board.DFU_ID == "2b04:d006"


@pytest.mark.parametrize(
    "name,kind", [("no-probe-cmsis-dap.log", "no_probe"), ("no-probe-stlink.log", "no_probe")]
)
def test_openocd_recorded_no_probe(name, kind):
    lines, code = openocd_log(name)
    assert code == 1
    events = openocd_events.parse_log("\n".join(lines))
    assert [e.kind for e in events] == [kind]
    assert openocd_events.failure_message(events, "cmsis-dap", code).startswith(
        "no debug probe found"
    )


@pytest.mark.parametrize(
    "line,cpu",
    [
        ("Error: stm32f2x.cpu -- clearing lockup after double fault", "stm32f2x.cpu"),
        ("Error: [stm32f2x.cpu] clearing lockup after double fault", "stm32f2x.cpu"),
        ("[stm32f2x.cpu] clearing lockup after double fault", "stm32f2x.cpu"),
    ],
)
def test_openocd_lockup_both_forms(line, cpu):
    e = openocd_events.parse_line(line)
    assert e.kind == "lockup" and (e.fields.get("cpu") or e.fields.get("cpu_old")) == cpu


def test_openocd_lockup_with_core_state():
    text = (
        "Info : Listening on port 3333 for gdb connections\n"
        "Error: [stm32f2x.cpu] clearing lockup after double fault\n"
        "[stm32f2x.cpu] halted due to debug-request, current mode: Handler HardFault\n"
        "xPSR: 0x01000003 pc: 0xae094710 msp: 0x2001ff58\n"
    )
    event, regs = openocd_events.lockup_from_events(openocd_events.parse_log(text))
    assert event.line.endswith("clearing lockup after double fault")
    assert regs == {"pc": 0xAE094710, "xpsr": 0x01000003, "sp": 0x2001FF58, "msp": 0x2001FF58}


def test_openocd_other_lines():
    kinds = {
        line: openocd_events.parse_line(line).kind
        for line in [
            "Info : Listening on port 41234 for gdb connections",
            "Error: Error connecting DP: cannot read IDR",
            "Error: init mode failed (unable to connect to the target)",
            "Error: libusb_open() failed with LIBUSB_ERROR_ACCESS",
            "embedded:startup.tcl:28: Error: Can't find interface/nosuch.cfg",
            "target halted due to debug-request, current mode: Thread",
        ]
    }
    assert list(kinds.values()) == [
        "gdb_listening",
        "no_target",
        "no_target",
        "adapter_error",
        "config_error",
        "halted",
    ]
    assert openocd_events.parse_line("Info : clock speed 1000 kHz") is None


def test_openocd_reg_output():
    text = (
        "===== arm v7m registers\n(0) r0 (/32): 0x00000001\n(13) sp (/32): 0x2001ff58\n"
        "(16) xPSR (/32): 0x01000003\n(17) msp (/32): 0x2001ff58\n"
    )
    assert openocd_events.parse_reg_output(text) == {
        "r0": 1,
        "sp": 0x2001FF58,
        "xpsr": 0x01000003,
        "msp": 0x2001FF58,
    }
