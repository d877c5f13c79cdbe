/* A use-after-free through a C++ virtual call. A tiny allocator of our own (operator new and
 * delete over fixed 16-byte blocks, freed blocks reused first) hands the block of a freed
 * Sensor to a Message, whose first word (where Sensor's vtable pointer was) is a pointer to its
 * text. Calling sensor->read() through the stale pointer loads "the vtable" from the text and
 * branches to its first word, 0x706d6574 ("temp" as ASCII, even: no Thumb bit): UsageFault
 * INVSTATE with that garbage as the stacked PC. The stacked LR returns into poll_sensor, from
 * where poll_sensor -> sample_all -> main unwind by CFI. Built with g++ -fno-exceptions
 * -fno-rtti. Test fixture. */
#include "unwind_rig.h"

extern "C" {
USAGE_FAULT_VECTORS
}

typedef __SIZE_TYPE__ size_t;
const size_t BLOCK = 16;
static uint8_t pool[8][BLOCK] __attribute__((aligned(8)));
static void *free_list;
static unsigned used_blocks;

void *operator new(size_t size)
{
    if (size > BLOCK)
        for (;;) {}
    if (free_list) { /* the most recently freed block first */
        void *p = free_list;
        free_list = *(void **)p;
        return p;
    }
    return pool[used_blocks++];
}
void operator delete(void *p) noexcept
{
    *(void **)p = free_list;
    free_list = p;
}
void operator delete(void *p, size_t) noexcept { operator delete(p); }

class Sensor {
public:
    explicit Sensor(uint32_t channel) : channel_(channel) {}
    virtual uint32_t read() { return channel_ * 3; }
    virtual ~Sensor() {}

private:
    uint32_t channel_;
};

struct Message { /* no virtuals: its first word is plain data */
    const char *text;
    uint32_t length;
};

static const char temp_text[] = "temperature 21C";
volatile uint32_t total;
Message *volatile last_msg; /* kept: the allocation is real */

NOINLINE uint32_t poll_sensor(Sensor *s) { return s->read() + 1; }
NOINLINE void sample_all(void)
{
    Sensor *sensor = new Sensor(4);
    total += poll_sensor(sensor);
    delete sensor;                           /* ... but `sensor` is used again below */
    Message *msg = new Message{temp_text, sizeof temp_text - 1}; /* the same block */
    last_msg = msg;
    total += poll_sensor(sensor);            /* stale: the block is a Message now */
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    sample_all();
    return 0;
}
