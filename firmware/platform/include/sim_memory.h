/* SIM-ONLY: the MPU regions that make unmapped accesses fault on QEMU netduino2 (sim_memory.c) */
#ifndef PHOTONDBG_SIM_MEMORY_H
#define PHOTONDBG_SIM_MEMORY_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct {
    const char *name;
    uint32_t base;
    uint8_t size_log2;            /* region of 2^size_log2 bytes, aligned to its size */
    uint8_t disabled_subregions;  /* bit n: the n-th eighth is not mapped */
    uint32_t attributes;          /* MPU_RASR memory type and XN bits */
} sim_region_t;
#define SIM_REGION_COUNT 7
extern const sim_region_t sim_mapped_regions[SIM_REGION_COUNT];
extern const char sim_memory_label[];
void sim_memory_map_init(void);
#ifdef __cplusplus
}
#endif
#endif
