/* Unit tests for hookwriter: appending whole lines, creating the file
 * private, following a rename, and never leaving half a line behind. */
#include "stream/hookwriter.h"
#include "../unit.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The file's whole content, NUL-terminated (static). */
static const char *content(const char *path)
{
        static char buf[4096];
        FILE *f = fopen(path, "re");
        size_t n = 0;

        if (f) {
                n = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
        }
        buf[n] = '\0';
        return buf;
}

TEST(hookwriter_appends_groups_to_a_private_file)
{
        char path[PATH_MAX];
        struct hookwriter *w;
        struct stat st;
        mode_t old = umask(0);

        snprintf(path, sizeof(path), "%s/events.jsonl", unit_tmpdir());
        REQUIRE(hookwriter_open(path, &w) == 0);
        umask(old);
        REQUIRE(stat(path, &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        CHECK(strcmp(hookwriter_path(w), path) == 0);
        CHECK(hookwriter_append(w, "{\"a\":1}\n{\"b\":2}\n", 16) == 0);
        CHECK(hookwriter_append(w, "", 0) == 0);
        CHECK(hookwriter_append(w, "{\"c\":3}\n", 8) == 0);
        CHECK(hookwriter_syncs(w) == 2);
        CHECK(strcmp(content(path), "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n") == 0);
        hookwriter_close(w);

        /* An existing file is appended to, its mode left alone. */
        chmod(path, 0640);
        REQUIRE(hookwriter_open(path, &w) == 0);
        CHECK(hookwriter_append(w, "x\n", 2) == 0);
        CHECK(strcmp(content(path), "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\nx\n") == 0);
        REQUIRE(stat(path, &st) == 0);
        CHECK((st.st_mode & 07777) == 0640);
        hookwriter_close(w);
        hookwriter_close(NULL);
        CHECK(hookwriter_syncs(NULL) == 0);
}

TEST(hookwriter_follows_a_rename)
{
        char path[PATH_MAX], rotated[PATH_MAX];
        const char *dir = unit_tmpdir();
        struct hookwriter *w;

        snprintf(path, sizeof(path), "%s/events.jsonl", dir);
        snprintf(rotated, sizeof(rotated), "%s/events.jsonl.1", dir);
        REQUIRE(hookwriter_open(path, &w) == 0);
        CHECK(hookwriter_append(w, "old\n", 4) == 0);
        REQUIRE(rename(path, rotated) == 0);
        /* The path is missing: the writer makes the new file. */
        CHECK(hookwriter_append(w, "new\n", 4) == 0);
        CHECK(strcmp(content(rotated), "old\n") == 0);
        CHECK(strcmp(content(path), "new\n") == 0);
        /* Another file put in place (logrotate's create). */
        REQUIRE(rename(path, rotated) == 0);
        REQUIRE(strcmp(content(path), "") == 0);
        {
                FILE *f = fopen(path, "we");

                REQUIRE(f);
                fclose(f);
        }
        CHECK(hookwriter_append(w, "newer\n", 6) == 0);
        CHECK(strcmp(content(path), "newer\n") == 0);
        CHECK(strcmp(content(rotated), "new\n") == 0);
        hookwriter_close(w);
}

TEST(hookwriter_refuses_what_is_not_a_regular_file)
{
        char path[PATH_MAX], link[PATH_MAX];
        const char *dir = unit_tmpdir();
        struct hookwriter *w = NULL;

        CHECK(hookwriter_open(dir, &w) == -EINVAL || hookwriter_open(dir, &w) == -EISDIR);
        snprintf(path, sizeof(path), "%s/target", dir);
        snprintf(link, sizeof(link), "%s/link", dir);
        REQUIRE(symlink(path, link) == 0);
        CHECK(hookwriter_open(link, &w) == -ELOOP || hookwriter_open(link, &w) == -EEXIST);
        CHECK(hookwriter_open("", &w) == -EINVAL);
        CHECK(w == NULL);
        snprintf(path, sizeof(path), "%s/no/such/dir/events.jsonl", dir);
        CHECK(hookwriter_open(path, &w) == -ENOENT);
}

/* A group that does not fit (RLIMIT_FSIZE stands in for a full disk):
 * whole lines written stay, the cut-off one goes. */
TEST(hookwriter_failed_write_leaves_no_half_line)
{
        char path[PATH_MAX];
        struct rlimit saved, small;
        struct hookwriter *w;
        void (*previous)(int);
        int r;

        snprintf(path, sizeof(path), "%s/events.jsonl", unit_tmpdir());
        REQUIRE(hookwriter_open(path, &w) == 0);
        REQUIRE(hookwriter_append(w, "first\n", 6) == 0);
        REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
        small = saved;
        small.rlim_cur = 6 + 10;
        previous = signal(SIGXFSZ, SIG_IGN);
        REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
        r = hookwriter_append(w, "aaaaaaa\nbbbbbbb\n", 16);
        setrlimit(RLIMIT_FSIZE, &saved);
        signal(SIGXFSZ, previous);
        CHECK(r == -EFBIG);
        CHECK(strcmp(content(path), "first\naaaaaaa\n") == 0);
        CHECK(hookwriter_append(w, "next\n", 5) == 0);
        CHECK(strcmp(content(path), "first\naaaaaaa\nnext\n") == 0);
        hookwriter_close(w);
}
