/* Unit tests for agent/config/: [volume]: types and their limit, backends,
 * deleted_keys.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

TEST(config_wants_type)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(AGENT CEPH "[volume]\ntypes = gold,silver\n" KEYS, &c, &p) == 0);
        CHECK(config_wants_type(c, "gold"));
        CHECK(config_wants_type(c, "silver"));
        CHECK(!config_wants_type(c, "bronze"));
        CHECK(!config_wants_type(c, "gol"));
        CHECK(!config_wants_type(c, NULL));
        config_free(c);
        c = NULL;

        REQUIRE(load_text(MINIMAL, &c, &p) == 0);
        CHECK(config_wants_type(c, "anything"));
        CHECK(config_wants_type(c, NULL));
        config_free(c);
        config_problems_clear(&p);
}

/* types = t0,t1,...,t(n-1) */
static int load_types(unsigned n, struct config **ret, struct config_problems *p)
{
        char text[2048] = AGENT CEPH "[volume]\ntypes = ";
        size_t len = strlen(text);

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%st%u", i ? "," : "", i);
        snprintf(text + len, sizeof(text) - len, "\n%s", KEYS);
        return load_text(text, ret, p);
}

TEST(config_types_limit)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_types(CONFIG_MAX_TYPES, &c, &p) == 0);
        CHECK(c->n_types == CONFIG_MAX_TYPES);
        CHECK(config_wants_type(c, "t63"));
        config_free(c);
        c = NULL;

        CHECK(load_types(CONFIG_MAX_TYPES + 1, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 1);
        CHECK(p.count == 1 && strstr(p.lines[0], ":10: types = 't0,t1,") &&
              strstr(p.lines[0], ",t64': more than 64 volume types"));
        config_problems_clear(&p);
}

TEST(config_deleted_keys)
{
        struct config_problems p = {0};
        struct config *c;

        REQUIRE(load_text(AGENT CEPH VOLUME "deleted_keys = shred\n" KEYS, &c, &p) == 0);
        CHECK(c->shred_deleted_keys);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(AGENT CEPH VOLUME "deleted_keys = keep\n" KEYS, &c, &p) == 0);
        CHECK(!c->shred_deleted_keys);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_backends)
{
        struct config_problems p = {0};
        struct config *c;

        REQUIRE(load_text(MINIMAL, &c, &p) == 0);
        CHECK(c->n_backends == 0);
        /* Unset: every backend, and events without a host too. */
        CHECK(config_wants_backend(c, "h@any#p"));
        CHECK(config_wants_backend(c, ""));
        CHECK(config_wants_backend(c, NULL));
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(AGENT CEPH VOLUME "backends = rbd-1, rbd_2\n" KEYS, &c, &p) == 0);
        CHECK(c->n_backends == 2);
        CHECK(config_wants_backend(c, "cinder@rbd-1#volumes"));
        CHECK(config_wants_backend(c, "cinder@rbd_2"));
        CHECK(!config_wants_backend(c, "cinder@rbd-10#volumes"));
        CHECK(!config_wants_backend(c, "cinder@rbd#volumes"));
        CHECK(!config_wants_backend(c, "cinder#rbd-1"));
        CHECK(!config_wants_backend(c, "rbd-1"));
        CHECK(!config_wants_backend(c, ""));
        CHECK(!config_wants_backend(c, NULL));
        config_free(c);
        config_problems_clear(&p);
        CHECK(load_text(AGENT CEPH VOLUME "backends = rbd-1,,rbd-2\n" KEYS, &c, &p) < 0);
        CHECK(p.count == 1 && strstr(p.lines[0], "empty backend name in the list"));
        config_problems_clear(&p);
        CHECK(load_text(AGENT CEPH VOLUME "backends = rbd@1\n" KEYS, &c, &p) < 0);
        CHECK(p.count == 1 && strstr(p.lines[0], "'rbd@1' is not a valid backend name"));
        config_problems_clear(&p);
}
