/* Unit tests for hookfile: real files in a fresh directory, written the
 * way the feeder and logrotate would. */
#include "stream/hookfile.h"
#include "../unit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void make_path(char *buf, size_t size, const char *dir, const char *name)
{
        snprintf(buf, size, "%s/%s", dir, name);
}

static bool write_file(const char *path, const char *text, int flags)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
        size_t length = strlen(text);
        bool ok;

        if (fd < 0)
                return false;
        ok = write(fd, text, length) == (ssize_t)length;
        close(fd);
        return ok;
}

static bool append(const char *path, const char *text)
{
        return write_file(path, text, O_APPEND);
}

static bool create(const char *path, const char *text)
{
        return write_file(path, text, O_TRUNC);
}

static void file_identity(const char *path, uint64_t *device, uint64_t *inode)
{
        struct stat st;

        if (stat(path, &st) < 0) {
                *device = *inode = 0;
                return;
        }
        *device = (uint64_t)st.st_dev;
        *inode = (uint64_t)st.st_ino;
}

/* True when l is a line of the given status and text. */
static bool is_line(const struct hookfile_line *l, enum hookfile_status status, const char *text)
{
        size_t length = strlen(text);

        return l->status == status && l->length == length && memcmp(l->data, text, length) == 0;
}

static bool next_is(struct hookfile *h, enum hookfile_status status, const char *text,
                    enum hookfile_event want_event)
{
        struct hookfile_line l;
        enum hookfile_event event;

        if (hookfile_next(h, &l, &event) < 0 || event != want_event)
                return false;
        if (status == HOOKFILE_NONE)
                return l.status == HOOKFILE_NONE;
        return is_line(&l, status, text);
}

TEST(hookfile_lines_in_order)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;
        enum hookfile_event event;
        uint64_t device, inode;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "a\nbb\nccc\n"));
        file_identity(path, &device, &inode);
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(strcmp(hookfile_path(h), path) == 0);

        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "a") && event == HOOKFILE_EVENT_NONE);
        CHECK(l.full_length == 1);
        CHECK(l.start.offset == 0 && l.start.line == 1);
        CHECK(l.next.offset == 2 && l.next.line == 2);
        CHECK(l.start.device == device && l.start.inode == inode);
        CHECK(l.next.device == device && l.next.inode == inode);

        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "bb"));
        CHECK(l.start.offset == 2 && l.start.line == 2 && l.next.offset == 5);

        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "ccc"));
        CHECK(l.start.offset == 5 && l.start.line == 3);
        CHECK(l.next.offset == 9 && l.next.line == 4);

        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(l.status == HOOKFILE_NONE && event == HOOKFILE_EVENT_NONE);
        CHECK(l.start.offset == 9 && l.start.line == 4 && l.next.offset == 9);
        CHECK(l.start.inode == inode);
        hookfile_close(h);
}

