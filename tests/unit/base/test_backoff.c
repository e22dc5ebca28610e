/* Unit tests for backoff.c. */
#include <limits.h>

#include "base/backoff.h"
#include "../unit.h"

TEST(backoff_doubles_up_to_the_cap)
{
        CHECK(backoff_next(500, 30000) == 1000);
        CHECK(backoff_next(1000, 30000) == 2000);
        CHECK(backoff_next(15000, 30000) == 30000);
        CHECK(backoff_next(16000, 30000) == 30000);
        CHECK(backoff_next(30000, 30000) == 30000);
}

/* An odd cap: half of it rounded down still decides as 2 * delay > cap. */
TEST(backoff_odd_cap_matches_doubling_compared_with_the_cap)
{
        for (unsigned d = 0; d < 40; d++)
                CHECK(backoff_next(d, 31) == (d * 2 > 31 ? 31 : d * 2));
}

TEST(backoff_never_wraps_and_caps_a_delay_above_the_cap)
{
        CHECK(backoff_next(UINT_MAX / 2 + 1, UINT_MAX) == UINT_MAX);
        CHECK(backoff_next(UINT_MAX, 100) == 100);
        CHECK(backoff_next(0, 100) == 0);
}
