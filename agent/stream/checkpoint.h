/* checkpoint: the durable hook-file position under state_dir.
 *
 * Written by atomic replace (write temp, fsync, rename, fsync directory) so
 * a crash leaves either the old or the new position, never a torn one.
 * Returns 0 or negative errno; -ENOENT from checkpoint_load when none yet,
 * -EBADMSG when the file exists but is not a checkpoint. */
#pragma once

#include "hookfile.h"

int checkpoint_load(const char *state_dir, struct hookfile_position *ret);
int checkpoint_save(const char *state_dir, const struct hookfile_position *pos);
