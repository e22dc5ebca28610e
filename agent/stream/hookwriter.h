/* hookwriter: the writing end of the hook file, for the feed command.
 *
 * Appends groups of whole lines (each ending in '\n') to the file the path
 * names: one write(2) per group on an O_APPEND|O_CLOEXEC descriptor, then
 * fdatasync; a file it creates is mode 0600 and its directory is synced
 * too. A write that fails part-way has its cut-off last line removed
 * again, so readers (which never pass a line without its newline) only
 * ever see whole lines. Rotation by rename is followed: before each group
 * the path is checked, and a group written while the file was renamed
 * away is appended to the new file as well (a repeated line is harmless
 * to the roles, a lost one is not). One writer per hook file.
 * Returns 0 or a negative errno; nothing here logs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct hookwriter;

/* Opens (creating it if missing) path; -EINVAL when it is not a regular
 * file, -ELOOP for a symbolic link. */
int hookwriter_open(const char *path, struct hookwriter **ret);
void hookwriter_close(struct hookwriter *w);

/* Appends length bytes of whole lines and syncs them. */
int hookwriter_append(struct hookwriter *w, const char *data, size_t length);

/* How many fdatasync calls the appends made (for the feeder's summary). */
uint64_t hookwriter_syncs(const struct hookwriter *w);

const char *hookwriter_path(const struct hookwriter *w);
