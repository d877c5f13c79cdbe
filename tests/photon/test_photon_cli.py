"""`photondbg flash` / `openocd` / `build --target photon` input errors: one line, exit 2."""

import struct

import pytest
from support import require_tool

from photondbg.cli import main


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as ex:
        main(list(argv))
    out, err = capsys.readouterr()
    return ex.value.code, out, err


@pytest.fixture
def user_bin(tmp_path):
    p = tmp_path / "app.bin"
    p.write_bytes(struct.pack("<II", 0x080A0000, 0x080A0100) + bytes(248))
    return p


def one_line(err):
    return err.count("\n") == 1 and err.startswith("photondbg: error: ") and "Traceback" not in err


def test_flash_dfu_without_device(capsys, user_bin):
    require_tool("dfu-util")
    code, out, err = run_cli(capsys, "flash", "--method", "dfu", str(user_bin))
    assert code == 2 and one_line(err) and "no Photon in DFU mode" in err


def test_flash_openocd_without_probe(capsys, tmp_path):
    require_tool("openocd")
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    code, _, err = run_cli(capsys, "flash", "--method", "openocd", "--probe", "stlink", str(elf))
    assert code == 2 and one_line(err) and "no debug probe found" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--method", "particle", "/nonexistent/app.bin"], "firmware file not found"),
        (["--method", "dfu", "--address", "0xZZ", "x.bin"], "not an address"),
        (["--method", "jtag", "x.bin"], "Invalid value for '--method'"),
    ],
)
def test_flash_bad_input(capsys, args, message):
    code, _, err = run_cli(capsys, "flash", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_flash_dfu_refuses_to_guess_the_address(capsys, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(64))
    code, _, err = run_cli(capsys, "flash", "--method", "dfu", str(junk))
    assert code == 2 and one_line(err) and "pass --address" in err


def test_flash_dfu_elf_without_bin(capsys, tmp_path):
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    code, _, err = run_cli(capsys, "flash", "--method", "dfu", str(elf))
    assert code == 2 and one_line(err) and "needs a .bin" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--target", "photon"], "needs --device-os PATH and --ref REF"),
        (
            ["--target", "photon", "--device-os", "/nonexistent", "--ref", "v0.6.0"],
            "Device OS checkout not found",
        ),
        (["--target", "sim", "--ref", "v0.6.0"], "--ref is for --target photon"),
        (
            ["--target", "photon", "--device-os", "/tmp", "--ref", "x", "--variant", "all"],
            "--variant/--debug are for --target sim",
        ),
    ],
)
def test_build_bad_usage(capsys, args, message):
    code, _, err = run_cli(capsys, "build", *args)
    assert code == 2 and one_line(err) and message in err


def test_build_sim_prints_the_elf_firmware_build_made(capsys, tmp_path, monkeypatch):
    require_tool("arm-none-eabi-gcc")
    import json

    from photondbg import firmware

    monkeypatch.setenv("PHOTONDBG_BUILD", str(tmp_path / "b"))
    code, out, err = run_cli(
        capsys, "build", "--app", "simple-server", "--variant", "clients", "--json"
    )
    assert code == 0, err
    info = json.loads(out)
    assert info["elf"] == str(firmware.elf_path("simple-server", "clients"))
    assert info["elf"].startswith(str(tmp_path / "b"))
    with open(info["elf"], "rb") as f:
        assert f.read(4) == b"\x7fELF"
    code, _, err = run_cli(capsys, "build", "--variant", "nope")
    assert code == 2 and one_line(err) and "unknown variant 'nope'" in err


def test_flash_openocd_verified_and_failed(capsys, tmp_path, monkeypatch):
    """`program FILE verify reset exit` through the fake OpenOCD replaying 0.12's program
    output: success needs `** Verified OK **`; a file OpenOCD cannot open fails as it does."""
    import json

    from recordings import DATA, FAKE_OPENOCD

    monkeypatch.setenv("PHOTONDBG_OPENOCD", str(FAKE_OPENOCD))
    monkeypatch.setenv("FAKE_OPENOCD_SCENARIO", str(DATA / "openocd" / "program-ok-0.12.log"))
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    code, out, err = run_cli(capsys, "flash", "--method", "openocd", "--json", str(elf))
    assert code == 0, err
    assert json.loads(out) == {
        "method": "openocd",
        "image": str(elf),
        "address": None,
        "verified": True,
        "detail": "** Verified OK **",
    }
    # a monolithic .bin gets its address from the image
    mono = tmp_path / "mono.bin"
    mono.write_bytes(struct.pack("<II", 0x20020000, 0x08020195) + bytes(56))
    code, out, err = run_cli(capsys, "flash", "--method", "openocd", str(mono))
    assert code == 0 and out.strip() == f"flashed {mono} at 0x08020000 by openocd (verified)"
    # the file vanishes before OpenOCD opens it
    from photondbg.errors import ToolFailure
    from photondbg.photon import flash as flash_mod

    monkeypatch.setattr(flash_mod, "is_elf", lambda p: True)
    with pytest.raises(
        ToolFailure,
        match=r"\*\* Programming Failed \*\* while programming .*"
        r"couldn't open",
    ):
        flash_mod.flash_openocd(tmp_path / "gone.elf", interface="cmsis-dap")
