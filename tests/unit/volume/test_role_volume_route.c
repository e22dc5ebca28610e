/* Tests for role_volume_route.c: which way each event goes in the volume
 * role (a job, skipped with its reason, ignored), from a config loaded by
 * the real loader and events parsed by the real parser, without Ceph. */
#include "volume/role_volume_internal.h"
#include "../config/config_test.h"
#include "../stream/event_test.h"
#include "../unit.h"

#include <stdio.h>
#include <string.h>

#define GOLD "b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11"
#define PLAIN "a3084ac9-d35b-46de-98c7-7ac75725f666"

/* types = GOLD, backends = rbd-1 */
static struct config *load_scoped(void)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        if (load_text(AGENT CEPH "[volume]\ntypes = " GOLD "\nbackends = rbd-1\n" KEYS, &c, &p) != 0) {
                print_problems(&p);
                return NULL;
        }
        return c;
}

/* This event (its type, the volume's type or NULL, host, status): the
 * route, and the start of the reason for a skip. */
static const struct {
        const char *event_type, *volume_type, *host, *status;
        enum volume_route want;
        const char *why;
} rows[] = {
        /* in scope: a job */
        {"volume.create.end", GOLD, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_JOB, ""},
        {"volume.manage_existing.end", GOLD, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_JOB, ""},
        {"volume.retype", GOLD, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_JOB, ""},
        {"volume.resize.end", GOLD, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_JOB, ""},
        /* an extend whatever the type: the image's own state decides */
        {"volume.resize.end", PLAIN, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_JOB, ""},
        {"volume.resize.end", NULL, "c1@rbd-1#rbd", "in-use", VOLUME_ROUTE_JOB, ""},
        /* deletes and restores whatever the type and host */
        {"volume.delete.end", PLAIN, "c9@rbd-9#rbd", "deleted", VOLUME_ROUTE_JOB, ""},
        {"backup.restore.end", NULL, "", "available", VOLUME_ROUTE_JOB, ""},
        /* a retype onto another backend: a job (the pool's entry checked) */
        {"volume.retype", GOLD, "c9@rbd-9#rbd", "available", VOLUME_ROUTE_JOB, ""},
        /* out of scope: skipped, saying why */
        {"volume.create.end", PLAIN, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_SKIP,
         "volume type " PLAIN " is not in [volume] types"},
        {"volume.create.end", NULL, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_SKIP,
         "volume type (none) is not in [volume] types"},
        {"volume.retype", PLAIN, "c1@rbd-1#rbd", "available", VOLUME_ROUTE_SKIP,
         "retyped to " PLAIN ", which is not in [volume] types: the image is left as it is"},
        {"volume.create.end", GOLD, "c9@rbd-9#rbd", "available", VOLUME_ROUTE_SKIP,
         "volume host c9@rbd-9#rbd is not on a backend in [volume] backends"},
        {"volume.create.end", GOLD, "", "available", VOLUME_ROUTE_SKIP,
         "the event names no volume host; [volume] backends is set"},
        {"volume.resize.end", PLAIN, "c9@rbd-9#rbd", "available", VOLUME_ROUTE_SKIP,
         "volume host c9@rbd-9#rbd is not on a backend"},
        /* never under a guest */
        {"volume.create.end", GOLD, "c1@rbd-1#rbd", "error", VOLUME_ROUTE_SKIP,
         "volume status is 'error', not 'available'"},
        {"volume.retype", GOLD, "c1@rbd-1#rbd", "in-use", VOLUME_ROUTE_SKIP,
         "retyped while 'in-use': nothing is formatted or converted under a guest"},
        /* what the role does not act on */
        {"volume.create.start", GOLD, "c1@rbd-1#rbd", "creating", VOLUME_ROUTE_IGNORE, ""},
        {"volume.attach.end", GOLD, "c1@rbd-1#rbd", "in-use", VOLUME_ROUTE_IGNORE, ""},
};

TEST(role_volume_route_of_each_event)
{
        struct config *c = load_scoped();

        REQUIRE(c);
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                char fields[512], why[512] = "";
                struct event e;
                enum volume_route got;

                snprintf(fields, sizeof(fields), "%s%s%s, \"host\": \"%s\", \"status\": \"%s\", \"size\": 1",
                         rows[i].volume_type ? ", \"volume_type\": \"" : "",
                         rows[i].volume_type ? rows[i].volume_type : "",
                         rows[i].volume_type ? "\"" : "", rows[i].host, rows[i].status);
                if (!event_test_parse(rows[i].event_type, fields, &e)) {
                        unit_fail(__FILE__, __LINE__, "event_test_parse");
                        continue;
                }
                got = role_volume_route(c, &e, why, sizeof(why));
                if (got != rows[i].want || strncmp(why, rows[i].why, strlen(rows[i].why)) != 0) {
                        fprintf(stderr, "  row %zu: %s of %s on '%s', %s: route %d (%s), expected %d (%s)\n",
                                i, rows[i].event_type,
                                rows[i].volume_type ? rows[i].volume_type : "(no type)",
                                rows[i].host, rows[i].status, (int)got, why, (int)rows[i].want,
                                rows[i].why);
                        unit_fail(__FILE__, __LINE__, "role_volume_route");
                }
        }
        config_free(c);
}

TEST(role_volume_route_every_backend_when_backends_is_unset)
{
        struct config_problems p = {0};
        struct config *c = NULL;
        struct event e;
        char why[512] = "";

        REQUIRE(load_text(MINIMAL, &c, &p) == 0); /* types = *, no backends */
        REQUIRE(event_test_parse("volume.create.end",
                                 ", \"host\": \"c9@rbd-9#rbd\", \"status\": \"available\", \"size\": 1", &e));
        CHECK(role_volume_route(c, &e, why, sizeof(why)) == VOLUME_ROUTE_JOB);
        CHECK(!role_volume_retyped_away(c, &e));
        config_free(c);
}