TEST(hookfile_partial_last_line_waits_for_newline)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "one\ntw"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "one", HOOKFILE_EVENT_NONE));
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(l.status == HOOKFILE_NONE && l.start.offset == 4 && l.start.line == 2);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(append(path, "o"));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(append(path, "\nthree\n"));
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "two"));
        CHECK(l.start.offset == 4 && l.start.line == 2 && l.next.offset == 8);
        CHECK(next_is(h, HOOKFILE_LINE, "three", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

/* Decided: empty lines are LINEs of length 0 (the caller rejects them);
 * one '\r' before '\n' is stripped, a '\r' anywhere else is data. */
TEST(hookfile_empty_lines_and_crlf)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "\n\r\nx\r\na\rb\nc\r\r\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(l.status == HOOKFILE_LINE && l.length == 0 && l.next.offset == 1);
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(l.status == HOOKFILE_LINE && l.length == 0);
        CHECK(l.start.offset == 1 && l.next.offset == 3 && l.start.line == 2);
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "x") && l.full_length == 1 && l.next.offset == 6);
        CHECK(next_is(h, HOOKFILE_LINE, "a\rb", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_LINE, "c\r", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_oversized_line_arriving_in_pieces)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "short\n0123456789AB"));
        REQUIRE(hookfile_open(path, 8, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "short", HOOKFILE_EVENT_NONE));
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        /* While discarding, the position still names the line's start. */
        CHECK(l.status == HOOKFILE_NONE && l.start.offset == 6 && l.start.line == 2);
        REQUIRE(append(path, "CDEF"));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(append(path, "GH\r"));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(append(path, "\nnext\n"));
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(is_line(&l, HOOKFILE_OVERSIZED, "01234567"));
        CHECK(l.full_length == 18);
        CHECK(l.start.offset == 6 && l.start.line == 2);
        CHECK(l.next.offset == 26 && l.next.line == 3);
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "next") && l.start.line == 3 && l.start.offset == 26);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_line_length_limits)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "12345678\n12345678\r\n123456789\n"
                             "123456789012345678901234567890\nok\n"));
        REQUIRE(hookfile_open(path, 8, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "12345678", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_LINE, "12345678", HOOKFILE_EVENT_NONE));
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(is_line(&l, HOOKFILE_OVERSIZED, "12345678") && l.full_length == 9);
        CHECK(l.start.line == 3 && l.start.offset == 19 && l.next.offset == 29);
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(is_line(&l, HOOKFILE_OVERSIZED, "12345678") && l.full_length == 30);
        CHECK(l.start.line == 4 && l.next.line == 5);
        CHECK(next_is(h, HOOKFILE_LINE, "ok", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

/* Oversized lines far bigger than the read buffer, so they span reads. */
TEST(hookfile_oversized_line_spanning_reads)
{
        size_t big = 300 * 1024;
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;
        char *text;
        int fd;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        text = malloc(big + 1);
        REQUIRE(text);
        memset(text, 'x', big);
        text[big] = '\n';
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0 && write(fd, "first\n", 6) == 6);
        CHECK(fd >= 0 && write(fd, text, big + 1) == (ssize_t)big + 1);
        CHECK(fd >= 0 && write(fd, "last\n", 5) == 5);
        if (fd >= 0)
                close(fd);
        free(text);
        REQUIRE(hookfile_open(path, 1000, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "first", HOOKFILE_EVENT_NONE));
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        CHECK(l.status == HOOKFILE_OVERSIZED && l.length == 1000 && l.full_length == big);
        CHECK(l.data[0] == 'x' && l.data[999] == 'x');
        CHECK(l.start.offset == 6 && l.next.offset == 6 + big + 1 && l.next.line == 3);
        CHECK(next_is(h, HOOKFILE_LINE, "last", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_rotation_drains_old_file_first)
{
        char path[PATH_MAX], old[PATH_MAX];
        const char *dir = unit_tmpdir();
        uint64_t device, inode;
        struct hookfile *h;
        struct hookfile_line l;
        enum hookfile_event event;

        make_path(path, sizeof(path), dir, "hook");
        make_path(old, sizeof(old), dir, "hook.1");
        REQUIRE(create(path, "1\n2\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "1", HOOKFILE_EVENT_NONE));
        REQUIRE(append(path, "3\npart"));
        REQUIRE(rename(path, old) == 0);
        REQUIRE(create(path, "new1\nnew2\n"));
        file_identity(path, &device, &inode);

        CHECK(next_is(h, HOOKFILE_LINE, "2", HOOKFILE_EVENT_NONE));
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "3") && event == HOOKFILE_EVENT_NONE);
        CHECK(l.start.line == 3 && l.next.offset == 6);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_PARTIAL, "part") && event == HOOKFILE_EVENT_NONE);
        CHECK(l.full_length == 4 && l.start.offset == 6 && l.start.line == 4);
        CHECK(l.next.device == device && l.next.inode == inode);
        CHECK(l.next.offset == 0 && l.next.line == 1);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "new1") && event == HOOKFILE_EVENT_ROTATED);
        CHECK(l.start.offset == 0 && l.start.line == 1 && l.next.offset == 5);
        CHECK(l.start.device == device && l.start.inode == inode);
        CHECK(next_is(h, HOOKFILE_LINE, "new2", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_rotation_waits_for_new_file)
{
        char path[PATH_MAX], old[PATH_MAX];
        const char *dir = unit_tmpdir();
        struct hookfile *h;
        struct hookfile_line l;
        enum hookfile_event event;

        make_path(path, sizeof(path), dir, "hook");
        make_path(old, sizeof(old), dir, "hook.1");
        REQUIRE(create(path, "1\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "1", HOOKFILE_EVENT_NONE));
        REQUIRE(rename(path, old) == 0);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        /* The feeder still writes to the renamed file for a while. */
        REQUIRE(append(old, "2\n"));
        CHECK(next_is(h, HOOKFILE_LINE, "2", HOOKFILE_EVENT_NONE));
        REQUIRE(create(path, "a\n"));
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "a") && event == HOOKFILE_EVENT_ROTATED);
        CHECK(l.start.line == 1 && l.start.offset == 0);
        hookfile_close(h);
}

/* Rotation by unlink and create (no rename): while we hold the old file
 * open its inode cannot be reused, so the new one differs. */
TEST(hookfile_rotation_by_unlink)
{
        char path[PATH_MAX];
        struct hookfile *h;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "1\n2\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "1", HOOKFILE_EVENT_NONE));
        REQUIRE(unlink(path) == 0);
        REQUIRE(create(path, "a\n"));
        CHECK(next_is(h, HOOKFILE_LINE, "2", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_LINE, "a", HOOKFILE_EVENT_ROTATED));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_rotation_with_oversized_partial_and_empty_new_file)
{
        char path[PATH_MAX], old[PATH_MAX];
        const char *dir = unit_tmpdir();
        struct hookfile *h;
        struct hookfile_line l;
        enum hookfile_event event;

        make_path(path, sizeof(path), dir, "hook");
        make_path(old, sizeof(old), dir, "hook.1");
        REQUIRE(create(path, "0123456789abcdef"));
        REQUIRE(hookfile_open(path, 4, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(rename(path, old) == 0);
        REQUIRE(create(path, ""));
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_PARTIAL, "0123") && l.full_length == 16);
        CHECK(event == HOOKFILE_EVENT_NONE && l.start.offset == 0 && l.start.line == 1);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(l.status == HOOKFILE_NONE && event == HOOKFILE_EVENT_ROTATED);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(append(path, "x\n"));
        CHECK(next_is(h, HOOKFILE_LINE, "x", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_truncation_restarts_at_zero)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;
        enum hookfile_event event;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "aaaa\nbbbb\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "aaaa", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_LINE, "bbbb", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(truncate(path, 0) == 0);
        REQUIRE(append(path, "c\n"));
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "c") && event == HOOKFILE_EVENT_TRUNCATED);
        CHECK(l.start.offset == 0 && l.start.line == 1 && l.next.line == 2);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_resume_from_position)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;
        struct hookfile_position saved;
        enum hookfile_event event;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "a\nb\nc\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "a", HOOKFILE_EVENT_NONE));
        REQUIRE(hookfile_next(h, &l, NULL) == 0);
        saved = l.next;
        hookfile_close(h);

        REQUIRE(append(path, "d\n"));
        REQUIRE(hookfile_open(path, 100, &saved, &h) == 0);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "c") && event == HOOKFILE_EVENT_NONE);
        CHECK(l.start.offset == 4 && l.start.line == 3);
        CHECK(next_is(h, HOOKFILE_LINE, "d", HOOKFILE_EVENT_NONE));
        hookfile_close(h);

        /* Same file, now shorter than the saved offset: truncated. */
        REQUIRE(truncate(path, 2) == 0);
        REQUIRE(hookfile_open(path, 100, &saved, &h) == 0);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "a") && event == HOOKFILE_EVENT_TRUNCATED);
        CHECK(l.start.line == 1);
        hookfile_close(h);
}

