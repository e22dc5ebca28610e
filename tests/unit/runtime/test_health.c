/* Unit tests for agent/runtime/health.c: the verdicts `health` draws from crafted
 * files (fresh, stale, degraded, missing, garbage, from the future), and
 * the writer's file being one the reader accepts. */
#include "config/config.h"
#include "runtime/health.h"
#include "runtime/intake.h"
#include "../unit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INTERVAL 10
#define T0 1700000000

static char path[PATH_MAX];
static char message[512];

static void write_health(const char *text)
{
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), HEALTH_FILE);
        f = fopen(path, "w");
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

/* The verdict at now is healthy (or not) with exactly want. */
static bool verdict_is(time_t now, bool healthy, const char *want)
{
        bool got = health_judge(path, INTERVAL, now, message, sizeof(message));

        if (got == healthy && strcmp(message, want) == 0)
                return true;
        fprintf(stderr, "    got  %s \"%s\"\n    want %s \"%s\"\n", got ? "healthy" : "unhealthy",
                message, healthy ? "healthy" : "unhealthy", want);
        return false;
}

/* want with "PATH" replaced by the file's path. */
static const char *with_path(const char *want)
{
        static char out[PATH_MAX + 1024];
        const char *p = strstr(want, "PATH");

        if (!p)
                return want;
        snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - want), want, path, p + 4);
        return out;
}

#define OK_FILE "{\"pid\":4242,\"time\":1700000000,\"role\":\"volume\",\"state\":\"ok\"," \
                "\"detail\":\"0 events in progress\"}\n"

TEST(health_fresh_file_is_healthy)
{
        write_health(OK_FILE);
        CHECK(verdict_is(T0 + 7, true, "healthy: volume pid 4242, updated 7s ago"));
        /* The limit itself is still fresh: 3 x 10 + 5. */
        CHECK(health_limit_s(INTERVAL) == 35);
        CHECK(verdict_is(T0 + 35, true, "healthy: volume pid 4242, updated 35s ago"));
        /* A clock a little behind the writer's counts as no age at all. */
        CHECK(verdict_is(T0 - 3, true, "healthy: volume pid 4242, updated 0s ago"));
}

TEST(health_stale_file)
{
        write_health(OK_FILE);
        CHECK(verdict_is(T0 + 36, false,
                         "stale: last update 36s ago (limit 35s); the agent's main loop is stuck "
                         "or dead"));
        /* Stale wins over degraded: a dead loop says nothing about Ceph. */
        write_health("{\"pid\":1,\"time\":1700000000,\"role\":\"compute\",\"state\":"
                     "\"degraded\",\"detail\":\"libvirt down\"}");
        CHECK(verdict_is(T0 + 100, false,
                         "stale: last update 100s ago (limit 35s); the agent's main loop is stuck "
                         "or dead"));
}

TEST(health_degraded_file)
{
        write_health("{\"pid\":1,\"time\":1700000000,\"role\":\"volume\",\"state\":\"degraded\","
                     "\"detail\":\"1 events waiting on retries; latest: volume x: cannot "
                     "connect to Ceph\"}");
        CHECK(verdict_is(T0 + 1, false,
                         "degraded: 1 events waiting on retries; latest: volume x: cannot "
                         "connect to Ceph"));
}

TEST(health_missing_file)
{
        snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), HEALTH_FILE);
        CHECK(verdict_is(T0, false, with_path("no health file PATH: the agent has not started or "
                                              "cannot write its state dir")));
}

TEST(health_file_from_the_future)
{
        write_health(OK_FILE);
        CHECK(verdict_is(T0 - 100, false,
                         with_path("PATH is dated 100 s in the future; check the clock")));
}

static const struct {
        const char *text;
        const char *why;
} garbage[] = {
        {"", "not JSON"},
        {"ok\n", "not JSON"},
        {"{\"pid\":1,", "not JSON"},
        {OK_FILE "{}", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"time\":1700000000,\"role\":\"v\",\"state\":\"ok\",\"detail\":\"\"}", "no pid"},
        {"{\"pid\":0,\"time\":1700000000,\"role\":\"v\",\"state\":\"ok\",\"detail\":\"\"}",
         "no pid"},
        {"{\"pid\":\"1\",\"time\":1700000000,\"role\":\"v\",\"state\":\"ok\",\"detail\":\"\"}",
         "no pid"},
        {"{\"pid\":1,\"time\":\"now\",\"role\":\"v\",\"state\":\"ok\",\"detail\":\"\"}",
         "no time"},
        {"{\"pid\":1,\"time\":1700000000,\"state\":\"ok\",\"detail\":\"\"}", "no role"},
        {"{\"pid\":1,\"time\":1700000000,\"role\":\"v\",\"state\":\"ok\"}", "no detail"},
        {"{\"pid\":1,\"time\":1700000000,\"role\":\"v\",\"state\":\"fine\",\"detail\":\"\"}",
         "state is not ok or degraded"},
        {"{\"pid\":1,\"time\":1700000000,\"role\":\"v\",\"detail\":\"\"}",
         "state is not ok or degraded"},
        {"{\"pid\":1,\"time\":1700000000,\"role\":\"v\",\"state\":\"ok\",\"detail\":{\"a\":{}}}",
         "not JSON"},
};

