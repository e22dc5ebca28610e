/* Tests for format.c's reading of the state metadata: the header UUID a
 * "formatted" state names, which the re-bind after a restore compares with
 * the header the image holds now. */
#include "volume/format_internal.h"
#include "../unit.h"

#include <string.h>

TEST(format_state_uuid_of_a_formatted_state)
{
        char uuid[40] = "";

        CHECK(job_state_uuid("formatted payload=1073741824 offset=4194304 "
                             "uuid=9d4df54c-5966-40c6-85e9-d625409adfe5 time=1764704308",
                             uuid));
        CHECK(strcmp(uuid, "9d4df54c-5966-40c6-85e9-d625409adfe5") == 0);
        CHECK(job_state_uuid("formatted payload=1 offset=2 uuid=u", uuid)); /* last field */
        CHECK(strcmp(uuid, "u") == 0);
}

TEST(format_state_uuid_none)
{
        char uuid[40] = "kept";

        CHECK(!job_state_uuid("writing payload=1073741824 offset=4194304 time=1764704308", uuid));
        CHECK(!job_state_uuid("formatted payload=1 offset=2 uuid= time=3", uuid));
        CHECK(!job_state_uuid("formatted payload=1 offset=2 uuid=0123456789012345678901234567890123456789 "
                              "time=3",
                              uuid)); /* 40 characters: longer than any LUKS UUID */
        CHECK(!job_state_uuid("", uuid));
        CHECK(strcmp(uuid, "kept") == 0);
}
