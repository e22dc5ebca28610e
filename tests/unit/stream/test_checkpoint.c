/* Unit tests for checkpoint: round trips, strict parsing and keeping the
 * old checkpoint when a save fails. */
#include "stream/checkpoint.h"
#include "../unit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static bool put(const char *dir, const char *name, const char *text, size_t length)
{
        char path[PATH_MAX];

        return unit_write_file(dir, name, text, length, path, sizeof(path)) != NULL;
}

static bool exists(const char *dir, const char *name)
{
        char path[PATH_MAX];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return stat(path, &st) == 0;
}

static bool same(const struct hookfile_position *a, const struct hookfile_position *b)
{
        return a->device == b->device && a->inode == b->inode && a->offset == b->offset &&
               a->line == b->line;
}

TEST(checkpoint_round_trip)
{
        char dir[512], path[PATH_MAX];
        struct hookfile_position pos = {2049, 1234567, 98765, 4321, 0, 0}, got;
        struct hookfile_position big = {UINT64_MAX, UINT64_MAX, INT64_MAX, UINT64_MAX, 0, 0};
        struct stat st;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(checkpoint_save(dir, &pos) == 0);
        REQUIRE(checkpoint_load(dir, &got) == 0);
        CHECK(same(&pos, &got));
        CHECK(!exists(dir, "checkpoint.tmp"));
        snprintf(path, sizeof(path), "%s/checkpoint", dir);
        REQUIRE(stat(path, &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);

        REQUIRE(checkpoint_save(dir, &big) == 0);
        REQUIRE(checkpoint_load(dir, &got) == 0);
        CHECK(same(&big, &got));
        CHECK(!exists(dir, "checkpoint.tmp"));
}

TEST(checkpoint_missing)
{
        struct hookfile_position got = {7, 7, 7, 7, 0, 0}, want = {7, 7, 7, 7, 0, 0};

        CHECK(checkpoint_load(unit_tmpdir(), &got) == -ENOENT);
        CHECK(same(&got, &want));
}

TEST(checkpoint_rejects_garbage)
{
        static const char *const bad[] = {
                "",
                "\n",
                "v1\n",
                "v2 dev=1 ino=2 offset=3 line=4\n",
                "v1 dev=1 ino=2 offset=3 line=4",
                "v1 dev=1 ino=2 offset=3 line=4\n\n",
                "v1 dev=1 ino=2 offset=3 line=4\nv1 dev=1 ino=2 offset=3 line=4\n",
                "v1  dev=1 ino=2 offset=3 line=4\n",
                "v1 dev=1 ino=2 offset=3 line=4 \n",
                "v1 ino=2 dev=1 offset=3 line=4\n",
                "v1 dev=01 ino=2 offset=3 line=4\n",
                "v1 dev=-1 ino=2 offset=3 line=4\n",
                "v1 dev=+1 ino=2 offset=3 line=4\n",
                "v1 dev= ino=2 offset=3 line=4\n",
                "v1 dev=1 ino=2 offset=3 line=0\n",
                "v1 dev=1 ino=2 offset=3x line=4\n",
                "v1 dev=18446744073709551616 ino=2 offset=3 line=4\n",
                "v1 dev=1 ino=2 offset=9223372036854775808 line=4\n",
                "v1 dev=1 ino=2 offset=3 line=4\r\n",
                "{\"dev\": 1}\n",
        };
        static const char with_nul[] = "v1 dev=1 ino=2\0 offset=3 line=4\n";
        static const char zeros[] = "v1 dev=0 ino=0 offset=0 line=1\n";
        struct hookfile_position got = {7, 7, 7, 7, 0, 0}, want = {7, 7, 7, 7, 0, 0};
        char dir[512], huge[4096];

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                REQUIRE(put(dir, "checkpoint", bad[i], strlen(bad[i])));
                if (checkpoint_load(dir, &got) != -EBADMSG)
                        fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
                CHECK(checkpoint_load(dir, &got) == -EBADMSG);
        }
        REQUIRE(put(dir, "checkpoint", with_nul, sizeof(with_nul) - 1));
        CHECK(checkpoint_load(dir, &got) == -EBADMSG);
        memset(huge, '1', sizeof(huge));
        memcpy(huge, "v1 dev=", 7);
        REQUIRE(put(dir, "checkpoint", huge, sizeof(huge)));
        CHECK(checkpoint_load(dir, &got) == -EBADMSG);
        CHECK(same(&got, &want));

        REQUIRE(put(dir, "checkpoint", zeros, strlen(zeros)));
        CHECK(checkpoint_load(dir, &got) == 0 && got.line == 1 && got.device == 0);
}