TEST(health_garbage_files)
{
        char want[256];

        for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
                write_health(garbage[i].text);
                snprintf(want, sizeof(want), "PATH is not a health file (%s)", garbage[i].why);
                if (!verdict_is(T0, false, with_path(want)))
                        fprintf(stderr, "  row %zu\n", i);
        }
}

TEST(health_oversized_file)
{
        char big[HEALTH_FILE_MAX + 100];

        memset(big, ' ', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        memcpy(big, OK_FILE, strlen(OK_FILE));
        write_health(big);
        CHECK(verdict_is(T0, false, with_path("PATH is not a health file (more than 4096 bytes)")));
}

TEST(health_writer_output_is_accepted)
{
        const char *dir = unit_tmpdir();
        char want[128], temp[PATH_MAX + 8];
        struct health h;

        REQUIRE(health_init(&h, dir, HEALTH_FILE, "compute", INTERVAL) == 0);
        snprintf(path, sizeof(path), "%s/%s", dir, HEALTH_FILE);
        CHECK(strcmp(h.path, path) == 0);
        CHECK(health_due(&h));
        REQUIRE(health_write(&h, false, "libvirt connected") == 0);
        snprintf(want, sizeof(want), "healthy: compute pid %d, updated 0s ago", (int)getpid());
        CHECK(verdict_is(time(NULL), true, want));
        snprintf(temp, sizeof(temp), "%s.tmp", path);
        CHECK(access(temp, F_OK) < 0 && errno == ENOENT);

        /* Quotes, backslashes and control bytes survive as a valid file. */
        REQUIRE(health_write(&h, true, "libvirt \"down\\\"\n\x01 at once") == 0);
        CHECK(verdict_is(time(NULL), false, "degraded: libvirt \"down\\\"?? at once"));
}

TEST(health_beat_writes_at_most_every_interval)
{
        const char *dir = unit_tmpdir();
        char want[128];
        struct health h;

        REQUIRE(health_init(&h, dir, HEALTH_FEED_FILE, "feed", 3600) == 0);
        snprintf(path, sizeof(path), "%s/%s", dir, HEALTH_FEED_FILE);
        health_beat(&h, false, "consuming queue %s", "q");
        snprintf(want, sizeof(want), "healthy: feed pid %d, updated 0s ago", (int)getpid());
        CHECK(verdict_is(time(NULL), true, want));
        CHECK(!health_due(&h));
        /* Not due: the next beat writes nothing. */
        REQUIRE(unlink(path) == 0);
        health_beat(&h, true, "broker down");
        CHECK(access(path, F_OK) < 0);
}

TEST(health_beat_survives_an_unwritable_dir)
{
        const char *dir = unit_tmpdir();
        char missing[PATH_MAX];
        struct health h;
        int saved, null;

        snprintf(missing, sizeof(missing), "%s/gone", dir);
        REQUIRE(health_init(&h, missing, HEALTH_FILE, "volume", 1) == 0);
        CHECK(health_write(&h, false, "x") == -ENOENT);
        /* health_beat logs the failure (once a streak) and goes on. */
        saved = dup(STDERR_FILENO);
        null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved >= 0 && null >= 0)
                dup2(null, STDERR_FILENO);
        health_beat(&h, false, "x");
        if (saved >= 0)
                dup2(saved, STDERR_FILENO);
        close(null);
        close(saved);
        CHECK(h.failing);
        CHECK(!health_due(&h));
}

TEST(health_init_refuses_long_paths)
{
        char dir[PATH_MAX + 10];
        struct health h;

        memset(dir, 'a', sizeof(dir) - 1);
        dir[0] = '/';
        dir[sizeof(dir) - 1] = '\0';
        CHECK(health_init(&h, dir, HEALTH_FILE, "volume", 10) == -ENAMETOOLONG);
}

TEST(health_loops_wait_no_longer_than_the_interval)
{
        struct config c = {.poll_interval_ms = 60000, .health_interval_s = 10};

        CHECK(intake_wait_ms(&c) == 10000);
        c.poll_interval_ms = 1000;
        CHECK(intake_wait_ms(&c) == 1000);
        c.health_interval_s = 1;
        c.poll_interval_ms = 5000;
        CHECK(intake_wait_ms(&c) == 1000);
}
