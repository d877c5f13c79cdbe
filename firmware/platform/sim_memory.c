/* SIM-ONLY: silicon memory semantics on QEMU netduino2.
 *
 * On an STM32F205 an access to an address where nothing is mapped ends in a bus error: a precise
 * BusFault (CFSR.PRECISERR + BFAR) for a load or store, an instruction-fetch BusFault (IBUSERR)
 * for a jump there; Device OS enables no configurable fault handlers, so both escalate to
 * HardFault (HFSR.FORCED).  QEMU 7.2's netduino2 instead reads unmapped addresses as 0 and drops
 * the stores, without any fault (measured: docs/sim-memory.md, tests/firmware/test_sim_memory.py).
 * That hides exactly the faults a garbage pointer makes on the board.
 *
 * Remedy: the Cortex-M3 MPU (which QEMU models, PMSAv7, 8 regions) is programmed with regions that
 * cover the F205's mapped memory (RM0033 section 2.3, memory map) and the background region off
 * (PRIVDEFENA=0): an access outside every region then faults as MemManage (DACCVIOL with MMFAR
 * for data, IACCVIOL for a fetch), escalated to HardFault like the board's BusFault.  The fault
 * *class* differs from silicon (MemManage instead of BusFault) and the report says so
 * (photondbg/sim/facts.py).  The system control space (0xE000E000..) stays reachable whatever the
 * MPU says (ARMv7-M); the map also holds in HardFault and NMI (HFNMIENA=1), as bus errors do.
 * Access rights are full everywhere: the regions model *where memory is*, not protection. */
#include <stdint.h>
#include "hw.h"
#include "sim_memory.h"

/* the label the firmware prints at boot; photondbg/sim/facts.py carries the same text */
const char sim_memory_label[] = "sim: unmapped access modelled as MemManage via MPU "
                                "(STM32F205 silicon: BusFault)";

#define RASR_XN          (1u << 28)
#define RASR_AP_FULL     (3u << 24)
#define RASR_NORMAL_WT   (1u << 17)              /* TEX=0 C=1 B=0: normal memory (flash, SRAM) */
#define RASR_DEVICE      (1u << 16)              /* TEX=0 C=0 B=1: shared device (peripherals) */
#define RASR_SRD(mask)   ((uint32_t)(mask) << 8) /* disabled 1/8th subregions */
#define RASR_SIZE(log2)  ((uint32_t)((log2) - 1) << 1)
#define RASR_ENABLE      1u

/* STM32F205RG memory that answers (RM0033 2.3; DS F205xx memory map); everything else faults.
 * MPU regions are power-of-two sized and aligned; subregions trim the peripheral blocks. */
const sim_region_t sim_mapped_regions[SIM_REGION_COUNT] = {
    /* boot alias of the main flash at 0 (BOOT0=0, as on the Photon) */
    {"code alias", 0x00000000u, 20, 0, RASR_NORMAL_WT},
    {"flash", 0x08000000u, 20, 0, RASR_NORMAL_WT},
    /* system memory 0x1FFF0000-0x1FFF77FF and OTP 0x1FFF7800-0x1FFF7A0F: one 32 KiB region
     * (its last 1.5 KiB are reserved on silicon; an MPU subregion is 4 KiB) */
    {"system memory + OTP", 0x1FFF0000u, 15, 0, RASR_NORMAL_WT},
    {"option bytes", 0x1FFFC000u, 5, 0, RASR_NORMAL_WT},
    {"SRAM", 0x20000000u, 17, 0, RASR_NORMAL_WT},
    /* APB1 0x40000000-0x40007FFF, APB2 0x40010000-0x40016BFF, AHB1 0x40020000-0x4007FFFF
     * (incl. backup SRAM 0x40024000): one 512 KiB region; its 64 KiB subregions are too coarse
     * to leave out the reserved slots between and inside the buses */
    {"APB1/APB2/AHB1 peripherals", 0x40000000u, 19, 0, RASR_DEVICE | RASR_XN},
    /* AHB2: USB OTG FS 0x50000000, DCMI 0x50050000, RNG 0x50060800: 512 KiB, last 1/8 off */
    {"AHB2 peripherals", 0x50000000u, 19, 0x80, RASR_DEVICE | RASR_XN},
    /* FSMC (0x60000000-0x9FFFFFFF banks, 0xA0000000 control registers) is not bonded out on the
     * 64-pin STM32F205RG of the Photon: nothing is mapped there; neither above 0xA0001000. */
};

void sim_memory_map_init(void)
{
    MPU_CTRL = 0;
    for (uint32_t i = 0; i < SIM_REGION_COUNT; i++) {
        const sim_region_t *r = &sim_mapped_regions[i];
        MPU_RNR = i;
        MPU_RBAR = r->base;
        MPU_RASR = r->attributes | RASR_AP_FULL | RASR_SRD(r->disabled_subregions) |
                   RASR_SIZE(r->size_log2) | RASR_ENABLE;
    }
    /* PRIVDEFENA=0: no background region.  HFNMIENA=1: the map holds in HardFault and NMI too,
     * because silicon's bus errors do: an unmapped load inside HardFault (e.g. the 0.6.x
     * handler's unchecked [psp,#24] with a corrupt PSP) cannot be taken and locks the core up,
     * where QEMU without it would read 0 and go on (measured). */
    MPU_CTRL = MPU_CTRL_ENABLE | MPU_CTRL_HFNMIENA;
    __asm volatile("dsb\n isb" ::: "memory");
}
