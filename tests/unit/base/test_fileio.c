/* Tests for fdio.c's whole reads and fileio.c: the atomic replace behind
 * the checkpoint and the health file, and the directory sync. */
#include "base/fdio.h"
#include "base/fileio.h"
#include "../unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool holds(const char *path, const char *want)
{
        char buf[64];
        size_t n = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        int r = fd < 0 ? -errno : fd_read_all(fd, buf, sizeof(buf), &n);

        if (fd >= 0)
                close(fd);
        return r == 0 && n == strlen(want) && memcmp(buf, want, n) == 0;
}

TEST(fd_read_all_stops_at_end_or_when_full)
{
        int p[2];
        char buf[8];
        size_t n = 99;

        REQUIRE(pipe(p) == 0);
        /* Two writes: the read loop goes on past the first short read. */
        CHECK(write(p[1], "abc", 3) == 3);
        CHECK(write(p[1], "de", 2) == 2);
        close(p[1]);
        CHECK(fd_read_all(p[0], buf, sizeof(buf), &n) == 0);
        CHECK(n == 5 && memcmp(buf, "abcde", 5) == 0);
        close(p[0]);

        REQUIRE(pipe(p) == 0);
        CHECK(write(p[1], "0123456789", 10) == 10);
        CHECK(fd_read_all(p[0], buf, 4, &n) == 0);
        CHECK(n == 4 && memcmp(buf, "0123", 4) == 0);
        close(p[1]);
        close(p[0]);
}

TEST(fd_read_all_error_leaves_length)
{
        char buf[4];
        size_t n = 7;

        CHECK(fd_read_all(-1, buf, sizeof(buf), &n) == -EBADF);
        CHECK(n == 7);
}

TEST(file_replace_writes_renames_and_sets_mode)
{
        const char *dir = unit_tmpdir();
        char path[512], temp[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/replaced", dir);
        snprintf(temp, sizeof(temp), "%s/replaced.tmp", dir);
        CHECK(file_replace(path, temp, "one\n", 4, 0600, FILE_REPLACE_SYNC) == 0);
        CHECK(holds(path, "one\n"));
        CHECK(access(temp, F_OK) < 0 && errno == ENOENT);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
        /* Without the flag: the same replace, nothing synced. */
        CHECK(file_replace(path, temp, "two", 3, 0644, 0) == 0);
        CHECK(holds(path, "two"));
        CHECK(access(temp, F_OK) < 0 && errno == ENOENT);
}

TEST(file_replace_refuses_a_linked_temp)
{
        const char *dir = unit_tmpdir();
        char path[512], temp[512], target[512];

        snprintf(path, sizeof(path), "%s/kept", dir);
        snprintf(temp, sizeof(temp), "%s/kept.tmp", dir);
        snprintf(target, sizeof(target), "%s/target", dir);
        REQUIRE(file_replace(path, temp, "old", 3, 0600, 0) == 0);
        REQUIRE(symlink(target, temp) == 0);
        CHECK(file_replace(path, temp, "new", 3, 0600, FILE_REPLACE_SYNC) == -ELOOP);
        CHECK(holds(path, "old"));
        CHECK(access(target, F_OK) < 0 && errno == ENOENT);
}

TEST(file_replace_rename_failure_removes_temp)
{
        const char *dir = unit_tmpdir();
        char path[512], temp[512];

        /* path is a non-empty directory: rename(2) fails after the write. */
        snprintf(path, sizeof(path), "%s/busy", dir);
        snprintf(temp, sizeof(temp), "%s/busy.tmp", dir);
        REQUIRE(mkdir(path, 0700) == 0);
        CHECK(file_replace(path, temp, "x", 1, 0600, FILE_REPLACE_SYNC) == -EISDIR);
        CHECK(access(temp, F_OK) < 0 && errno == ENOENT);
        rmdir(path);
}

TEST(file_sync_parent_needs_the_directory)
{
        const char *dir = unit_tmpdir();
        char path[512];
        char longer[5000];

        snprintf(path, sizeof(path), "%s/not-there-yet", dir);
        CHECK(file_sync_parent(path) == 0);
        snprintf(path, sizeof(path), "%s/no-such-dir/file", dir);
        CHECK(file_sync_parent(path) == -ENOENT);
        memset(longer, 'a', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        CHECK(file_sync_parent(longer) == -ENAMETOOLONG);
}
