"""Monolithic debug builds of our app against a local Device OS checkout, one git ref per variant.

``build(checkout, ref, appdir)``: checks the checkout (a git work tree with ``main/makefile``),
resolves the ref (``git rev-parse --verify REF^{commit}``), checks the toolchain, checks the ref
out into its own ``git worktree`` under the build directory (the user's checkout is never
touched), copies the app sources into a per-ref APPDIR and runs::

    make -C <worktree>/main PLATFORM=photon APPDIR=<appdir> MODULAR=n DEBUG_BUILD=y USE_SWD_JTAG=y

Device OS writes ``APPDIR/target/<name>.elf`` (+ .bin/.hex/.lst), ``<name>`` being APPDIR's
basename. Two refs — before and after Device OS PR #1250 — give the verify-fix variants on a
real Photon.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from photondbg import paths, tools
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.photon.run import run

MAKE_VARS = ["PLATFORM=photon", "MODULAR=n", "DEBUG_BUILD=y", "USE_SWD_JTAG=y"]
APP_SOURCES = (".cpp", ".c", ".h", ".hpp", ".ino", ".S")


@dataclass
class DeviceOsBuild:
    elf: Path
    bin: Path | None
    ref: str
    commit: str
    worktree: Path
    appdir: Path
    log: Path


# -- checks -------------------------------------------------------------------------------
def git_bin() -> str:
    path = tools.which("git")
    if path is None:
        raise ToolMissing("git", tools.BY_NAME["git"].package)
    return path


def check_checkout(path: Path | str) -> Path:
    """The top of a Device OS git work tree, or UsageError saying what is wrong."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise UsageError(f"Device OS checkout not found: {path}")
    res = run([git_bin(), "-C", str(path), "rev-parse", "--show-toplevel"], timeout=30)
    if not res.ok:
        raise UsageError(
            f"{path} is not a git work tree (clone https://github.com/particle-iot/device-os there)"
        )
    top = Path(res.stdout.strip())
    if not (top / "main" / "makefile").is_file():
        raise UsageError(f"{top} is not a Device OS checkout: main/makefile is missing")
    return top


def resolve_ref(checkout: Path, ref: str) -> str:
    """The commit id of ``ref`` in ``checkout`` (branch, tag or hash)."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"bad git ref {ref!r}")
    res = run(
        [git_bin(), "-C", str(checkout), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        timeout=30,
    )
    if not res.ok or not res.stdout.strip():
        raise UsageError(f"ref {ref!r} is not a commit in {checkout} (git fetch --tags? a typo?)")
    return res.stdout.strip()


def check_toolchain(env: dict | None = None) -> dict[str, str]:
    """arm-none-eabi-gcc and make on PATH (of ``env`` when given)."""
    search = (env or os.environ).get("PATH")
    found = {}
    for name in ("arm-none-eabi-gcc", "make"):
        path = shutil.which(name, path=search)
        if path is None:
            raise ToolMissing(name, tools.BY_NAME[name].package)
        found[name] = path
    return found


def app_dir(app: str) -> Path:
    """Our app's sources (shared with the sim build): firmware/apps/<app>/."""
    from photondbg import firmware

    return firmware.app_dir(app)


# -- argv (pure) ---------------------------------------------------------------------------
def make_argv(
    make: str, worktree: Path | str, appdir: Path | str, jobs: int | None = None
) -> list[str]:
    argv = [
        make,
        "-C",
        str(Path(worktree) / "main"),
        *MAKE_VARS[:1],
        f"APPDIR={appdir}",
        *MAKE_VARS[1:],
    ]
    if jobs:
        argv.append(f"-j{jobs}")
    return argv


def worktree_argv(git: str, checkout: Path | str, worktree: Path | str, commit: str) -> list[str]:
    return [git, "-C", str(checkout), "worktree", "add", "--detach", str(worktree), commit]


# -- the build -----------------------------------------------------------------------------
def ensure_worktree(checkout: Path, commit: str, root: Path) -> Path:
    """A detached work tree of ``commit`` under ``root``, made once and reused."""
    wt = root / commit[:12]
    git = git_bin()
    if wt.is_dir():
        head = run([git, "-C", str(wt), "rev-parse", "HEAD"], timeout=30)
        if head.ok and head.stdout.strip() == commit:
            return wt
        shutil.rmtree(wt)
        run([git, "-C", str(checkout), "worktree", "prune"], timeout=30)
    root.mkdir(parents=True, exist_ok=True)
    res = run(worktree_argv(git, checkout, wt, commit), timeout=600)
    if not res.ok:
        raise ToolFailure(f"git worktree add failed: {res.last_line()}")
    return wt


