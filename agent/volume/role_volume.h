/* role_volume: the volume role — hook file in, formatted volumes out.
 *
 * The reader (the calling thread) takes lines in order, settles on the spot
 * what needs no Ceph (rejects, ignored types, skipped volume types) and
 * queues volume.create.end events for a pool of workers. A line's position
 * is checkpointed only when it and every line before it has ended, so a
 * restart resumes exactly after the last fully handled event. Each ending
 * is recorded in results.jsonl before its checkpoint moves.
 *
 * Both functions return the process exit code: 0 when every event ended
 * formatted or deliberately skipped, 1 otherwise (or on a setup failure,
 * which they log). */
#pragma once

#include <stdbool.h>

#include "config/config.h"

int role_volume_run(const struct config *c, bool once);
int role_volume_format_one(const struct config *c, const char *volume_id);
