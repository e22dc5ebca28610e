/* fileio: atomic replace and directory sync (fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "fdio.h"

static int write_temp(const char *temp, const void *data, size_t len, mode_t mode,
                      unsigned flags)
{
        int fd, r;

        fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
        if (fd < 0)
                return -errno;
        r = fd_write_all(fd, data, len);
        if (r == 0 && (flags & FILE_REPLACE_SYNC) && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                (void)unlink(temp);
        return r;
}

int file_replace(const char *path, const char *temp, const void *data, size_t len, mode_t mode,
                 unsigned flags)
{
        int r;

        r = write_temp(temp, data, len, mode, flags);
        if (r < 0)
                return r;
        if (rename(temp, path) < 0) {
                r = -errno;
                (void)unlink(temp);
                return r;
        }
        return (flags & FILE_REPLACE_SYNC) ? file_sync_parent(path) : 0;
}

int file_sync_parent(const char *path)
{
        char copy[PATH_MAX];
        int fd, r = 0;

        if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
                return -ENAMETOOLONG;
        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}
