/* fileio: files replaced atomically, directory entries made durable.
 * Functions return 0 or a negative errno and never log. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* file_replace: fsync the temporary file before the rename and the
 * directory after it (the checkpoint). Without it nothing is synced (the
 * health file: rewritten every few seconds, stale after a crash anyway). */
#define FILE_REPLACE_SYNC 1u

/* Replaces path with the len bytes of data: they are written to temp (a
 * path in the same directory; created with mode, truncated if there,
 * never through a symbolic link: O_NOFOLLOW), which is then renamed over
 * path. On a failure to open temp, -errno; on a failure to write, sync,
 * close or rename it, -errno and temp is removed, path left as it was.
 * With FILE_REPLACE_SYNC, a failure to sync the directory after the rename
 * is returned too, though path already holds the new bytes (it may not
 * survive a crash). */
int file_replace(const char *path, const char *temp, const void *data, size_t len, mode_t mode,
                 unsigned flags);

/* fsync of the directory holding path (a new or renamed entry in it made
 * durable): 0, -ENAMETOOLONG past PATH_MAX, or -errno of open/fsync. */
int file_sync_parent(const char *path);
