/* hookwriter: appending whole lines to the hook file (hookwriter.h). */
#include "hookwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"

struct hookwriter {
        char *path;
        int fd;
        dev_t device;
        ino_t inode;
        uint64_t syncs;
};

static int reopen(struct hookwriter *w)
{
        const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
        bool created = true;
        struct stat st;
        int fd, r = 0;

        fd = open(w->path, flags | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno == EEXIST) {
                created = false;
                fd = open(w->path, flags);
        }
        if (fd < 0)
                return -errno;
        /* A new file's directory entry is made durable too, or a crash
         * could lose the file with lines already acknowledged. */
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -EINVAL;
        else if (created)
                r = file_sync_parent(w->path);
        if (r < 0) {
                close(fd);
                return r;
        }
        if (w->fd >= 0)
                close(w->fd);
        w->fd = fd;
        w->device = st.st_dev;
        w->inode = st.st_ino;
        return 0;
}

/* 1 when the path no longer names our file (renamed away, replaced). */
static int moved(const struct hookwriter *w)
{
        struct stat st;

        if (stat(w->path, &st) < 0)
                return errno == ENOENT ? 1 : -errno;
        return st.st_dev != w->device || st.st_ino != w->inode;
}

/* After a failed write, cuts off the piece of a line it left at the end.
 * Whole lines stay: the broker delivers them again, a repeat is harmless. */
static void cut_partial_line(int fd, const char *data, size_t written)
{
        size_t keep = written;
        struct stat st;

        while (keep > 0 && data[keep - 1] != '\n')
                keep--;
        if (keep == written || fstat(fd, &st) < 0 || (uint64_t)st.st_size < written - keep)
                return;
        if (ftruncate(fd, st.st_size - (off_t)(written - keep)) < 0)
                return; /* nothing better to do; the caller reports the write's errno */
}

/* One write(2) (more only after a short write), then fdatasync. */
static int write_and_sync(struct hookwriter *w, const char *data, size_t length)
{
        size_t done = 0;

        while (done < length) {
                ssize_t n = write(w->fd, data + done, length - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -ENOSPC;

                        cut_partial_line(w->fd, data, done);
                        return r;
                }
                done += (size_t)n;
        }
        w->syncs++;
        return fdatasync(w->fd) < 0 ? -errno : 0;
}

int hookwriter_open(const char *path, struct hookwriter **ret)
{
        struct hookwriter *w;
        int r;

        if (!path || path[0] == '\0' || !ret)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fd = -1;
        w->path = strdup(path);
        r = w->path ? reopen(w) : -ENOMEM;
        if (r < 0) {
                hookwriter_close(w);
                return r;
        }
        *ret = w;
        return 0;
}

void hookwriter_close(struct hookwriter *w)
{
        if (!w)
                return;
        if (w->fd >= 0)
                close(w->fd);
        free(w->path);
        free(w);
}

int hookwriter_append(struct hookwriter *w, const char *data, size_t length)
{
        int r;

        if (length == 0)
                return 0;
        r = w->fd < 0 ? 1 : moved(w);
        if (r > 0)
                r = reopen(w);
        if (r == 0)
                r = write_and_sync(w, data, length);
        if (r == 0)
                r = moved(w);
        if (r > 0) {
                /* Renamed while we wrote: the reader may be done with it. */
                r = reopen(w);
                if (r == 0)
                        r = write_and_sync(w, data, length);
        }
        return r;
}

uint64_t hookwriter_syncs(const struct hookwriter *w)
{
        return w ? w->syncs : 0;
}

const char *hookwriter_path(const struct hookwriter *w)
{
        return w ? w->path : NULL;
}
