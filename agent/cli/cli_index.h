/* cli_index: the `index` command family — list and rebuild the pool's
 * volume index (volume_index.h) — for operators. Returns the process exit
 * code (0 ok, 1 failure, 2 usage). */
#pragma once

#include "config/config.h"

int cli_index(const struct config *c, int argc, char **argv);
extern const char cli_index_usage[];
