/* Tests for base/secretfile.c: the one reader behind key files and KEK files.
 * Each way a file can be wrong is tried with a noun ("secret file") that
 * neither caller uses, to show the reasons are built from it; on every
 * failure *ret must be left as it was. */
#include "base/secretfile.h"
#include "../unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHAT "secret file"

/* Stands in for the caller's pointer; failures must not overwrite it. */
static struct secret untouched;

static bool reason_is(const char *reason, const char *want)
{
        if (reason && strcmp(reason, want) == 0)
                return true;
        fprintf(stderr, "  reason \"%s\", expected \"%s\"\n", reason ? reason : "(null)", want);
        return false;
}

static bool write_file(const char *path, size_t n, mode_t mode)
{
        unsigned char bytes[128];
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool ok;

        if (fd < 0 || n > sizeof(bytes))
                return false;
        for (size_t i = 0; i < sizeof(bytes); i++)
                bytes[i] = (unsigned char)(i * 7 + 3);
        ok = write(fd, bytes, n) == (ssize_t)n;
        ok = fchmod(fd, mode) == 0 && ok;
        return close(fd) == 0 && ok;
}

/* Reads path allowing min_bytes..max_bytes, checks the bytes are the ones
 * write_file() wrote, and on failure that ret was left untouched. */
static int read_range(const char *path, size_t min_bytes, size_t max_bytes, size_t *ret_len,
                      const char **ret_reason)
{
        struct secret *s = &untouched;
        int r = secretfile_read(path, WHAT, min_bytes, max_bytes, &s, ret_reason);

        if (r < 0)
                return s == &untouched ? r : -EFAULT;
        for (size_t i = 0; i < s->len; i++)
                if (s->data[i] != (unsigned char)(i * 7 + 3))
                        r = -EFAULT;
        *ret_len = s->len;
        secret_free(s);
        return r;
}

TEST(secretfile_good)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/good", dir);
        REQUIRE(write_file(path, 32, 0600));
        CHECK(read_range(path, 16, 64, &len, &reason) == 0);
        CHECK(len == 32);
        REQUIRE(chmod(path, 0400) == 0);
        CHECK(read_range(path, 16, 64, &len, &reason) == 0);
        CHECK(len == 32);
        /* The ends of the range are inside it. */
        REQUIRE(write_file(path, 16, 0600));
        CHECK(read_range(path, 16, 64, &len, &reason) == 0);
        CHECK(len == 16);
        REQUIRE(write_file(path, 64, 0600));
        CHECK(read_range(path, 16, 64, &len, &reason) == 0);
        CHECK(len == 64);
}

TEST(secretfile_exact_size)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512], want[1024];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/exact", dir);
        REQUIRE(write_file(path, 32, 0600));
        CHECK(read_range(path, 32, 32, &len, &reason) == 0);
        CHECK(len == 32);
        REQUIRE(write_file(path, 31, 0600));
        CHECK(read_range(path, 32, 32, &len, &reason) == -EBADMSG);
        snprintf(want, sizeof(want), WHAT " %s is 31 bytes; it must be exactly 32 bytes", path);
        CHECK(reason_is(reason, want));
        REQUIRE(write_file(path, 33, 0600));
        CHECK(read_range(path, 32, 32, &len, &reason) == -EBADMSG);
        snprintf(want, sizeof(want), WHAT " %s is 33 bytes; it must be exactly 32 bytes", path);
        CHECK(reason_is(reason, want));
}

TEST(secretfile_too_short)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512], want[1024];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/short", dir);
        REQUIRE(write_file(path, 15, 0600));
        CHECK(read_range(path, 16, 64, &len, &reason) == -EBADMSG);
        snprintf(want, sizeof(want), WHAT " %s is 15 bytes; it must be 16 to 64 bytes", path);
        CHECK(reason_is(reason, want));
        REQUIRE(write_file(path, 0, 0600));
        CHECK(read_range(path, 16, 64, &len, &reason) == -EBADMSG);
        snprintf(want, sizeof(want), WHAT " %s is 0 bytes; it must be 16 to 64 bytes", path);
        CHECK(reason_is(reason, want));
}

TEST(secretfile_too_long)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512], want[1024];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/long", dir);
        REQUIRE(write_file(path, 65, 0600));
        CHECK(read_range(path, 16, 64, &len, &reason) == -EBADMSG);
        snprintf(want, sizeof(want), WHAT " %s is 65 bytes; it must be 16 to 64 bytes", path);
        CHECK(reason_is(reason, want));
        REQUIRE(write_file(path, 128, 0600));
        CHECK(read_range(path, 16, 64, &len, &reason) == -EBADMSG);
}

TEST(secretfile_permissions)
{
        /* Any group or other bit, even execute or write alone. */
        static const mode_t refused[] = {0604, 0601, 0602, 0610, 0620, 0644, 0777};
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512], want[1024];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/open", dir);
        REQUIRE(write_file(path, 32, 0640));
        CHECK(read_range(path, 16, 64, &len, &reason) == -EPERM);
        snprintf(want, sizeof(want),
                 WHAT " %s is accessible by group or others (mode 0640); chmod 600 it", path);
        CHECK(reason_is(reason, want));
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                REQUIRE(chmod(path, refused[i]) == 0);
                CHECK(read_range(path, 16, 64, &len, &reason) == -EPERM);
        }
}

