/* text: checks on the short names an operator writes (Ceph users, pools,
 * volume types, KEK ids, file owners).
 *
 * The portable filename character set (POSIX): A-Z a-z 0-9 . _ -. A name
 * made of it needs no quoting anywhere the agent puts it: rbd specs, log
 * lines, file names, user and group names. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when each of the n bytes at s is in the portable filename
 * character set (n == 0: true; the callers bound the length). */
bool text_is_portable(const char *s, size_t n);
