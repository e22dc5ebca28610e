/* Tests for volume_index.c's text form: what the volume role writes must
 * read back the same on every compute host, and anything else must be
 * refused rather than half-read. */
#include "records/volume_index.h"
#include "../unit.h"

#include <errno.h>
#include <string.h>

#include "ceph/ceph.h"

static const char id[] = "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64";

TEST(volume_index_roundtrip)
{
        struct volume_index_entry e = {.state = VOLUME_INDEX_FORMATTED, .time = 1764633600}, back;
        char text[CEPH_INDEX_VALUE_MAX + 1];

        memcpy(e.volume_id, id, sizeof(id));
        strcpy(e.type, "b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11");
        strcpy(e.host, "cinder-1@rbd-fast#volumes");
        strcpy(e.zone, "zone one=%two");
        strcpy(e.uuid, "5f0e1c2d-0000-4000-8000-000000000001");
        REQUIRE(volume_index_encode(&e, text, sizeof(text)) == 0);
        CHECK(strcmp(text, "v1 state=formatted type=b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11 "
                           "host=cinder-1@rbd-fast#volumes zone=zone%20one%3D%25two "
                           "uuid=5f0e1c2d-0000-4000-8000-000000000001 time=1764633600") == 0);
        REQUIRE(volume_index_decode(id, text, &back) == 0);
        CHECK(back.state == e.state && back.time == e.time);
        CHECK(strcmp(back.volume_id, id) == 0 && strcmp(back.type, e.type) == 0);
        CHECK(strcmp(back.host, e.host) == 0 && strcmp(back.zone, e.zone) == 0);
        CHECK(strcmp(back.uuid, e.uuid) == 0);
}

TEST(volume_index_unknown_fields)
{
        struct volume_index_entry e = {.state = VOLUME_INDEX_REFUSED, .time = 3}, back;
        char text[CEPH_INDEX_VALUE_MAX + 1];

        memcpy(e.volume_id, id, sizeof(id));
        REQUIRE(volume_index_encode(&e, text, sizeof(text)) == 0);
        CHECK(strcmp(text, "v1 state=refused type=- host=- zone=- uuid=- time=3") == 0);
        REQUIRE(volume_index_decode(id, text, &back) == 0);
        CHECK(back.state == VOLUME_INDEX_REFUSED && !back.type[0] && !back.host[0] &&
              !back.zone[0] && !back.uuid[0]);
        for (int s = VOLUME_INDEX_FORMATTED; s <= VOLUME_INDEX_FOREIGN; s++) {
                e.state = (enum volume_index_state)s;
                REQUIRE(volume_index_encode(&e, text, sizeof(text)) == 0);
                REQUIRE(volume_index_decode(id, text, &back) == 0);
                CHECK(back.state == e.state);
        }
}

TEST(volume_index_refuses_what_it_did_not_write)
{
        static const char *const bad[] = {
                "",
                "v2 state=formatted type=- host=- zone=- uuid=- time=1",
                "v1 state=maybe type=- host=- zone=- uuid=- time=1",
                "v1 state=formatted type=- host=- zone=- uuid=- time=",
                "v1 state=formatted type=- host=- zone=- uuid=- time=1x",
                "v1 state=formatted type=- host=- zone=- uuid=- time=1 extra=2",
                "v1 state=formatted host=- type=- zone=- uuid=- time=1",
                "v1 state=formatted type=a%2 host=- zone=- uuid=- time=1",
                "v1 state=formatted type=a%0A host=- zone=- uuid=- time=1",
                "v1 state=formatted type=a%zz host=- zone=- uuid=- time=1",
                "v1 state=formatted type=a\"b host=- zone=- uuid=- time=1",
                "v1 state=formatted type=- host=- zone=- uuid=- time=1234567890123456789",
                "v1  state=formatted type=- host=- zone=- uuid=- time=1",
        };
        struct volume_index_entry back;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK(volume_index_decode(id, bad[i], &back) == -EINVAL);
        CHECK(volume_index_decode("not-a-uuid",
                                  "v1 state=formatted type=- host=- zone=- uuid=- time=1",
                                  &back) == -EINVAL);
}

TEST(volume_index_encode_limits)
{
        struct volume_index_entry e = {.state = VOLUME_INDEX_FORMATTED};
        char small[16], text[CEPH_INDEX_VALUE_MAX + 1];

        memcpy(e.volume_id, id, sizeof(id));
        CHECK(volume_index_encode(&e, small, sizeof(small)) == -E2BIG);
        /* The longest fields, every byte percent-encoded, still fit an omap value. */
        memset(e.type, '%', sizeof(e.type) - 1);
        memset(e.host, ' ', sizeof(e.host) - 1);
        memset(e.zone, '=', sizeof(e.zone) - 1);
        memset(e.uuid, '%', sizeof(e.uuid) - 1);
        CHECK(volume_index_encode(&e, text, sizeof(text)) == 0);
        strcpy(e.volume_id, "nope");
        CHECK(volume_index_encode(&e, text, sizeof(text)) == -EINVAL);
}
