/* hookfile_rotation: the file at the hook file's path (hookfile_internal.h):
 * opened only as a regular file, the checkpoint's start checked against
 * it (same file, long enough, the fingerprint of the bytes before it),
 * and at end of file a truncation or a new file at the path noticed and
 * switched to. Returns 0 or -errno and never logs. */
#include "hookfile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_regular(const char *path, int *ret_fd, struct stat *ret_st)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd < 0)
                return -errno;
        if (fstat(fd, ret_st) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        if (!S_ISREG(ret_st->st_mode)) {
                close(fd);
                return -EINVAL;
        }
        *ret_fd = fd;
        return 0;
}

/* The bytes before the checkpoint are still the ones it saw (a checkpoint
 * of an earlier release has no fingerprint: trusted). */
static bool start_matches(const struct hookfile *h, const struct hookfile_position *s)
{
        unsigned char bytes[HOOKFILE_FINGERPRINT_MAX];
        ssize_t n;

        if (s->fingerprint_len == 0)
                return true;
        if (s->fingerprint_len > HOOKFILE_FINGERPRINT_MAX || s->fingerprint_len > s->offset)
                return false;
        do
                n = pread(h->fd, bytes, s->fingerprint_len, (off_t)(s->offset - s->fingerprint_len));
        while (n < 0 && errno == EINTR);
        return n == (ssize_t)s->fingerprint_len &&
               hookfile_fnv1a(bytes, (size_t)n) == s->fingerprint;
}

static void apply_start(struct hookfile *h, const struct stat *st, enum hookfile_event *event)
{
        const struct hookfile_position *s = &h->start_at;

        h->has_start = false;
        if ((uint64_t)st->st_dev != s->device || (uint64_t)st->st_ino != s->inode) {
                *event = HOOKFILE_EVENT_REPLACED;
                return;
        }
        if ((uint64_t)st->st_size < s->offset || !start_matches(h, s) ||
            lseek(h->fd, (off_t)s->offset, SEEK_SET) < 0) {
                *event = HOOKFILE_EVENT_TRUNCATED;
                return;
        }
        hookfile_reset_buffer(h, s->offset, s->line);
        /* What was before the checkpoint is what the next read checks. */
        if (s->fingerprint_len && s->fingerprint_len <= s->offset &&
            pread(h->fd, h->tail, s->fingerprint_len,
                  (off_t)(s->offset - s->fingerprint_len)) == (ssize_t)s->fingerprint_len)
                h->tail_len = s->fingerprint_len;
}

/* Opens the path if it exists now; leaves h->fd at -1 if it does not. */
int hookfile_open_current(struct hookfile *h, enum hookfile_event *event)
{
        struct stat st;
        int r;

        r = open_regular(h->path, &h->fd, &st);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        h->device = (uint64_t)st.st_dev;
        h->inode = (uint64_t)st.st_ino;
        hookfile_reset_buffer(h, 0, 1);
        if (h->has_start)
                apply_start(h, &st, event);
        hookfile_watch_file(h);
        return 0;
}

/* 1 when the file shrank below what we read and we restarted at 0. */
int hookfile_check_truncated(struct hookfile *h)
{
        struct stat st;

        if (fstat(h->fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size >= hookfile_read_offset(h))
                return 0;
        if (lseek(h->fd, 0, SEEK_SET) < 0)
                return -errno;
        hookfile_reset_buffer(h, 0, 1);
        return 1;
}

/* 1 when the path names another file now; it is opened into next_fd. A
 * missing path is a rotation not finished yet: keep the old file. */
int hookfile_check_replaced(struct hookfile *h)
{
        struct stat st;
        int fd, r;

        if (stat(h->path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if ((uint64_t)st.st_dev == h->device && (uint64_t)st.st_ino == h->inode)
                return 0;
        r = open_regular(h->path, &fd, &st);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if ((uint64_t)st.st_dev == h->device && (uint64_t)st.st_ino == h->inode) {
                close(fd);
                return 0;
        }
        h->next_fd = fd;
        h->next_device = (uint64_t)st.st_dev;
        h->next_inode = (uint64_t)st.st_ino;
        return 1;
}

void hookfile_switch_to_next(struct hookfile *h)
{
        close(h->fd);
        h->fd = h->next_fd;
        h->device = h->next_device;
        h->inode = h->next_inode;
        h->next_fd = -1;
        h->switch_pending = false;
        hookfile_reset_buffer(h, 0, 1);
        hookfile_watch_file(h);
}
