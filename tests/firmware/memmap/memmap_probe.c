/* Test firmware, not product code: touch each region of the STM32F205 memory map and say on
 * USART1 what happened (value read, fault taken, whether a store stuck), so the simulator's
 * memory semantics are measured, not assumed.  Built twice: as is (QEMU's own behaviour) and
 * with -DWITH_MPU, which runs the platform's sim_memory_map_init() first (firmware/platform).
 *
 * Every probe is one 16-bit instruction (ldr.n / str.n) or a blx; the fault handler records
 * CFSR/HFSR/MMFAR/BFAR, clears them and resumes after the probe. */
#include <stdint.h>
#include "hw.h"
#ifdef WITH_MPU
#include "sim_memory.h"
#endif

extern uint32_t _estack[], _sidata[], _sdata[], _edata[], _sbss[], _ebss[];

static volatile uint32_t faults, f_vector, f_cfsr, f_hfsr, f_mmfar, f_bfar, exec_probe;
static volatile uint32_t scratch = 0x11223344u;

#define P_READ  1u
#define P_WRITE 2u
#define P_EXEC  4u
#define P_EXEC_MPU 8u  /* jump there only with the MPU: QEMU would run through the zeros read */
#define P_SCRATCH 16u  /* the address of a variable in SRAM, filled in at run time */
typedef struct { uint32_t addr, what; } probe_t;

static const probe_t PROBES[] = {
    {0x00000000u, P_READ}, {0x000FFFFCu, P_READ}, {0x00100000u, P_READ | P_WRITE},
    {0x08000000u, P_READ | P_WRITE}, {0x080FFFFCu, P_READ}, {0x08100000u, P_READ | P_WRITE},
    {0x10000000u, P_READ | P_WRITE},
    {0x1FFF0000u, P_READ | P_WRITE}, {0x1FFF7800u, P_READ | P_WRITE}, {0x1FFFC000u, P_READ},
    {0x1FFFC010u, P_READ},
    {0, P_READ | P_WRITE | P_SCRATCH},
    {0x2001FFF0u, P_READ}, {0x20020000u, P_READ | P_WRITE},
    {0x40000000u, P_READ}, {0x40007800u, P_READ | P_WRITE}, {0x4000C000u, P_READ | P_WRITE},
    {0x40011000u, P_READ}, {0x40023800u, P_READ}, {0x40024000u, P_READ | P_WRITE},
    {0x40026800u, P_READ | P_WRITE}, {0x40080000u, P_READ | P_WRITE},
    {0x50000000u, P_READ}, {0x50060800u, P_READ}, {0x50070000u, P_READ | P_WRITE},
    {0x60000000u, P_READ | P_WRITE | P_EXEC_MPU}, {0x80000000u, P_READ | P_WRITE},
    {0x9FFFFFFCu, P_READ | P_WRITE},
    {0xA0000000u, P_READ | P_WRITE | P_EXEC}, {0xAE094710u, P_READ | P_WRITE | P_EXEC},
    {0xC0000000u, P_READ | P_WRITE}, {0xDFFFFFFCu, P_READ | P_WRITE},
    {0xE000ED00u, P_READ}, {0xE0001000u, P_READ}, {0xE0042000u, P_READ},
    {0xE0100000u, P_READ | P_WRITE | P_EXEC}, {0xF0000000u, P_READ | P_WRITE},
    {0xFFFFFFFCu, P_READ},
};

static void put(const char *s)
{
    for (; *s; s++) {
        while (!(USART_SR(USART1_BASE) & USART_SR_TXE))
            ;
        USART_DR(USART1_BASE) = (uint8_t)*s;
    }
}

static void hex(uint32_t v)
{
    char b[11] = "0x";
    for (int i = 0; i < 8; i++)
        b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    b[10] = 0;
    put(b);
}

