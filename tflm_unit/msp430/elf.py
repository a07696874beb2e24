"""A minimal reader for the 32-bit little-endian ELF files the MSP430
toolchain writes: section sizes and addresses, and symbol addresses.

Reading the file directly (instead of parsing ``llvm-nm``/``llvm-size``
output) keeps the driver independent of those tools' output formats.
"""
from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

_SHT_SYMTAB = 2
_SHT_NOBITS = 8
_SHF_ALLOC = 0x2


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    address: int
    size: int
    allocated: bool  # occupies target memory (not debug info / attributes)
    has_bytes: bool  # False for NOLOAD sections (.bss, .noinit, .stack)
    file_offset: int  # where its bytes start in the ELF file


@dataclasses.dataclass(frozen=True)
class Symbol:
    name: str
    address: int
    size: int


@dataclasses.dataclass(frozen=True)
class ElfInfo:
    sections: dict[str, Section]
    symbols: dict[str, Symbol]  # defined symbols
    undefined: frozenset[str] = frozenset()  # referenced but not defined (objects)

    def address_of(self, name: str) -> int:
        """The address of a symbol; a clear error naming it if absent."""
        if name not in self.symbols:
            raise KeyError(f"symbol {name!r} is not defined in the MSP430 program "
                           "(declare it non-static, or check its spelling)")
        return self.symbols[name].address


def read_elf(path: str | Path) -> ElfInfo:
    """Sections and symbols of an ELF32 little-endian file (object or executable)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ValueError(f"{path} is not a 32-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)

    headers = []
    for index in range(shnum):
        fields = struct.unpack_from("<IIIIIIIIII", data, shoff + index * shentsize)
        headers.append(fields)  # name, type, flags, addr, offset, size, link, info, align, entsize

    def string_at(table_index: int, offset: int) -> str:
        table_offset = headers[table_index][4]
        end = data.index(b"\0", table_offset + offset)
        return data[table_offset + offset:end].decode("ascii", "replace")

    sections: dict[str, Section] = {}
    symbols: dict[str, Symbol] = {}
    undefined: set[str] = set()
    for name_offset, kind, flags, address, offset, size, link, _, _, entsize in headers:
        name = string_at(shstrndx, name_offset)
        if name:
            sections[name] = Section(name, address, size, bool(flags & _SHF_ALLOC),
                                     kind != _SHT_NOBITS, offset)
        if kind == _SHT_SYMTAB:
            for entry in range(offset, offset + size, entsize):
                sym_name, value, sym_size, _, _, shndx = struct.unpack_from("<IIIBBH", data, entry)
                if sym_name and shndx != 0:  # named and defined
                    symbol = Symbol(string_at(link, sym_name), value, sym_size)
                    symbols.setdefault(symbol.name, symbol)
                elif sym_name:
                    undefined.add(string_at(link, sym_name))
    return ElfInfo(sections, symbols, frozenset(undefined - symbols.keys()))