TEST(hookfile_replaced_file_at_open)
{
        char path[PATH_MAX], keep[PATH_MAX];
        const char *dir = unit_tmpdir();
        struct hookfile_position saved;
        struct hookfile *h;
        struct hookfile_line l;
        enum hookfile_event event;

        make_path(path, sizeof(path), dir, "hook");
        make_path(keep, sizeof(keep), dir, "hook.old");
        REQUIRE(create(path, "a\nb\n"));
        saved.offset = 2;
        saved.line = 2;
        file_identity(path, &saved.device, &saved.inode);
        /* Keep the old inode alive so the new file cannot reuse its number. */
        REQUIRE(rename(path, keep) == 0);
        REQUIRE(create(path, "x\ny\n"));
        REQUIRE(hookfile_open(path, 100, &saved, &h) == 0);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "x") && event == HOOKFILE_EVENT_REPLACED);
        CHECK(l.start.offset == 0 && l.start.line == 1);
        CHECK(next_is(h, HOOKFILE_LINE, "y", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_missing_at_open)
{
        char path[PATH_MAX];
        struct hookfile_position saved = {1, 1, 10, 5, 0, 0};
        struct hookfile *h;
        struct hookfile_line l;
        enum hookfile_event event;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(l.status == HOOKFILE_NONE && event == HOOKFILE_EVENT_NONE);
        CHECK(l.start.offset == 0 && l.start.line == 1);
        REQUIRE(create(path, "first\n"));
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "first") && event == HOOKFILE_EVENT_NONE);
        CHECK(l.start.line == 1);
        hookfile_close(h);

        /* With a saved position, the file that appears is another one. */
        REQUIRE(unlink(path) == 0);
        REQUIRE(hookfile_open(path, 100, &saved, &h) == 0);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(l.status == HOOKFILE_NONE && event == HOOKFILE_EVENT_NONE);
        CHECK(l.next.offset == 10 && l.next.line == 5 && l.next.inode == 1);
        REQUIRE(create(path, "z\n"));
        CHECK(next_is(h, HOOKFILE_LINE, "z", HOOKFILE_EVENT_REPLACED));
        hookfile_close(h);
}

