/* USART2 link: interrupt-driven RX ring, frame decoder with resync, polled TX.
 *
 * Byte-level flow control is the UART's: QEMU hands over the next byte only when RXNE is clear.
 * When the ring is full the ISR leaves the byte in DR and turns RXNEIE (and the NVIC line) off;
 * link_poll() turns them on again once frames have been taken out. */
#include <string.h>
#include "hw.h"
#include "link.h"
#include "concurrent_hal.h"

#define RING_SIZE 2048u            /* power of two, > one maximal frame */
#define RING_MASK (RING_SIZE - 1u)
#define FRAME_OVERHEAD 8u          /* sync 2 + header 4 + crc 2 */

static uint8_t ring[RING_SIZE];
static volatile uint32_t ring_head, ring_tail; /* head written by the ISR, tail by link_poll */
static volatile int rx_paused;
static link_handler_t handler_;
static uint8_t frame_buf[LINK_MAX_PAYLOAD];
link_stats_t link_stats;
os_event_t link_rx_event;   /* given by the RX interrupt: a waiting thread wakes up */

uint16_t link_crc16(uint16_t crc, const uint8_t *p, uint32_t n)
{
    while (n--) {
        crc ^= (uint16_t)(*p++) << 8;
        for (int i = 0; i < 8; i++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

void USART2_IRQHandler(void)
{
    while (USART_SR(USART2_BASE) & USART_SR_RXNE) {
        uint32_t next = (ring_head + 1u) & RING_MASK;
        if (next == ring_tail) {
            USART_CR1(USART2_BASE) &= ~USART_CR1_RXNEIE;
            irq_disable(USART2_IRQn);
            rx_paused = 1;
            link_stats.ring_full++;
            return;
        }
        ring[ring_head] = (uint8_t)USART_DR(USART2_BASE);
        ring_head = next;
    }
    os_event_give(&link_rx_event);
}

void link_init(link_handler_t handler)
{
    handler_ = handler;
    ring_head = ring_tail = 0;
    USART_BRR(USART2_BASE) = 0x1A1;
    USART_CR1(USART2_BASE) = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    NVIC_IPR_BYTE(USART2_IRQn) = 0x40;
    irq_enable(USART2_IRQn);
}

static uint32_t ring_count(void) { return (ring_head - ring_tail) & RING_MASK; }
static uint8_t ring_peek(uint32_t i) { return ring[(ring_tail + i) & RING_MASK]; }
static void ring_drop(uint32_t n) { ring_tail = (ring_tail + n) & RING_MASK; }

static void rx_resume(void)
{
    if (rx_paused && ring_count() < RING_SIZE - 1u) {
        rx_paused = 0;
        USART_CR1(USART2_BASE) |= USART_CR1_RXNEIE;
        irq_enable(USART2_IRQn);
    }
}

/* One frame out of the ring, if a whole one is there. Returns 0 when more bytes are needed. */
static int decode_one(void)
{
    for (;;) {
        uint32_t avail = ring_count();
        if (avail < 2)
            return 0;
        if (ring_peek(0) != LINK_SYNC0 || ring_peek(1) != LINK_SYNC1) {
            ring_drop(1);
            link_stats.hunted_bytes++;
            continue;
        }
        if (avail < 6)
            return 0;
        uint8_t hdr[4] = {ring_peek(2), ring_peek(3), ring_peek(4), ring_peek(5)};
        uint16_t len = (uint16_t)(hdr[2] | hdr[3] << 8);
        if (len > LINK_MAX_PAYLOAD) {
            link_stats.len_errors++;
            ring_drop(1); /* hunt again from the byte after the first sync byte */
            continue;
        }
        if (avail < FRAME_OVERHEAD + len)
            return 0;
        for (uint32_t i = 0; i < len; i++)
            frame_buf[i] = ring_peek(6 + i);
        uint16_t crc = link_crc16(0xFFFF, hdr, 4);
        crc = link_crc16(crc, frame_buf, len);
        uint16_t got = (uint16_t)(ring_peek(6 + len) | ring_peek(7 + len) << 8);
        if (crc != got) {
            link_stats.crc_errors++;
            ring_drop(1);
            continue;
        }
        ring_drop(FRAME_OVERHEAD + len);
        rx_resume();
        link_stats.frames_in++;
        if (handler_)
            handler_(hdr[0], hdr[1], frame_buf, len);
        return 1;
    }
}

void link_poll(void)
{
    while (decode_one())
        ;
    rx_resume();
}

static void tx(const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        while (!(USART_SR(USART2_BASE) & USART_SR_TXE))
            ;
        USART_DR(USART2_BASE) = p[i];
    }
}

void link_send(uint8_t type, uint8_t conn, const void *payload, uint16_t len)
{
    if (len > LINK_MAX_PAYLOAD)
        len = LINK_MAX_PAYLOAD;
    uint8_t head[6] = {LINK_SYNC0, LINK_SYNC1, type, conn, (uint8_t)len, (uint8_t)(len >> 8)};
    uint16_t crc = link_crc16(0xFFFF, head + 2, 4);
    crc = link_crc16(crc, (const uint8_t *)payload, len);
    uint8_t tail[2] = {(uint8_t)crc, (uint8_t)(crc >> 8)};
    /* only the main loop sends, so a frame is never interleaved with another */
    tx(head, 6);
    tx((const uint8_t *)payload, len);
    tx(tail, 2);
    link_stats.frames_out++;
}

void link_send_u8(uint8_t type, uint8_t conn, uint8_t v) { link_send(type, conn, &v, 1); }
