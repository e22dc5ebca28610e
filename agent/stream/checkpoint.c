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
#include "base/fileio.h"

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
        /* Filling buf means the file is longer than any checkpoint can be. */
        r = fd_read_all(fd, buf, sizeof(buf) - 1, &length);
        close(fd);
        if (r < 0)
                return r;
        if (length == sizeof(buf) - 1)
                return -EBADMSG;
        buf[length] = '\0';
        return parse(buf, length, ret);
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
        /* The rename is only durable once the directory is; the new
         * checkpoint is in place either way, so a failure to sync it just
         * says it may not survive a crash. */
        return file_replace(path, temp, text, (size_t)length, 0600, FILE_REPLACE_SYNC);
}
