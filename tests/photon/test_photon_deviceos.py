"""Device OS builds against a real git repository made here (tests/data/device-os-mini): ref
checks, worktrees, the make command line and the ELF it writes are all exercised for real."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile
from recordings import DATA
from support import require_tool

from photondbg.errors import EXIT_USAGE, ToolFailure, ToolMissing, UsageError
from photondbg.photon import deviceos, dfu

APP = """#include "socket_fix.h"
extern "C" {
const volatile int device_os_socket_fix = SOCKET_FIX;
void setup(void) {}
void loop(void) {}
}
"""


def git(repo, *args):
    return subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=photondbg",
            "-c",
            "user.email=photondbg@localhost",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A Device OS-shaped repo: tag v0.6.0 without the fix, branch fix-1250 with it."""
    require_tool("git")
    base = tmp_path_factory.mktemp("dos")
    proto = base / "firmware-protobuf"  # a submodule, as Device OS has
    proto.mkdir()
    (proto / "control.proto").write_text('syntax = "proto2";\n')
    git(proto, "init", "-q")
    git(proto, "add", "-A")
    git(proto, "commit", "-q", "-m", "proto")
    repo = base / "device-os"
    shutil.copytree(DATA / "device-os-mini", repo)
    git(repo, "init", "-q", "-b", "develop")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(proto), "proto")
    # its upstream is unreachable, as the network is here: the build must use the local copy
    gone = "/nonexistent/firmware-protobuf.git"
    git(repo, "config", "-f", ".gitmodules", "submodule.proto.url", gone)
    git(repo, "config", "submodule.proto.url", gone)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "0.6.0")
    git(repo, "tag", "v0.6.0")
    (repo / "hal" / "socket_fix.h").write_text("#define SOCKET_FIX 1\n")
    git(repo, "commit", "-q", "-am", "PR #1250: clear the client slot on disconnect")
    git(repo, "branch", "fix-1250")
    git(repo, "checkout", "-q", "v0.6.0")  # the user's checkout sits elsewhere: must not move
    return repo


@pytest.fixture
def appdir(tmp_path):
    d = tmp_path / "src" / "multi-server"
    d.mkdir(parents=True)
    (d / "app.cpp").write_text(APP)
    (d / "notes.txt").write_text("not a source: not copied\n")
    return d


def symbol_value(elf, name):
    with open(elf, "rb") as f:
        ef = ELFFile(f)
        sym = ef.get_section_by_name(".symtab").get_symbol_by_name(name)[0]
        addr = sym["st_value"]
        for seg in ef.iter_segments():
            start = seg["p_vaddr"]
            if seg["p_type"] == "PT_LOAD" and start <= addr < start + seg["p_filesz"]:
                off = addr - seg["p_vaddr"]
                return int.from_bytes(seg.data()[off : off + 4], "little")
    raise AssertionError(name)


def test_two_refs_two_elves_user_checkout_untouched(checkout, appdir, tmp_path):
    require_tool("arm-none-eabi-gcc")
    head, status = git(checkout, "rev-parse", "HEAD"), git(checkout, "status", "--porcelain")
    out = tmp_path / "build"
    before = deviceos.build(checkout, "v0.6.0", appdir=appdir, out_root=out)
    after = deviceos.build(checkout, "fix-1250", appdir=appdir, out_root=out)
    assert before.elf.name == after.elf.name == "multi-server.elf"
    assert before.elf.parent == before.appdir / "target"
    assert symbol_value(before.elf, "device_os_socket_fix") == 0
    assert symbol_value(after.elf, "device_os_socket_fix") == 1
    assert before.commit != after.commit and before.worktree != after.worktree
    assert before.worktree.parent == out / "worktrees"
    assert sorted(p.name for p in before.appdir.iterdir()) == ["app.cpp", "target"]
    # make ran in the ref's own worktree (the mini makefile refuses anything but
    # PLATFORM=photon MODULAR=n DEBUG_BUILD=y USE_SWD_JTAG=y, so this build proves the line)
    assert f"Entering directory '{before.worktree / 'main'}'" in before.log.read_text()
    # a monolithic .bin begins with the vector table: dfu-util writes it to 0x08020000
    assert dfu.image_region(before.bin.read_bytes()[:8]).address == 0x08020000
    assert git(checkout, "rev-parse", "HEAD") == head
    assert git(checkout, "status", "--porcelain") == status
    # submodules come from the user's own checkout, and their URLs in it are left alone
    assert (before.worktree / "proto" / "control.proto").is_file()
    assert git(checkout, "config", "submodule.proto.url") == "/nonexistent/firmware-protobuf.git"
    # a second build of the same ref reuses its worktree
    again = deviceos.build(checkout, "v0.6.0", appdir=appdir, out_root=out)
    assert again.worktree == before.worktree and again.elf == before.elf


def test_bad_ref_is_usage_error(checkout, appdir, tmp_path):
    with pytest.raises(UsageError, match="ref 'v9.9.9' is not a commit"):
        deviceos.build(checkout, "v9.9.9", appdir=appdir, out_root=tmp_path)
    with pytest.raises(UsageError, match="bad git ref"):
        deviceos.build(checkout, "--all", appdir=appdir, out_root=tmp_path)


def test_not_a_checkout(tmp_path, appdir):
    with pytest.raises(UsageError, match="not found"):
        deviceos.check_checkout(tmp_path / "nope")
    with pytest.raises(UsageError, match="not a git work tree"):
        deviceos.check_checkout(tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q")
    with pytest.raises(UsageError, match="main/makefile is missing"):
        deviceos.check_checkout(plain)


def test_missing_toolchain(checkout, appdir, tmp_path):
    with pytest.raises(ToolMissing) as err:
        deviceos.build(
            checkout,
            "v0.6.0",
            appdir=appdir,
            out_root=tmp_path,
            env={"PATH": str(tmp_path / "empty")},
        )
    assert err.value.exit_code == EXIT_USAGE and "arm-none-eabi-gcc" in str(err.value)


def test_failing_build_points_at_its_log(checkout, appdir, tmp_path):
    require_tool("arm-none-eabi-gcc")
    (appdir / "app.cpp").write_text("this is not C++\n")
    with pytest.raises(ToolFailure) as err:
        deviceos.build(checkout, "fix-1250", appdir=appdir, out_root=tmp_path)
    assert "make.log" in str(err.value) and "\n" not in str(err.value)


def test_cli_build_photon(checkout, appdir, tmp_path):
    require_tool("arm-none-eabi-gcc")
    env = dict(os.environ, PHOTONDBG_BUILD=str(tmp_path / "b"))
    cmd = [
        sys.executable,
        "-m",
        "photondbg",
        "build",
        "--target",
        "photon",
        "--device-os",
        str(checkout),
        "--appdir",
        str(appdir),
        "--json",
    ]
    res = subprocess.run(
        cmd + ["--ref", "fix-1250"], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["elf"].startswith(str(tmp_path / "b" / "device-os"))
    assert symbol_value(info["elf"], "device_os_socket_fix") == 1
    bad = subprocess.run(
        cmd + ["--ref", "nope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and bad.stderr.startswith("photondbg: error: ref 'nope'")
    assert bad.stderr.count("\n") == 1
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "photondbg",
            "build",
            "--target",
            "photon",
            "--device-os",
            str(tmp_path / "x"),
            "--ref",
            "v1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "checkout not found" in missing.stderr
