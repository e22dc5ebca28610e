/* signals: what the daemons' loops (both roles, `feed`) are told from
 * outside — stop (SIGTERM, SIGINT) and reload (SIGHUP) — as flags the
 * loops read, and SIGPIPE ignored so a closed peer is an error return.
 * Nothing here logs; each loop says what it does about a flag. */
#pragma once

#include <signal.h>

/* Set by SIGTERM/SIGINT (installed by signals_install). */
extern volatile sig_atomic_t signals_stop_requested;
/* Set by SIGHUP; the role clears it when it has acted on it. */
extern volatile sig_atomic_t signals_reload_requested;

/* Installs the handlers without SA_RESTART, so a signal cuts a blocking
 * wait short (the hook-file wait, a broker receive). */
void signals_install(void);
