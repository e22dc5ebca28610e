/* cli_keys: the `keys` command family for operators — show, verify,
 * audit, passphrase, rewrap — on top of the ceph, luks and keys modules.
 * Returns the process exit code (0 ok, 1 failure or finding, 2 usage). */
#pragma once

#include "config/config.h"

int cli_keys(const struct config *c, int argc, char **argv);
extern const char cli_keys_usage[];
