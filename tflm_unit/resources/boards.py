"""MCU board presets: memories and reserves, turned into a ``Budget``."""

from __future__ import annotations

import dataclasses

from tflm_unit.resources.budget import Budget


@dataclasses.dataclass(frozen=True)
class Board:
    """An MCU board: its memories and how much of them the model's tensors may use.

    ``ram_reserve_bytes`` is kept free for the stack, the TFLM interpreter's persistent structures
    and the application; ``flash_reserve_bytes`` for code (TFLM kernels are ~20-60 KB).
    """

    name: str
    core: str
    sram_bytes: int
    flash_bytes: int
    ram_reserve_bytes: int
    flash_reserve_bytes: int
    source: str

    def budget(self, macs: int | None = None, ram_reserve_bytes: int | None = None,
               flash_reserve_bytes: int | None = None) -> Budget:
        ram_reserve = self.ram_reserve_bytes if ram_reserve_bytes is None else ram_reserve_bytes
        flash_reserve = self.flash_reserve_bytes if flash_reserve_bytes is None else flash_reserve_bytes
        return Budget(macs=macs, flash_bytes=self.flash_bytes - flash_reserve,
                      peak_ram_bytes=self.sram_bytes - ram_reserve)


#: Board presets. Figures from the vendors' datasheets named in ``source``.
BOARDS: dict[str, Board] = {
    "msp430fr5994": Board(
        name="MSP430FR5994", core="MSP430X 16-bit, 16 MHz", sram_bytes=8 * 1024,
        flash_bytes=256 * 1024, ram_reserve_bytes=2 * 1024, flash_reserve_bytes=32 * 1024,
        source="TI MSP430FR599x datasheet (SLASE54): 256 KB FRAM, 8 KB SRAM (+4 KB LEA RAM, "
               "not counted). Reserve: 2 KB stack/runtime, 32 KB code."),
    "stm32f446re": Board(
        name="STM32F446RE (NUCLEO-F446RE)", core="Cortex-M4F, 180 MHz", sram_bytes=128 * 1024,
        flash_bytes=512 * 1024, ram_reserve_bytes=16 * 1024, flash_reserve_bytes=96 * 1024,
        source="ST STM32F446xC/E datasheet (DS10693): 512 KB flash, 128 KB SRAM (112+16 KB). "
               "Reserve: 16 KB stack/TFLM persistent, 96 KB TFLM+application code."),
    "stm32f746ng": Board(
        name="STM32F746NG (32F746GDISCOVERY)", core="Cortex-M7, 216 MHz", sram_bytes=320 * 1024,
        flash_bytes=1024 * 1024, ram_reserve_bytes=32 * 1024, flash_reserve_bytes=128 * 1024,
        source="ST STM32F745xx/STM32F746xx datasheet (DS10916): 1 MB flash, 320 KB SRAM "
               "(incl. 64 KB DTCM). Reserve: 32 KB stack/TFLM persistent, 128 KB code."),
}


def get_board(name: str) -> Board:
    """A board preset by (case-insensitive) name."""
    key = name.lower().replace("-", "").replace("_", "")
    for board_key, board in BOARDS.items():
        if key == board_key or key == board.name.lower():
            return board
    raise KeyError(f"Unknown board {name!r}; known boards: {', '.join(BOARDS)}. "
                   "For another board build a Budget(flash_bytes=..., peak_ram_bytes=...) yourself.")
