/* Unit tests for signals.c, in a child process so the runner keeps its
 * own signal dispositions. */
#include <signal.h>

#include "runtime/signals.h"
#include "../unit.h"

static int flags_follow_signals(void)
{
        signals_install();
        if (signals_stop_requested || signals_reload_requested)
                return 1;
        raise(SIGHUP);
        if (!signals_reload_requested || signals_stop_requested)
                return 2;
        raise(SIGTERM);
        if (!signals_stop_requested)
                return 3;
        signals_stop_requested = 0;
        raise(SIGINT);
        if (!signals_stop_requested)
                return 4;
        /* Ignored: a write to a closed pipe is an EPIPE return, not death. */
        raise(SIGPIPE);
        return 0;
}

TEST(signals_set_the_stop_and_reload_flags)
{
        CHECK(unit_in_child(flags_follow_signals));
}
