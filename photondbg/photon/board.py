"""Photon hardware facts, as data, in one place (the rest of photondbg reads them from here)."""

from __future__ import annotations

from dataclasses import dataclass

from photondbg.cortexm import faults

# USB identities (Device OS build/platform-id.mk, PLATFORM_ID 6 "photon").
USB_VID = 0x2B04
USB_PID_DFU = 0xD006  # bootloader in DFU mode (blinking yellow)
USB_PID_CDC = 0xC006  # application running, USB serial
DFU_ID = f"{USB_VID:04x}:{USB_PID_DFU:04x}"
# alt 0 "@Internal Flash /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"
DFU_ALT_INTERNAL_FLASH = 0
DFU_ALT_DCT = 1  # alt 1 "@DCT Flash /0x00000000/01*016Kg"

# STM32F205RG memory map as Device OS lays it out on a Photon.
FLASH_BASE, FLASH_SIZE, SRAM_BASE, SRAM_SIZE = faults.MEMORY_MAPS["stm32f205"]


@dataclass(frozen=True)
class FlashRegion:
    name: str
    address: int
    what: str


# Where an image goes. A modular user part (what `particle compile` returns) lives at 0x080A0000;
# a monolithic image (MODULAR=n, the debug build we make) replaces the system parts and starts
# at 0x08020000 (PLATFORM_DFU for STM32F2XX in Device OS build/platform-id.mk). The bootloader
# (0x08000000) and DCT (0x08004000) are never written by photondbg.
REGIONS = {
    "bootloader": FlashRegion("bootloader", 0x08000000, "Particle bootloader (never written)"),
    "monolithic": FlashRegion("monolithic", 0x08020000, "monolithic firmware (MODULAR=n)"),
    "system-part1": FlashRegion("system-part1", 0x08020000, "Device OS system part 1"),
    "system-part2": FlashRegion("system-part2", 0x08060000, "Device OS system part 2"),
    "user": FlashRegion("user", 0x080A0000, "modular user application"),
}

# SWD on the Photon's header (Particle debugger ribbon or ST-Link jumper wires).
SWD_PINS = [
    # (signal, Photon pin, probe side)
    ("SWDIO", "D7", "SWDIO / TMS"),
    ("SWCLK", "D6", "SWCLK / TCK"),
    ("3V3", "3V3", "VTref (target voltage sense)"),
    ("GND", "GND", "GND"),
    ("nRESET", "RST", "nRESET (optional, for connect-under-reset)"),
]

# OpenOCD probe interfaces we support: name -> (config file, the probe, its USB id).
INTERFACES = {
    "cmsis-dap": ("interface/cmsis-dap.cfg", "Particle Debugger (CMSIS-DAP)", "0d28:0204"),
    "stlink": ("interface/stlink.cfg", "ST-Link V2/V3", "0483:3748"),
}
TARGET_CFG = "target/stm32f2x.cfg"
CPU_NAME = "stm32f2x.cpu"

# Cortex-M3 debug facts (vector catch DEMCR bits with their OpenOCD names, DHCSR lock-up bit) are
# the core's, not the board's: one table in photondbg/cortexm/faults.py.
VECTOR_CATCH = faults.VECTOR_CATCH
DHCSR = faults.DHCSR
DHCSR_S_LOCKUP = 1 << dict(faults.DHCSR_BITS)["S_LOCKUP"]
DEMCR = faults.DEMCR
DFSR = faults.DFSR
DFSR_VCATCH = 1 << 3  # faults.FAULT_BITS row ("dfsr", "VCATCH", 3, ...)
