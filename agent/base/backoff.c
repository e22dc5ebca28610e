/* backoff: the doubling wait (backoff.h). */
#include "backoff.h"

unsigned backoff_next(unsigned delay_ms, unsigned max_ms)
{
        /* Compared with half the cap, so doubling cannot wrap around. */
        return delay_ms > max_ms / 2 ? max_ms : delay_ms * 2;
}
