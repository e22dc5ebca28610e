/* clock: the monotonic time in milliseconds that the agent's waits,
 * deadlines and elapsed times are measured in (never the wall clock, which
 * may step). Cannot fail. */
#pragma once

#include <stdint.h>

uint64_t clock_now_ms(void);
