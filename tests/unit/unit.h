/* unit: the unit-test runner's whole interface.
 *
 * TEST(name) { ... } defines a test that registers itself; CHECK(cond)
 * records a failure (file, line, condition) and lets the test go on;
 * REQUIRE(cond) also ends the test. Tests call internal functions
 * directly. The runner prints one line per failed test and ends with
 * "N passed, N failed"; it exits 1 when any failed. Arguments to the
 * runner are substrings: only tests whose name contains one of them run. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

struct unit_test {
        const char *name;
        void (*fn)(void);
        struct unit_test *next;
};

void unit_register(struct unit_test *t);
void unit_fail(const char *file, int line, const char *what);
/* A fresh empty directory for this test, removed after the run. */
const char *unit_tmpdir(void);
/* A struct secret holding text (without its NUL); NULL if out of memory. */
struct secret *unit_secret_text(const char *text);
/* Writes n bytes as dir/name, mode 0600, replacing any file there; the
 * path in buf (size bytes), or NULL on any failure. */
/* Runs fn in a forked child (for process-wide state: limits, the log
 * file); true when it exits 0. */
bool unit_in_child(int (*fn)(void));
const char *unit_write_file(const char *dir, const char *name, const void *bytes, size_t n,
                            char *buf, size_t size);

#define TEST(name)                                                                    \
        static void test_##name(void);                                                \
        static struct unit_test unit_##name = {#name, test_##name, NULL};             \
        __attribute__((constructor)) static void unit_register_##name(void)           \
        {                                                                             \
                unit_register(&unit_##name);                                          \
        }                                                                             \
        static void test_##name(void)

#define CHECK(cond)                                                                   \
        do {                                                                          \
                if (!(cond))                                                          \
                        unit_fail(__FILE__, __LINE__, #cond);                         \
        } while (0)

#define REQUIRE(cond)                                                                 \
        do {                                                                          \
                if (!(cond)) {                                                        \
                        unit_fail(__FILE__, __LINE__, #cond);                         \
                        return;                                                       \
                }                                                                     \
        } while (0)
