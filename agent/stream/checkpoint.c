/* checkpoint: the hook-file position in state_dir/checkpoint (checkpoint.h).
 *
 * The file is one line, exactly
 *     v1 dev=<u64> ino=<u64> offset=<u64> line=<u64>[ fp=<n>:<16 hex>]\n
 * (fp: the fingerprint of the n bytes before offset, hookfile.h; absent in
 * checkpoints of earlier releases) with plain decimal numbers (no sign, no leading zeros), offset at most
 * INT64_MAX and line at least 1. Anything else, including extra bytes,
 * is -EBADMSG: a position we cannot trust is worse than none, and the
 * caller decides what to do. Returns 0 or -errno, never logs. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fdio.h"

#define CHECKPOINT_NAME "checkpoint"
#define CHECKPOINT_TEMP_NAME "checkpoint.tmp"
/* The longest valid line is 107 bytes (four 20-digit numbers). */
#define CHECKPOINT_MAX_BYTES 192

static int build_path(char *buf, size_t size, const char *dir, const char *name)
{
        int n = snprintf(buf, size, "%s/%s", dir, name);

        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

static int parse_number(const char **p, const char *label, char terminator, uint64_t *ret)
{
        size_t label_length = strlen(label);
        const char *s = *p;
        uint64_t v = 0;

        if (strncmp(s, label, label_length) != 0)
                return -EBADMSG;
        s += label_length;
        if (*s < '0' || *s > '9' || (*s == '0' && s[1] >= '0' && s[1] <= '9'))
                return -EBADMSG;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned digit = (unsigned)(*s - '0');

                if (v > (UINT64_MAX - digit) / 10)
                        return -EBADMSG;
                v = v * 10 + digit;
        }
        if (*s != terminator)
                return -EBADMSG;
        *p = s + 1;
        *ret = v;
        return 0;
}

/* "line=L\n", or "line=L fp=N:HEX\n" (N bytes, 16 hex digits); a
 * checkpoint of an earlier release has no fp. */
static int parse_fingerprint_line(const char **p, struct hookfile_position *pos)
{
        uint64_t len = 0, fp = 0;
        const char *s;
        int r;

        pos->fingerprint_len = 0;
        pos->fingerprint = 0;
        if (parse_number(p, "line=", '\n', &pos->line) == 0)
                return 0;
        r = parse_number(p, "line=", ' ', &pos->line);
        if (r == 0)
                r = parse_number(p, "fp=", ':', &len);
        if (r < 0)
                return r;
        if (len == 0 || len > HOOKFILE_FINGERPRINT_MAX)
                return -EBADMSG;
        s = *p;
        for (int i = 0; i < 16; i++, s++) {
                int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;

                if (d < 0)
                        return -EBADMSG;
                fp = fp << 4 | (uint64_t)d;
        }
        if (*s != '\n')
                return -EBADMSG;
        *p = s + 1;
        pos->fingerprint_len = (uint32_t)len;
        pos->fingerprint = fp;
        return 0;
}

static int parse(const char *buf, size_t length, struct hookfile_position *ret)
{
        struct hookfile_position pos;
        const char *p = buf;
        int r;

        if (strncmp(p, "v1 ", 3) != 0)
                return -EBADMSG;
        p += 3;
        r = parse_number(&p, "dev=", ' ', &pos.device);
        if (r == 0)
                r = parse_number(&p, "ino=", ' ', &pos.inode);
        if (r == 0)
                r = parse_number(&p, "offset=", ' ', &pos.offset);
        if (r == 0)
                r = parse_fingerprint_line(&p, &pos);
        if (r < 0)
                return r;
        /* An embedded NUL or trailing bytes show up as a short parse. */
        if ((size_t)(p - buf) != length || pos.line == 0 || pos.offset > INT64_MAX)
                return -EBADMSG;
        *ret = pos;
        return 0;
}

/* Reads the whole file into buf (NUL-terminated). Filling buf means the
 * file is longer than any checkpoint can be: -EBADMSG without reading on. */
static int read_small(int fd, char *buf, size_t size, size_t *ret_length)
{
        size_t length = 0;
        ssize_t n;

        for (;;) {
                n = read(fd, buf + length, size - 1 - length);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                length += (size_t)n;
                if (length == size - 1)
                        return -EBADMSG;
        }
        buf[length] = '\0';
        *ret_length = length;
        return 0;
}

int checkpoint_load(const char *state_dir, struct hookfile_position *ret)
{
        char path[PATH_MAX];
        char buf[CHECKPOINT_MAX_BYTES + 1];
        size_t length = 0;
        int fd, r;

        r = build_path(path, sizeof(path), state_dir, CHECKPOINT_NAME);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = read_small(fd, buf, sizeof(buf), &length);
        close(fd);
        if (r < 0)
                return r;
        return parse(buf, length, ret);
}

static int write_temp(const char *path, const char *text, size_t length)
{
        int fd, r;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        r = fd_write_all(fd, text, length);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                (void)unlink(path);
        return r;
}

static int sync_directory(const char *dir)
{
        int fd, r = 0;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

int checkpoint_save(const char *state_dir, const struct hookfile_position *pos)
{
        char path[PATH_MAX], temp[PATH_MAX];
        char text[CHECKPOINT_MAX_BYTES];
        int length, r;

        if (pos->line == 0 || pos->offset > INT64_MAX)
                return -EINVAL;
        r = build_path(path, sizeof(path), state_dir, CHECKPOINT_NAME);
        if (r == 0)
                r = build_path(temp, sizeof(temp), state_dir, CHECKPOINT_TEMP_NAME);
        if (r < 0)
                return r;
        if (pos->fingerprint_len > 0 && pos->fingerprint_len <= HOOKFILE_FINGERPRINT_MAX)
                length = snprintf(text, sizeof(text),
                                  "v1 dev=%llu ino=%llu offset=%llu line=%llu fp=%u:%016llx\n",
                                  (unsigned long long)pos->device, (unsigned long long)pos->inode,
                                  (unsigned long long)pos->offset, (unsigned long long)pos->line,
                                  (unsigned)pos->fingerprint_len,
                                  (unsigned long long)pos->fingerprint);
        else
                length = snprintf(text, sizeof(text), "v1 dev=%llu ino=%llu offset=%llu line=%llu\n",
                                  (unsigned long long)pos->device, (unsigned long long)pos->inode,
                                  (unsigned long long)pos->offset, (unsigned long long)pos->line);
        r = write_temp(temp, text, (size_t)length);
        if (r < 0)
                return r;
        if (rename(temp, path) < 0) {
                r = -errno;
                (void)unlink(temp);
                return r;
        }
        /* The rename is only durable once the directory is; the new
         * checkpoint is in place either way, so a failure here just says
         * it may not survive a crash. */
        return sync_directory(state_dir);
}
