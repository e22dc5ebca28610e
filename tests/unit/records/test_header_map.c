/* Tests for header_map.c's text form: an entry the volume role writes
 * reads back the same, a record survives whole (it runs to the end of the
 * value), and what the agent did not write is refused. */
#include "records/header_map.h"
#include "../unit.h"

#include <errno.h>
#include <string.h>

#include "ceph/ceph.h"

static const char uuid[] = "5f0e1c2d-0000-4000-8000-000000000001";
static const char id[] = "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64";
static const char record[] = "{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-1\",\"nonce\":\"AAAA\","
                             "\"wrapped\":\"a+b/c=\",\"tag\":\"x y\",\"created\":\"2026-12-02T13:00:00Z\"}";

static struct header_map_entry entry(enum header_map_record kind)
{
        struct header_map_entry e = {.created = 1764680400, .kind = kind};

        memcpy(e.uuid, uuid, sizeof(uuid));
        memcpy(e.volume_id, id, sizeof(id));
        if (kind == HEADER_MAP_RECORD)
                memcpy(e.record, record, sizeof(record));
        return e;
}

TEST(header_map_roundtrip)
{
        struct header_map_entry e = entry(HEADER_MAP_RECORD), back;
        char key[CEPH_INDEX_KEY_MAX + 1], value[CEPH_INDEX_VALUE_MAX + 1];

        REQUIRE(header_map_encode(&e, key, sizeof(key), value, sizeof(value)) == 0);
        CHECK(strcmp(key, "5f0e1c2d-0000-4000-8000-000000000001/"
                          "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64") == 0);
        CHECK(strncmp(value, "v1 created=1764680400 deleted=- record={", 40) == 0);
        REQUIRE(header_map_decode(key, value, &back) == 0);
        CHECK(strcmp(back.uuid, uuid) == 0 && strcmp(back.volume_id, id) == 0);
        CHECK(back.created == e.created && back.deleted == 0 && back.kind == HEADER_MAP_RECORD);
        CHECK(strcmp(back.record, record) == 0);

        e.deleted = 1764690000;
        REQUIRE(header_map_encode(&e, key, sizeof(key), value, sizeof(value)) == 0);
        REQUIRE(header_map_decode(key, value, &back) == 0);
        CHECK(back.deleted == 1764690000 && strcmp(back.record, record) == 0);
}

TEST(header_map_kinds_without_record)
{
        struct header_map_entry e = entry(HEADER_MAP_NONE), back;
        char key[CEPH_INDEX_KEY_MAX + 1], value[CEPH_INDEX_VALUE_MAX + 1];

        REQUIRE(header_map_encode(&e, key, sizeof(key), value, sizeof(value)) == 0);
        CHECK(strcmp(value, "v1 created=1764680400 deleted=- record=-") == 0);
        REQUIRE(header_map_decode(key, value, &back) == 0);
        CHECK(back.kind == HEADER_MAP_NONE);
        e = entry(HEADER_MAP_SHREDDED);
        e.deleted = 7;
        REQUIRE(header_map_encode(&e, key, sizeof(key), value, sizeof(value)) == 0);
        CHECK(strcmp(value, "v1 created=1764680400 deleted=7 record=shredded") == 0);
        REQUIRE(header_map_decode(key, value, &back) == 0);
        CHECK(back.kind == HEADER_MAP_SHREDDED && back.deleted == 7 && !back.record[0]);
}

TEST(header_map_refuses_what_it_did_not_write)
{
        static const char *const bad_values[] = {
                "",
                "v2 created=1 deleted=- record=-",
                "v1 created= deleted=- record=-",
                "v1 created=1 deleted=x record=-",
                "v1 created=1 record=-",
                "v1 created=1 deleted=-",
                "v1 created=1 deleted=- record=",
                "v1 created=-1 deleted=- record=-",
        };
        static const char *const bad_keys[] = {
                "5f0e1c2d-0000-4000-8000-000000000001",
                "5f0e1c2d-0000-4000-8000-000000000001/",
                "not-a-uuid/0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64",
                "5f0e1c2d-0000-4000-8000-000000000001/0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64/x",
        };
        struct header_map_entry back;

        for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++)
                CHECK(header_map_decode("5f0e1c2d-0000-4000-8000-000000000001/"
                                        "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64",
                                        bad_values[i], &back) == -EINVAL);
        for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++)
                CHECK(header_map_decode(bad_keys[i], "v1 created=1 deleted=- record=-", &back) ==
                      -EINVAL);
}

TEST(header_map_encode_checks_its_input)
{
        struct header_map_entry e = entry(HEADER_MAP_RECORD);
        char key[CEPH_INDEX_KEY_MAX + 1], value[CEPH_INDEX_VALUE_MAX + 1], small[40];

        strcpy(e.record, "shredded");
        CHECK(header_map_encode(&e, key, sizeof(key), value, sizeof(value)) == -EINVAL);
        strcpy(e.record, "{\"a\":1}\n");
        CHECK(header_map_encode(&e, key, sizeof(key), value, sizeof(value)) == -EINVAL);
        e = entry(HEADER_MAP_RECORD);
        strcpy(e.volume_id, "volume-1");
        CHECK(header_map_encode(&e, key, sizeof(key), value, sizeof(value)) == -EINVAL);
        e = entry(HEADER_MAP_RECORD);
        CHECK(header_map_encode(&e, key, sizeof(key), small, sizeof(small)) == -E2BIG);
}