TEST(checkpoint_save_rejects_bad_position)
{
        struct hookfile_position no_line = {1, 2, 3, 0, 0, 0}, far = {1, 2, (uint64_t)INT64_MAX + 1, 1, 0, 0};
        const char *dir = unit_tmpdir();

        CHECK(checkpoint_save(dir, &no_line) == -EINVAL);
        CHECK(checkpoint_save(dir, &far) == -EINVAL);
        CHECK(!exists(dir, "checkpoint"));
}

TEST(checkpoint_save_into_missing_directory)
{
        char dir[512];
        struct hookfile_position pos = {1, 2, 3, 4, 0, 0}, got;

        snprintf(dir, sizeof(dir), "%s/missing", unit_tmpdir());
        CHECK(checkpoint_save(dir, &pos) == -ENOENT);
        CHECK(checkpoint_load(dir, &got) == -ENOENT);
}

/* The temp file cannot be created: the old checkpoint stays. */
TEST(checkpoint_failed_save_keeps_old)
{
        char dir[512], temp[PATH_MAX];
        struct hookfile_position old = {1, 2, 3, 4, 0, 0}, new = {5, 6, 7, 8, 0, 0}, got;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(checkpoint_save(dir, &old) == 0);
        snprintf(temp, sizeof(temp), "%s/checkpoint.tmp", dir);
        REQUIRE(mkdir(temp, 0700) == 0);
        CHECK(checkpoint_save(dir, &new) == -EISDIR);
        REQUIRE(checkpoint_load(dir, &got) == 0);
        CHECK(same(&got, &old));
        rmdir(temp);
}

/* A write that runs out of room (as on a full disk; RLIMIT_FSIZE works
 * even as root) fails with its errno, removes the temp file and leaves
 * the old checkpoint. */
TEST(checkpoint_write_failure_keeps_old)
{
        char dir[512];
        struct hookfile_position old = {1, 2, 3, 4, 0, 0}, new = {5, 6, 7, 8, 0, 0}, got;
        struct rlimit saved, small;
        void (*previous)(int);
        int r;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(checkpoint_save(dir, &old) == 0);
        REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
        small = saved;
        small.rlim_cur = 10;
        previous = signal(SIGXFSZ, SIG_IGN);
        REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
        r = checkpoint_save(dir, &new);
        setrlimit(RLIMIT_FSIZE, &saved);
        signal(SIGXFSZ, previous);
        CHECK(r == -EFBIG);
        CHECK(!exists(dir, "checkpoint.tmp"));
        REQUIRE(checkpoint_load(dir, &got) == 0);
        CHECK(same(&got, &old));
}

TEST(checkpoint_fingerprint_round_trip)
{
        char dir[512], path[PATH_MAX];
        struct hookfile_position pos = {1, 2, 30, 4, 16, 0x0123456789abcdefull}, got;
        FILE *f;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(checkpoint_save(dir, &pos) == 0);
        REQUIRE(checkpoint_load(dir, &got) == 0);
        CHECK(same(&pos, &got) && got.fingerprint_len == 16 && got.fingerprint == pos.fingerprint);
        /* Written by an earlier release: no fingerprint, still read. */
        snprintf(path, sizeof(path), "%s/checkpoint", dir);
        REQUIRE((f = fopen(path, "w")) != NULL);
        fputs("v1 dev=1 ino=2 offset=30 line=4\n", f);
        fclose(f);
        REQUIRE(checkpoint_load(dir, &got) == 0);
        CHECK(got.offset == 30 && got.fingerprint_len == 0);
        static const char *const bad[] = {
                "v1 dev=1 ino=2 offset=30 line=4 fp=0:0123456789abcdef\n",
                "v1 dev=1 ino=2 offset=30 line=4 fp=4097:0123456789abcdef\n",
                "v1 dev=1 ino=2 offset=30 line=4 fp=16:0123456789ABCDEF\n",
                "v1 dev=1 ino=2 offset=30 line=4 fp=16:0123456789abcde\n",
                "v1 dev=1 ino=2 offset=30 line=4 fp=16:0123456789abcdef \n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                REQUIRE((f = fopen(path, "w")) != NULL);
                fputs(bad[i], f);
                fclose(f);
                CHECK(checkpoint_load(dir, &got) == -EBADMSG);
        }
}