static void say_fault(const char *what, uint32_t before)
{
    put(" ");
    put(what);
    put("=");
    if (faults == before) {
        put("none");
        return;
    }
    static const char *const NAMES[] = {"?", "?", "NMI", "HardFault", "MemManage", "BusFault",
                                        "UsageFault"};
    put(f_vector < 7 ? NAMES[f_vector] : "?");
    put(",cfsr=");
    hex(f_cfsr);
    put(",hfsr=");
    hex(f_hfsr);
    put(",mmfar=");
    hex(f_mmfar);
    put(",bfar=");
    hex(f_bfar);
}

void probe_fault(uint32_t *frame)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    f_vector = ipsr & 0x1FF;
    f_cfsr = SCB_CFSR;
    f_hfsr = SCB_HFSR;
    f_mmfar = SCB_MMFAR;
    f_bfar = SCB_BFAR;
    SCB_CFSR = f_cfsr;    /* write-one-to-clear */
    SCB_HFSR = f_hfsr;
    faults++;
    if (exec_probe)
        frame[6] = frame[5] & ~1u;   /* back to the caller of the blx */
    else
        frame[6] += 2;               /* past the 16-bit probe instruction */
}

__attribute__((naked)) void Fault_Handler(void)
{
    __asm volatile("tst lr, #4\n ite eq\n mrseq r0, msp\n mrsne r0, psp\n"
                   "push {lr}\n bl probe_fault\n pop {pc}\n");
}

static uint32_t rd(uint32_t a)
{
    register uint32_t r0 __asm("r0") = 0;
    register uint32_t r1 __asm("r1") = a;
    __asm volatile("ldr.n r0, [r1]" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void wr(uint32_t a, uint32_t v)
{
    register uint32_t r0 __asm("r0") = v;
    register uint32_t r1 __asm("r1") = a;
    __asm volatile("str.n r0, [r1]" : : "r"(r0), "r"(r1) : "memory");
}

static void ex(uint32_t a)
{
    register uint32_t r1 __asm("r1") = a | 1u;
    __asm volatile("blx r1" : : "r"(r1) : "r0", "r2", "r3", "r12", "lr", "memory");
}

int main(void)
{
    USART_CR1(USART1_BASE) = USART_CR1_UE | USART_CR1_TE;
    SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18);   /* MemManage, BusFault, UsageFault */
#ifdef WITH_MPU
    sim_memory_map_init();
    put("@memmap mpu=on type=");
    hex(MPU_TYPE);
    put("\r\n");
#else
    put("@memmap mpu=off\r\n");
#endif
    for (unsigned i = 0; i < sizeof PROBES / sizeof PROBES[0]; i++) {
        uint32_t a = PROBES[i].what & P_SCRATCH ? (uint32_t)&scratch : PROBES[i].addr;
        put("@mem ");
        hex(a);
        uint32_t before = faults;
        uint32_t v = rd(a);
        put(" read=");
        hex(faults == before ? v : 0);
        say_fault("rfault", before);
        if (PROBES[i].what & P_WRITE) {
            uint32_t pattern = v ^ 0x5A5A5A5Au;
            before = faults;
            wr(a, pattern);
            uint32_t wf = faults;
            say_fault("wfault", before);
            uint32_t back = rd(a);
            put(faults != wf ? " write=unreadable" : back == pattern ? " write=kept" : " write=dropped");
            if (back == pattern)
                wr(a, v);
        }
#ifdef WITH_MPU
        const uint32_t exec_mask = P_EXEC | P_EXEC_MPU;
#else
        const uint32_t exec_mask = P_EXEC;
#endif
        if (PROBES[i].what & exec_mask) {
            before = faults;
            exec_probe = 1;
            ex(a);
            exec_probe = 0;
            say_fault("xfault", before);
        }
        put("\r\n");
    }
    put("@memmap done\r\n");
    for (;;)
        __asm volatile("wfi");
}

void Reset_Handler(void)
{
    for (uint32_t *s = _sidata, *d = _sdata; d < _edata;)
        *d++ = *s++;
    for (uint32_t *d = _sbss; d < _ebss;)
        *d++ = 0;
    main();
}

__attribute__((section(".isr_vector"), used)) const void *const vectors[16] = {
    _estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler,
};
