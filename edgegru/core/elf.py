"""The loadable segments and symbols of an ELF file, for the instruction counters.

Two counters load a program compiled here into unicorn and call its functions: the
Cortex-M firmware (32-bit Arm, ``targets/cortex_m/icount.py``) and the aarch64 engine
(64-bit, ``engine/icount.py``). Both need the same three things from the file (what to load
where, and the address and size of named symbols), so one small reader serves both classes
of ELF; it reads only what those programs contain and is not a general ELF library.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from edgegru.core.errors import EdgeGruError

MACHINE_ARM = 40
MACHINE_AARCH64 = 183
_PT_LOAD = 1
_SHT_SYMTAB = 2


@dataclass(frozen=True)
class _Layout:
    """Where an ELF class keeps the fields read here (offsets and struct formats)."""

    offsets_at: int  # e_phoff, e_shoff
    offsets: str
    counts_at: int  # e_phentsize, e_phnum, e_shentsize, e_shnum
    program: str  # a program header's p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz
    program_fields: tuple[int, ...]  # their indices in the unpacked header
    section: str
    symbol: str  # a symbol's st_name, st_value, st_size
    symbol_fields: tuple[int, ...]


_LAYOUTS = {
    32: _Layout(28, "<II", 42, "<8I", (0, 1, 2, 3, 4, 5), "<10I", "<IIIBBH", (0, 1, 2)),
    64: _Layout(0x20, "<QQ", 0x36, "<IIQQQQQQ", (0, 2, 3, 4, 5, 6), "<IIQQQQIIQQ", "<IBBHQQ", (0, 4, 5)),
}


@dataclass(frozen=True)
class Segment:
    """A loadable segment: its bytes in the file, stored at ``load_address`` (p_paddr: where
    a firmware's .data copy sits in flash) and seen by the program at ``run_address``
    (p_vaddr), ``memory_size`` bytes long there (the rest, .bss, zeros)."""

    load_address: int
    run_address: int
    data: bytes
    memory_size: int

    def in_memory(self) -> bytes:
        """The segment as the program sees it at start: its bytes, then zeros."""
        return self.data + bytes(self.memory_size - len(self.data))


@dataclass(frozen=True)
class Symbol:
    address: int
    size: int


@dataclass(frozen=True)
class ElfImage:
    """The loadable segments and named symbols of a little-endian ELF file."""

    segments: tuple[Segment, ...]
    symbols: dict[str, Symbol]

    @classmethod
    def read(cls, path: Path, bits: int, machine: int, what: str) -> ElfImage:
        """Read ``path``, a ``bits``-bit little-endian ELF file for ``machine`` (``what`` names
        the file in errors: "the firmware", "the engine image")."""
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise EdgeGruError(f"{path}: cannot read {what} ({error.strerror})") from None
        if data[:4] != b"\x7fELF" or len(data) < 6 or data[4] != bits // 32 or data[5] != 1:
            raise EdgeGruError(f"{path}: not a {bits}-bit little-endian ELF file")
        (found,) = struct.unpack_from("<H", data, 18)
        if found != machine:
            raise EdgeGruError(f"{path}: ELF machine {found}, expected {machine}")
        try:
            return cls._parse(data, _LAYOUTS[bits])
        except (struct.error, ValueError, IndexError):
            raise EdgeGruError(f"{path}: truncated or corrupt ELF file") from None

    @classmethod
    def _parse(cls, data: bytes, layout: _Layout) -> ElfImage:
        phoff, shoff = struct.unpack_from(layout.offsets, data, layout.offsets_at)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, layout.counts_at)
        segments = []
        for i in range(phnum):
            fields = struct.unpack_from(layout.program, data, phoff + i * phentsize)
            p_type, offset, vaddr, paddr, filesz, memsz = (fields[k] for k in layout.program_fields)
            if p_type == _PT_LOAD:
                segments.append(Segment(paddr, vaddr, data[offset : offset + filesz], memsz))
        sections = [struct.unpack_from(layout.section, data, shoff + i * shentsize) for i in range(shnum)]
        symbols: dict[str, Symbol] = {}
        for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
            if sh_type != _SHT_SYMTAB:
                continue
            strings = sections[link][4]
            for pos in range(offset, offset + size, entsize):
                fields = struct.unpack_from(layout.symbol, data, pos)
                name_at, value, st_size = (fields[k] for k in layout.symbol_fields)
                name = data[strings + name_at : data.index(b"\0", strings + name_at)].decode()
                if name:
                    symbols[name] = Symbol(value, st_size)
        return cls(tuple(segments), symbols)

    def load_address_of(self, address: int) -> int:
        """Where the initial value of the byte the program sees at ``address`` is stored."""
        for seg in self.segments:
            if seg.run_address <= address < seg.run_address + len(seg.data):
                return seg.load_address + (address - seg.run_address)
        raise EdgeGruError(
            f"address {address:#x} has no initial value in the ELF image: a zero-initialised "
            "variable (.bss) is cleared at reset; give it a non-zero initialiser or put it "
            'in .data (__attribute__((section(".data"))))'
        )
