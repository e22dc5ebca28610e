/* Unit tests for clock.c. */
#include <unistd.h>

#include "base/clock.h"
#include "../unit.h"

TEST(clock_is_monotonic_milliseconds)
{
        uint64_t before = clock_now_ms(), after;

        usleep(20 * 1000);
        after = clock_now_ms();
        CHECK(after >= before + 19);
        CHECK(after < before + 10000);
}