def submodules(worktree: Path) -> list[tuple[str, str]]:
    """(name, path) of every submodule the work tree's .gitmodules declares."""
    if not (worktree / ".gitmodules").is_file():
        return []
    res = run(
        [
            git_bin(),
            "config",
            "-f",
            str(worktree / ".gitmodules"),
            "--get-regexp",
            r"^submodule\..*\.path$",
        ],
        timeout=30,
    )
    found = []
    for line in res.stdout.splitlines():
        key, _, path = line.partition(" ")
        found.append((key[len("submodule.") : -len(".path")], path.strip()))
    return found


def fill_submodules(checkout: Path, worktree: Path) -> list[str]:
    """Check out the work tree's submodules from the user's own checkout, never from the
    network: a submodule the user has initialised is cloned from its local copy (``-c`` config
    only, so the user's .git/config is not changed). Returns what could not be filled; the
    build says so if it needs one of them."""
    missing = []
    git = git_bin()
    for name, path in submodules(worktree):
        if (worktree / path / ".git").exists():
            continue
        source = checkout / path
        if not (source / ".git").exists():
            missing.append(path)
            continue
        res = run(
            [
                git,
                "-C",
                str(worktree),
                "-c",
                "protocol.file.allow=always",
                "-c",
                f"submodule.{name}.url={source}",
                "submodule",
                "update",
                "--init",
                "--",
                path,
            ],
            timeout=600,
        )
        if not res.ok:
            missing.append(path)
    return missing


def stage_app(src: Path, dest: Path) -> Path:
    """Copy the app's sources (not its old target/) into ``dest``: Device OS writes
    ``APPDIR/target``, and our source tree stays clean."""
    if not src.is_dir():
        raise UsageError(f"application directory not found: {src}")
    sources = [p for p in src.iterdir() if p.is_file() and p.suffix in APP_SOURCES]
    if not sources:
        raise UsageError(f"no application sources ({', '.join(APP_SOURCES)}) in {src}")
    if dest.exists():
        for p in dest.iterdir():
            if p.is_file():
                p.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    for p in sources:
        shutil.copy2(p, dest / p.name)
    return dest


def find_elf(appdir: Path) -> Path | None:
    want = appdir / "target" / f"{appdir.name}.elf"
    if want.is_file():
        return want
    elves = sorted((appdir / "target").glob("*.elf")) if (appdir / "target").is_dir() else []
    return elves[0] if len(elves) == 1 else None


def build(
    checkout: Path | str,
    ref: str,
    *,
    app: str = "multi-server",
    appdir: Path | str | None = None,
    out_root: Path | None = None,
    jobs: int | None = None,
    timeout: float = 3600.0,
    env: dict | None = None,
) -> DeviceOsBuild:
    top = check_checkout(checkout)
    commit = resolve_ref(top, ref)
    toolchain = check_toolchain(env)
    src = Path(appdir) if appdir else app_dir(app)
    root = Path(out_root) if out_root else paths.build_dir() / "device-os"
    wt = ensure_worktree(top, commit, root / "worktrees")
    name = src.name if appdir else app
    staged = stage_app(src, root / "apps" / f"{name}-{commit[:12]}" / name)
    shutil.rmtree(staged / "target", ignore_errors=True)
    log = staged.parent / "make.log"
    unfilled = fill_submodules(top, wt)
    res = run(make_argv(toolchain["make"], wt, staged, jobs), timeout=timeout, env=env)
    note = (
        f"photondbg: submodules not initialised in {top} (left empty): {', '.join(unfilled)}\n"
        if unfilled
        else ""
    )
    log.write_text(note + res.output)
    if not res.ok:
        hint = (
            f"; submodules missing: {', '.join(unfilled)} (git submodule update --init in {top})"
            if unfilled
            else ""
        )
        raise ToolFailure(f"Device OS build of {ref} failed (log: {log}): {res.last_line()}{hint}")
    elf = find_elf(staged)
    if elf is None:
        raise ToolFailure(
            f"Device OS build of {ref} wrote no ELF under {staged / 'target'} (log: {log})"
        )
    binary = elf.with_suffix(".bin")
    return DeviceOsBuild(elf, binary if binary.is_file() else None, ref, commit, wt, staged, log)