TEST(hookfile_bad_arguments)
{
        char path[PATH_MAX];
        const char *dir = unit_tmpdir();
        struct hookfile_position zero_line = {0, 0, 0, 0, 0, 0};
        struct hookfile *h = NULL;

        make_path(path, sizeof(path), dir, "hook");
        CHECK(hookfile_open(path, 0, NULL, &h) == -EINVAL);
        CHECK(hookfile_open(path, HOOKFILE_MAX_LINE_LIMIT + 1, NULL, &h) == -EINVAL);
        CHECK(hookfile_open(path, 10, &zero_line, &h) == -EINVAL);
        CHECK(hookfile_open("", 10, NULL, &h) == -EINVAL);
        CHECK(hookfile_open(dir, 10, NULL, &h) == -EINVAL);
        CHECK(h == NULL);
        hookfile_close(NULL);
}

static void *append_later(void *arg)
{
        struct timespec delay = {0, 100 * 1000 * 1000};

        nanosleep(&delay, NULL);
        append(arg, "late\n");
        return NULL;
}

static double now_seconds(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(hookfile_wait_wakes_on_append)
{
        char path[PATH_MAX];
        struct hookfile *h;
        pthread_t thread;
        double began;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "a\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "a", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));

        began = now_seconds();
        CHECK(hookfile_wait(h, 50) == 0);
        CHECK(now_seconds() - began >= 0.04);

        REQUIRE(pthread_create(&thread, NULL, append_later, path) == 0);
        began = now_seconds();
        CHECK(hookfile_wait(h, 10000) == 0);
        CHECK(now_seconds() - began < 5);
        pthread_join(thread, NULL);
        CHECK(next_is(h, HOOKFILE_LINE, "late", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_wait_wakes_when_file_appears)
{
        char path[PATH_MAX];
        struct hookfile *h;
        pthread_t thread;
        double began;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(pthread_create(&thread, NULL, append_later, path) == 0);
        began = now_seconds();
        CHECK(hookfile_wait(h, 10000) == 0);
        CHECK(now_seconds() - began < 5);
        pthread_join(thread, NULL);
        CHECK(next_is(h, HOOKFILE_LINE, "late", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

/* After a rename the directory watch no longer sees the old file by our
 * name; the watch on the open file itself must still wake us. */
TEST(hookfile_wait_wakes_on_write_to_renamed_file)
{
        char path[PATH_MAX], old[PATH_MAX];
        const char *dir = unit_tmpdir();
        struct hookfile *h;
        pthread_t thread;
        double began;

        make_path(path, sizeof(path), dir, "hook");
        make_path(old, sizeof(old), dir, "hook.1");
        REQUIRE(create(path, "a\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "a", HOOKFILE_EVENT_NONE));
        REQUIRE(rename(path, old) == 0);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        (void)hookfile_wait(h, 0); /* forget the rename's own events */
        REQUIRE(pthread_create(&thread, NULL, append_later, old) == 0);
        began = now_seconds();
        CHECK(hookfile_wait(h, 10000) == 0);
        CHECK(now_seconds() - began < 5);
        pthread_join(thread, NULL);
        CHECK(next_is(h, HOOKFILE_LINE, "late", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

static void on_signal(int sig)
{
        (void)sig;
}

static void *signal_later(void *arg)
{
        struct timespec delay = {0, 100 * 1000 * 1000};

        nanosleep(&delay, NULL);
        pthread_kill(*(pthread_t *)arg, SIGUSR1);
        return NULL;
}

TEST(hookfile_wait_interrupted_by_signal)
{
        struct sigaction action = {.sa_handler = on_signal}, previous;
        char path[PATH_MAX];
        struct hookfile *h;
        pthread_t self = pthread_self(), thread;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        sigemptyset(&action.sa_mask);
        REQUIRE(sigaction(SIGUSR1, &action, &previous) == 0);
        REQUIRE(pthread_create(&thread, NULL, signal_later, &self) == 0);
        CHECK(hookfile_wait(h, 10000) == -EINTR);
        pthread_join(thread, NULL);
        sigaction(SIGUSR1, &previous, NULL);
        hookfile_close(h);
}

#define MILLION 1000000

static bool write_million(const char *path)
{
        FILE *f = fopen(path, "we");
        bool ok = f != NULL;

        for (unsigned i = 0; ok && i < MILLION; i++)
                ok = fprintf(f, "{\"event_type\": \"compute.instance.update\", \"n\": %u}\n",
                             i) > 0;
        if (f && fclose(f) != 0)
                ok = false;
        return ok;
}

TEST(hookfile_million_lines)
{
        char path[PATH_MAX];
        struct hookfile *h;
        struct hookfile_line l;
        unsigned count = 0;
        bool in_order = true;
        double began, seconds;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(write_million(path));
        began = now_seconds();
        REQUIRE(hookfile_open(path, 4096, NULL, &h) == 0);
        while (hookfile_next(h, &l, NULL) == 0 && l.status == HOOKFILE_LINE) {
                count++;
                in_order = in_order && l.start.line == count;
        }
        seconds = now_seconds() - began;
        CHECK(l.status == HOOKFILE_NONE);
        CHECK(count == MILLION && in_order);
        fprintf(stderr, "  hookfile: %u lines in %.3f s = %.0f lines/s\n", count, seconds,
                seconds > 0 ? count / seconds : 0.0);
        hookfile_close(h);
        unlink(path);
}

/* run --once at the end of its input: a last line without newline is
 * handed out once, its next past it; nothing when there is none. */
TEST(hookfile_unterminated_at_end)
{
        char path[512];
        struct hookfile *h = NULL;
        struct hookfile_line l;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "a\n{\"x\": 1}"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "a", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_take_unterminated(h, &l);
        CHECK(is_line(&l, HOOKFILE_UNTERMINATED, "{\"x\": 1}") && l.full_length == 8);
        CHECK(l.start.offset == 2 && l.start.line == 2);
        CHECK(l.next.offset == 10 && l.next.line == 3);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_take_unterminated(h, &l);
        CHECK(l.status == HOOKFILE_NONE && l.next.offset == 10);
        /* What comes after it later starts a line of its own. */
        REQUIRE(append(path, "b\n"));
        CHECK(next_is(h, HOOKFILE_LINE, "b", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

TEST(hookfile_unterminated_oversized)
{
        char path[512], text[64];
        struct hookfile *h = NULL;
        struct hookfile_line l;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        memset(text, 'z', 40);
        text[40] = '\0';
        REQUIRE(create(path, text));
        REQUIRE(hookfile_open(path, 16, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        hookfile_take_unterminated(h, &l);
        CHECK(l.status == HOOKFILE_UNTERMINATED && l.length == 16 && l.full_length == 40);
        CHECK(l.start.offset == 0 && l.next.offset == 40);
        hookfile_close(h);
}

/* Truncated and written again past the position between two reads: the
 * size alone does not show it; the bytes before the position do. */
TEST(hookfile_truncated_and_refilled_while_reading)
{
        char path[512];
        struct hookfile *h = NULL;
        struct hookfile_line l;
        enum hookfile_event event;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "aaaa\nbbbb\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "aaaa", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_LINE, "bbbb", HOOKFILE_EVENT_NONE));
        CHECK(next_is(h, HOOKFILE_NONE, NULL, HOOKFILE_EVENT_NONE));
        REQUIRE(write_file(path, "new line one\nnew line two\n", O_WRONLY | O_TRUNC));
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "new line one") && event == HOOKFILE_EVENT_TRUNCATED);
        CHECK(l.start.offset == 0 && l.start.line == 1);
        CHECK(next_is(h, HOOKFILE_LINE, "new line two", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
}

/* The same while the agent was stopped: the checkpoint's fingerprint. */
TEST(hookfile_truncated_and_refilled_since_checkpoint)
{
        char path[512];
        struct hookfile *h = NULL;
        struct hookfile_line l;
        struct hookfile_position saved;
        enum hookfile_event event;

        make_path(path, sizeof(path), unit_tmpdir(), "hook");
        REQUIRE(create(path, "aaaa\nbbbb\n"));
        REQUIRE(hookfile_open(path, 100, NULL, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "aaaa", HOOKFILE_EVENT_NONE));
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        saved = l.next;
        CHECK(saved.offset == 10 && saved.fingerprint_len == 5 && saved.fingerprint != 0);
        hookfile_close(h);
        h = NULL;
        /* Unchanged: resumes there. */
        REQUIRE(append(path, "cccc\n"));
        REQUIRE(hookfile_open(path, 100, &saved, &h) == 0);
        CHECK(next_is(h, HOOKFILE_LINE, "cccc", HOOKFILE_EVENT_NONE));
        hookfile_close(h);
        h = NULL;
        /* Refilled past the offset: starts at its first line. */
        REQUIRE(write_file(path, "0123456789abcdef\nzz\n", O_WRONLY | O_TRUNC));
        REQUIRE(hookfile_open(path, 100, &saved, &h) == 0);
        REQUIRE(hookfile_next(h, &l, &event) == 0);
        CHECK(is_line(&l, HOOKFILE_LINE, "0123456789abcdef") && event == HOOKFILE_EVENT_TRUNCATED);
        hookfile_close(h);
}
