/* The unit-test runner (see unit.h). */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/secret.h"

static struct unit_test *tests;
static bool current_failed;
static char tmpdir[256];
static unsigned tmp_counter;

void unit_register(struct unit_test *t)
{
        /* Constructors run in file order; prepend, then reverse at start. */
        t->next = tests;
        tests = t;
}

void unit_fail(const char *file, int line, const char *what)
{
        fprintf(stderr, "  %s:%d: CHECK failed: %s\n", file, line, what);
        current_failed = true;
}

static char root[128];

const char *unit_tmpdir(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "%s/t%u", root, ++tmp_counter);
        if (mkdir(tmpdir, 0700) < 0) {
                fprintf(stderr, "cannot create %s: %s\n", tmpdir, strerror(errno));
                abort();
        }
        return tmpdir;
}

struct secret *unit_secret_text(const char *text)
{
        struct secret *s;

        if (secret_new(strlen(text) + 1, &s) < 0)
                return NULL;
        memcpy(s->data, text, strlen(text));
        s->len = strlen(text);
        return s;
}

bool unit_in_child(int (*fn)(void))
{
        int status;
        pid_t pid = fork();

        if (pid == 0)
                _exit(fn());
        return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
               WEXITSTATUS(status) == 0;
}

const char *unit_write_file(const char *dir, const char *name, const void *bytes, size_t n,
                            char *buf, size_t size)
{
        int fd, len = snprintf(buf, size, "%s/%s", dir, name);
        bool ok;

        if (len < 0 || (size_t)len >= size)
                return NULL;
        fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return NULL;
        ok = write(fd, bytes, n) == (ssize_t)n;
        return close(fd) == 0 && ok ? buf : NULL;
}

static bool selected(const char *name, int argc, char **argv)
{
        if (argc < 2)
                return true;
        for (int i = 1; i < argc; i++)
                if (strstr(name, argv[i]))
                        return true;
        return false;
}

int main(int argc, char **argv)
{
        struct unit_test *reversed = NULL;
        unsigned passed = 0, failed = 0;
        char cmd[200];

        while (tests) {
                struct unit_test *next = tests->next;
                tests->next = reversed;
                reversed = tests;
                tests = next;
        }
        snprintf(root, sizeof(root), "%s/rbd-luks-unit.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                return 2;
        }
        for (struct unit_test *t = reversed; t; t = t->next) {
                if (!selected(t->name, argc, argv))
                        continue;
                current_failed = false;
                t->fn();
                if (current_failed) {
                        fprintf(stderr, "FAIL %s\n", t->name);
                        failed++;
                } else {
                        passed++;
                }
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
                fprintf(stderr, "warning: could not remove %s\n", root);
        printf("%u passed, %u failed\n", passed, failed);
        return failed ? 1 : 0;
}