TEST(secretfile_symlink)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512], link[512], want[1024];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/target", dir);
        snprintf(link, sizeof(link), "%s/link", dir);
        REQUIRE(write_file(path, 32, 0600));
        REQUIRE(symlink(path, link) == 0);
        CHECK(read_range(link, 16, 64, &len, &reason) == -ELOOP);
        snprintf(want, sizeof(want), WHAT " %s is a symbolic link; refusing to follow it", link);
        CHECK(reason_is(reason, want));
}

TEST(secretfile_not_regular)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512], want[1024];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/dir", dir);
        REQUIRE(mkdir(path, 0700) == 0);
        CHECK(read_range(path, 16, 64, &len, &reason) == -EINVAL);
        snprintf(want, sizeof(want), WHAT " %s is not a regular file", path);
        CHECK(reason_is(reason, want));

        /* A FIFO with no writer is refused at once, not waited on. */
        snprintf(path, sizeof(path), "%s/fifo", dir);
        REQUIRE(mkfifo(path, 0600) == 0);
        CHECK(read_range(path, 16, 64, &len, &reason) == -EINVAL);
        snprintf(want, sizeof(want), WHAT " %s is not a regular file", path);
        CHECK(reason_is(reason, want));
}

TEST(secretfile_missing)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        char path[512], want[1024];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/missing", dir);
        CHECK(read_range(path, 16, 64, &len, &reason) == -ENOENT);
        snprintf(want, sizeof(want), WHAT " %s not found", path);
        CHECK(reason_is(reason, want));
        snprintf(path, sizeof(path), "%s/missing/below", dir);
        CHECK(read_range(path, 16, 64, &len, &reason) == -ENOENT);
}

TEST(secretfile_bad_arguments)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        struct secret *s = &untouched;
        char path[512];
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/good", dir);
        REQUIRE(write_file(path, 32, 0600));
        CHECK(read_range(NULL, 16, 64, &len, &reason) == -EINVAL);
        CHECK(reason_is(reason, "no " WHAT " given"));
        CHECK(read_range(path, 64, 16, &len, &reason) == -EINVAL);
        CHECK(read_range(path, 16, SECRET_MAX_BYTES, &len, &reason) == -EINVAL);
        CHECK(secretfile_read(path, NULL, 16, 64, &s, &reason) == -EINVAL);
        CHECK(s == &untouched);
        /* The largest secret that still leaves the byte of spare room. */
        CHECK(read_range(path, 16, SECRET_MAX_BYTES - 1, &len, &reason) == 0);
        /* A reason is optional. */
        CHECK(read_range(path, 64, 64, &len, NULL) == -EBADMSG);
}

/* Writes text as a 0600 file at dir/name; returns the path (static). */
static const char *text_file(const char *dir, const char *name, const char *text, size_t n)
{
        static char path[512];

        return unit_write_file(dir, name, text, n, path, sizeof(path));
}

/* The password as login APIs take it: one trailing newline (or CRLF)
 * dropped, NUL after it, len without the NUL; never more than that. */
TEST(secretfile_password)
{
        static const struct {
                const char *text;
                size_t n;
                const char *want; /* NULL: -EBADMSG */
        } cases[] = {
                {"pw-123", 6, "pw-123"},         {"pw-123\n", 7, "pw-123"},
                {"pw-123\r\n", 8, "pw-123"},     {"pw-123\n\n", 8, "pw-123\n"},
                {" spaced pw ", 11, " spaced pw "}, {"\n", 1, NULL},
                {"\r\n", 2, NULL},               {"pw\0x", 4, NULL},
        };
        const char *dir = unit_tmpdir();

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *path = text_file(dir, "pass", cases[i].text, cases[i].n);
                const char *reason = NULL;
                struct secret *s = &untouched;
                int r;

                REQUIRE(path);
                r = secretfile_read_password(path, &s, &reason);
                if (!cases[i].want) {
                        CHECK(r == -EBADMSG && s == &untouched);
                        CHECK(reason && strstr(reason, path) &&
                              (strstr(reason, "is empty") || strstr(reason, "holds a NUL byte")));
                        continue;
                }
                CHECK(r == 0);
                if (r == 0) {
                        CHECK(s->len == strlen(cases[i].want));
                        CHECK(memcmp(s->data, cases[i].want, s->len + 1) == 0);
                        secret_free(s);
                }
        }
        /* secretfile_read()'s refusals come through with its reasons. */
        {
                const char *path = text_file(dir, "pass", "pw", 2), *reason = NULL;
                struct secret *s = &untouched;

                REQUIRE(path && chmod(path, 0640) == 0);
                CHECK(secretfile_read_password(path, &s, &reason) == -EPERM && s == &untouched);
                CHECK(reason && strstr(reason, "password file") && strstr(reason, path));
        }
}
