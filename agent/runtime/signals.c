/* signals: stop and reload flags (signals.h). */
#include "signals.h"

#include <stddef.h>

volatile sig_atomic_t signals_stop_requested;
volatile sig_atomic_t signals_reload_requested;

static void on_stop(int sig)
{
        (void)sig;
        signals_stop_requested = 1;
}

static void on_reload(int sig)
{
        (void)sig;
        signals_reload_requested = 1;
}

void signals_install(void)
{
        struct sigaction stop = {.sa_handler = on_stop}, reload = {.sa_handler = on_reload};

        /* No SA_RESTART: a signal must cut the hook-file wait short. */
        sigemptyset(&stop.sa_mask);
        sigemptyset(&reload.sa_mask);
        sigaction(SIGTERM, &stop, NULL);
        sigaction(SIGINT, &stop, NULL);
        sigaction(SIGHUP, &reload, NULL);
        signal(SIGPIPE, SIG_IGN);
}
