"""What a capture needs to know about a firmware ELF, read with pyelftools.

Checks that the file is a 32-bit ARM ELF with a symbol table (bad input -> UsageError, one line),
finds the vector table, the panic entry, the code ranges, and symbolizes addresses from the
symbol table and the DWARF line table.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from photondbg.cortexm import faults
from photondbg.cortexm.attributes import build_attributes
from photondbg.errors import UsageError

EM_ARM = "EM_ARM"
VECTOR_SECTIONS = (".isr_vector", ".vectors", ".vector_table", ".isr_vector_table", ".intvecs")
SHF_EXECINSTR = 0x4
SHF_ALLOC = 0x2


@dataclass(frozen=True)
class Symbol:
    name: str
    address: int  # without the Thumb bit
    size: int


@dataclass(frozen=True)
class Location:
    address: int
    function: str | None
    offset: int | None
    file: str | None
    line: int | None

    @property
    def where(self) -> str | None:
        return f"{self.file}:{self.line}" if self.file and self.line else None

    def as_dict(self) -> dict:
        return {
            "address": self.address,
            "function": self.function,
            "offset": self.offset,
            "file": self.file,
            "line": self.line,
        }


class ElfInfo:
    """A validated firmware ELF. Raises UsageError for anything photondbg cannot capture on."""

    def __init__(self, path: Path | str):
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection

        self.path = Path(path)
        if not self.path.exists():
            raise UsageError(f"ELF not found: {self.path}")
        if not self.path.is_file():
            raise UsageError(f"not a file: {self.path}")
        with open(self.path, "rb") as f:
            magic = f.read(4)
        if magic != b"\x7fELF":
            raise UsageError(f"{self.path} is not an ELF file")
        self._file = open(self.path, "rb")
        try:
            self.elf = ELFFile(self._file)
            machine = self.elf["e_machine"]
            if machine != EM_ARM or self.elf.elfclass != 32:
                raise UsageError(
                    f"{self.path} is a {machine} ({self.elf.elfclass}-bit) ELF, "
                    f"not 32-bit ARM Cortex-M firmware"
                )
            self._check_bare_metal_m()
            symtab = self.elf.get_section_by_name(".symtab")
            if not isinstance(symtab, SymbolTableSection) or symtab.num_symbols() == 0:
                raise UsageError(
                    f"{self.path} is stripped (no symbol table): capture needs an "
                    f"unstripped ELF built with -g"
                )
            self._load_symbols(symtab)
            self._load_sections()
        except ELFError as e:
            self.close()
            raise UsageError(f"{self.path} is not a readable ELF ({e})") from None
        except UsageError:
            self.close()
            raise
        self._lines: tuple[list[int], list[tuple[str, int]]] | None = None
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def close(self) -> None:
        try:
            self._file.close()
        except Exception:
            pass

    def _check_bare_metal_m(self) -> None:
        """A Linux ARM program or an A/R-profile image is the wrong architecture for a
        Cortex-M target: say so before QEMU runs it into the weeds."""
        if self.elf["e_type"] != "ET_EXEC" or any(
            seg["p_type"] == "PT_INTERP" for seg in self.elf.iter_segments()
        ):
            raise UsageError(
                f"{self.path} is an ARM {self.elf['e_type']} program for an "
                f"operating system, not bare-metal Cortex-M firmware"
            )
        profile = None
        try:
            for tag, value in build_attributes(self.elf):
                if tag == "TAG_CPU_ARCH_PROFILE":
                    profile = value
        except Exception:
            profile = None
        if profile in (ord("A"), ord("R")):
            raise UsageError(
                f"{self.path} is built for an ARM {chr(profile)}-profile CPU, "
                f"not a Cortex-M (M-profile)"
            )

    # -- symbols -------------------------------------------------------------------
    def _load_symbols(self, symtab) -> None:
        funcs: list[Symbol] = []
        objects: dict[str, Symbol] = {}
        self.by_name: dict[str, Symbol] = {}
        for sym in symtab.iter_symbols():
            kind = sym["st_info"]["type"]
            if not sym.name or sym["st_shndx"] == "SHN_UNDEF":
                continue
            if kind == "STT_FUNC":
                s = Symbol(sym.name, sym["st_value"] & ~1, sym["st_size"])
                funcs.append(s)
                self.by_name.setdefault(sym.name, s)
            elif kind in ("STT_OBJECT", "STT_NOTYPE"):
                objects.setdefault(sym.name, Symbol(sym.name, sym["st_value"], sym["st_size"]))
        for name, s in objects.items():
            self.by_name.setdefault(name, s)
        funcs.sort(key=lambda s: (s.address, -s.size))
        self.functions = funcs
        self._func_addrs = [s.address for s in funcs]

    def _load_sections(self) -> None:
        self.code_ranges: list[tuple[int, int]] = []
        self.sections = []
        for sec in self.elf.iter_sections():
            flags = sec["sh_flags"]
            if not flags & SHF_ALLOC or sec["sh_size"] == 0:
                continue
            self.sections.append(sec)
            if flags & SHF_EXECINSTR:
                self.code_ranges.append((sec["sh_addr"], sec["sh_addr"] + sec["sh_size"]))
        self.code_ranges.sort()

    def function_at(self, address: int) -> tuple[Symbol, int] | None:
        """(function symbol, offset) containing ``address`` (Thumb bit ignored)."""
        address &= ~1
        i = bisect.bisect_right(self._func_addrs, address) - 1
        while i >= 0:
            s = self.functions[i]
            if s.address <= address < s.address + max(s.size, 2):
                return s, address - s.address
            if s.address < address - 0x10000:
                break
            i -= 1
        return None

    def symbol(self, name: str) -> Symbol | None:
        return self.by_name.get(name)

    def in_code(self, address: int) -> bool:
        a = address & ~1
        return any(lo <= a < hi for lo, hi in self.code_ranges)

    # -- bytes -----------------------------------------------------------------------
    def read(self, address: int, length: int) -> bytes | None:
        """Bytes at ``address`` from a PROGBITS section of the file (None if not in the file)."""
        for sec in self.sections:
            lo = sec["sh_addr"]
            if (
                sec["sh_type"] == "SHT_PROGBITS"
                and lo <= address
                and address + length <= lo + sec["sh_size"]
            ):
                data = sec.data()
                return data[address - lo : address - lo + length]
        return None

    def vector_table(self, slots: int = 16) -> tuple[int, list[int]] | None:
        """(address, words) of the vector table: a named section, else the code at the
        lowest load address (where the core fetches SP and Reset after reset)."""
        sec = None
        for name in VECTOR_SECTIONS:
            sec = self.elf.get_section_by_name(name)
            if sec is not None and sec["sh_size"] >= 8:
                break
            sec = None
        if sec is None:
            loads = [
                s
                for s in self.elf.iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0
            ]
            if not loads:
                return None
            base = min(s["p_vaddr"] for s in loads)
            cands = [
                s for s in self.sections if s["sh_type"] == "SHT_PROGBITS" and s["sh_addr"] == base
            ]
            if not cands:
                return None
            sec = cands[0]
        data = sec.data()[: 4 * slots]
        words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data) - 3, 4)]
        return sec["sh_addr"], words

    def panic_entry(self) -> Symbol | None:
        for name in faults.PANIC_SYMBOLS:
            s = self.by_name.get(name)
            if s is not None and self.in_code(s.address):
                return s
        return None

    # -- DWARF lines -----------------------------------------------------------------
    def load_lines(self) -> tuple[list[int], list[tuple[str, int]]]:
        """Build the address -> (file, line) table once (slow part; call it before the fault)."""
        if self._lines is not None:
            return self._lines
        rows: list[tuple[int, str, int]] = []
        if self.elf.has_dwarf_info():
            try:
                dwarf = self.elf.get_dwarf_info()
                for cu in dwarf.iter_CUs():
                    lp = dwarf.line_program_for_CU(cu)
                    if lp is None:
                        continue
                    names = _file_names(lp, cu)
                    for entry in lp.get_entries():
                        st = entry.state
                        if st is None:
                            continue
                        if st.end_sequence:
                            rows.append((st.address, "", 0))
                        else:
                            rows.append((st.address, names.get(st.file, "?"), st.line))
            except Exception:
                pass
        rows.sort(key=lambda r: r[0])
        self._lines = ([r[0] for r in rows], [(r[1], r[2]) for r in rows])
        return self._lines

    def line_at(self, address: int) -> tuple[str, int] | None:
        addrs, vals = self.load_lines()
        i = bisect.bisect_right(addrs, address & ~1) - 1
        if i < 0:
            return None
        file, line = vals[i]
        if not file or not line:
            return None
        return file, line

    demangler: Callable[[str], str] | None = (
        None  # set by the engine: a callable mangled -> readable (GDB's `demangle`)
    )

    @overload
    def pretty(self, name: str) -> str: ...
    @overload
    def pretty(self, name: None) -> None: ...
    def pretty(self, name: str | None) -> str | None:
        """The readable name of a symbol (C++ names demangled when a demangler is set)."""
        if not name or not name.startswith("_Z") or self.demangler is None:
            return name
        cache = self.__dict__.setdefault("_pretty", {})
        if name not in cache:
            try:
                cache[name] = strip_params(self.demangler(name)) or name
            except Exception:
                cache[name] = name
        return cache[name]

    def locate(self, address: int) -> Location:
        fn = self.function_at(address)
        if fn is not None:
            fn = (Symbol(self.pretty(fn[0].name), fn[0].address, fn[0].size), fn[1])
        ln = self.line_at(address) if fn is not None or self.in_code(address) else None
        return Location(
            address,
            fn[0].name if fn else None,
            fn[1] if fn else None,
            ln[0] if ln else None,
            ln[1] if ln else None,
        )


def _file_names(lp, cu) -> dict[int, str]:
    """File index -> path for a line program (DWARF 2..5)."""
    hdr = lp.header
    version = hdr["version"]
    dirs = [
        d.decode(errors="replace") if isinstance(d, bytes) else str(d)
        for d in hdr.get("include_directory", [])
    ]
    out = {}
    for i, fe in enumerate(hdr.get("file_entry", [])):
        name = fe.name.decode(errors="replace") if isinstance(fe.name, bytes) else str(fe.name)
        d = fe.dir_index
        if version >= 5:
            base = dirs[d] if d < len(dirs) else ""
            idx = i
        else:
            base = dirs[d - 1] if 0 < d <= len(dirs) else ""
            idx = i + 1
        path = name if name.startswith("/") or not base else f"{base}/{name}"
        out[idx] = path
    return out


def strip_params(text: str) -> str:
    """'ns::f(int, char*) const' -> 'ns::f' (keeps '(anonymous namespace)::g')."""
    text = text.strip()
    if text.endswith(" const"):
        text = text[:-6]
    if not text.endswith(")"):
        return text
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                return text[:i]
    return text
