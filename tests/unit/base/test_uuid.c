/* Tests for uuid.c: the one check of a UUID's text (the assertions of
 * test_event.c's event_is_uuid test, which it replaced) and its lowercase
 * copy. */
#include "base/uuid.h"
#include "../unit.h"

#include <string.h>

TEST(uuid_is_valid)
{
        CHECK(uuid_is_valid("0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64"));
        CHECK(uuid_is_valid("0D3C8D5E-6B9A-4F0E-8C2A-5B1E7D9F3A64"));
        CHECK(!uuid_is_valid("0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a6"));
        CHECK(!uuid_is_valid("0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a645"));
        CHECK(!uuid_is_valid("0d3c8d5e6b9a4f0e8c2a5b1e7d9f3a64"));
        CHECK(!uuid_is_valid("0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a6g"));
        CHECK(!uuid_is_valid("{d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64"));
        CHECK(!uuid_is_valid("../x"));
        CHECK(!uuid_is_valid(""));
        CHECK(!uuid_is_valid(NULL));
}

TEST(uuid_is_valid_dashes_only_where_they_belong)
{
        CHECK(!uuid_is_valid("0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a6-"));
        CHECK(!uuid_is_valid("0d3c8d5e66b9a-4f0e-8c2a-5b1e7d9f3a64"));
        CHECK(!uuid_is_valid("------------------------------------"));
}

TEST(uuid_lower)
{
        char out[UUID_LEN + 1];

        uuid_lower("0D3C8D5E-6B9A-4F0E-8C2A-5B1E7D9F3A64", out);
        CHECK(strcmp(out, "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64") == 0);
        uuid_lower("0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64", out);
        CHECK(strcmp(out, "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64") == 0);
}
