/* Unit tests for lockcookie: the cookie's fields, and which holders count
 * as gone (same boot, pid namespace and host, pid gone; or old). */
#include "records/lockcookie.h"
#include "../unit.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A cookie as another agent process of this host would make it. */
static void other_cookie(const struct lockcookie_owner *o, const char *boot, int pid,
                         long long age_s, char *cookie, size_t size)
{
        snprintf(cookie, size,
                 "rbd-luks-agent host=%s boot=%s pidns=%" PRIu64
                 " pid=%d instance=0123456789abcdef n=1 time=%lld",
                 o->host, boot, o->pid_namespace, pid, (long long)time(NULL) - age_s);
}

static int dead_pid(void)
{
        int pid = 4000000;

        while (kill(pid, 0) == 0)
                pid++;
        return pid;
}

TEST(lockcookie_names_this_process)
{
        struct lockcookie_owner o;
        char cookie[LOCKCOOKIE_MAX], pid[32], again[LOCKCOOKIE_MAX];

        REQUIRE(lockcookie_owner_init(&o) == 0);
        CHECK(strlen(o.instance) == 16);
        lockcookie_make(&o, cookie, sizeof(cookie));
        snprintf(pid, sizeof(pid), " pid=%d ", (int)getpid());
        CHECK(strncmp(cookie, "rbd-luks-agent host=", 20) == 0);
        CHECK(strstr(cookie, pid) != NULL);
        CHECK(strstr(cookie, o.instance) != NULL);
        CHECK(strstr(cookie, " n=1 ") != NULL);
        lockcookie_make(&o, again, sizeof(again));
        CHECK(strstr(again, " n=2 ") != NULL);
}

TEST(lockcookie_stale_only_when_provably_gone_or_old)
{
        struct lockcookie_owner o;
        char cookie[LOCKCOOKIE_MAX], mine[LOCKCOOKIE_MAX];
        char other_boot[33];

        REQUIRE(lockcookie_owner_init(&o) == 0);
        REQUIRE(o.boot_id[0]);
        snprintf(other_boot, sizeof(other_boot), "%s", o.boot_id);
        other_boot[0] = other_boot[0] == '0' ? '1' : '0';

        other_cookie(&o, o.boot_id, dead_pid(), 0, cookie, sizeof(cookie));
        CHECK(lockcookie_is_stale(&o, cookie, 600));
        other_cookie(&o, o.boot_id, (int)getppid(), 0, cookie, sizeof(cookie));
        CHECK(!lockcookie_is_stale(&o, cookie, 600));
        /* Another host (or boot) whose pid happens to be free here. */
        other_cookie(&o, other_boot, dead_pid(), 0, cookie, sizeof(cookie));
        CHECK(!lockcookie_is_stale(&o, cookie, 600));
        other_cookie(&o, other_boot, dead_pid(), 601, cookie, sizeof(cookie));
        CHECK(lockcookie_is_stale(&o, cookie, 600));
        /* An earlier release's cookie (no boot id): only by its age. */
        for (long long age = 0; age <= 601; age += 601) {
                snprintf(cookie, sizeof(cookie),
                         "rbd-luks-agent host=%s pidns=%" PRIu64
                         " pid=%d instance=0123456789abcdef n=1 time=%lld",
                         o.host, o.pid_namespace, dead_pid(), (long long)time(NULL) - age);
                CHECK(lockcookie_is_stale(&o, cookie, 600) == (age > 600));
        }
        /* This very instance: a live worker's lock, until it is old. */
        lockcookie_make(&o, mine, sizeof(mine));
        CHECK(!lockcookie_is_stale(&o, mine, 600));
        /* Not the agent's cookie: never. */
        CHECK(!lockcookie_is_stale(&o, "auto 140234", 0));
        CHECK(!lockcookie_is_stale(&o, "", 0));
}
