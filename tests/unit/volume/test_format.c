/* Tests for format_decide.c: the reading of the state metadata (the
 * header UUID a "formatted" state names, which the re-bind after a restore
 * compares with the header the image holds now), and whether a blank image
 * may be written, decided on a job built by hand, without Ceph. */
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

/* A job as format_open_image leaves it before the decision: the image's
 * size, the payload offset, and its first `offset` bytes (blank). */
#define DECIDE_OFFSET (2u * PHDR_BLOCK)

struct decide_fixture {
        struct config config;
        struct format_context ctx;
        struct format_result result;
        unsigned char probe[DECIDE_OFFSET];
        struct job job;
};

static void decide_setup(struct decide_fixture *f, uint64_t size, unsigned max_convert_gib)
{
        memset(f, 0, sizeof(*f));
        f->config.max_convert_gib = max_convert_gib;
        f->ctx.config = &f->config;
        f->job = (struct job){.ctx = &f->ctx, .volume_id = "v", .size = size,
                              .offset = DECIDE_OFFSET, .probe = f->probe, .result = &f->result};
}

TEST(format_decide_blank_image_of_the_volume_size)
{
        struct decide_fixture f;

        decide_setup(&f, 1u << 20, 0);
        CHECK(format_decide_blank_image(&f.job, 1u << 20) == 0);
        CHECK(f.job.payload == 1u << 20);
        CHECK(f.job.check_from == 0);
        CHECK(!f.job.convert && !f.job.resume_in_header);
        CHECK(f.result.reason[0] == '\0');
        /* By hand (no size from an event): the image's own size. */
        decide_setup(&f, 1u << 20, 0);
        CHECK(format_decide_blank_image(&f.job, 0) == 0);
        CHECK(f.job.payload == 1u << 20);
}

TEST(format_decide_blank_image_refuses_another_size_or_none)
{
        struct decide_fixture f;

        decide_setup(&f, 1u << 20, 0);
        CHECK(format_decide_blank_image(&f.job, 2u << 20) < 0);
        CHECK(f.result.outcome == OUTCOME_REFUSED && !f.result.transient);
        CHECK(strstr(f.result.reason, "image is 1048576 bytes but the volume is 2097152 bytes"));
        decide_setup(&f, 0, 0);
        CHECK(format_decide_blank_image(&f.job, 0) < 0);
        CHECK(f.result.outcome == OUTCOME_REFUSED);
        CHECK(strstr(f.result.reason, "image is empty"));
}

TEST(format_decide_blank_image_data_where_the_header_goes)
{
        struct decide_fixture f;

        decide_setup(&f, 1u << 20, 0);
        f.probe[5] = 1;
        CHECK(format_decide_blank_image(&f.job, 1u << 20) < 0);
        CHECK(f.result.outcome == OUTCOME_REFUSED);
        CHECK(strstr(f.result.reason, "non-zero byte at offset 5 where the header goes"));
        CHECK(strstr(f.result.reason, "max_convert_gib = 0"));
        /* Conversion on: converted, nothing ended yet. */
        decide_setup(&f, 1u << 20, 1);
        f.probe[5] = 1;
        CHECK(format_decide_blank_image(&f.job, 1u << 20) == 0);
        CHECK(f.job.convert);
        CHECK(strcmp(f.job.convert_where, "a non-zero byte at offset 5 where the header goes") == 0);
        CHECK(f.result.reason[0] == '\0');
}

TEST(format_decide_blank_image_resumes_our_interrupted_format)
{
        uint64_t payload = 1u << 20;
        struct decide_fixture f;

        /* Grown already: past the first 4 KiB, our partial key slots. */
        decide_setup(&f, payload + DECIDE_OFFSET, 0);
        snprintf(f.job.state, sizeof(f.job.state), "writing payload=%u offset=%u time=1",
                 1u << 20, DECIDE_OFFSET);
        f.job.has_state = true;
        f.probe[PHDR_BLOCK + 1] = 1;
        CHECK(format_decide_blank_image(&f.job, payload) == 0);
        CHECK(f.job.payload == payload);
        CHECK(f.job.check_from == DECIDE_OFFSET);
        CHECK(f.job.resume_in_header);
        /* ...but never in the first 4 KiB, which go out last. */
        f.probe[1] = 1;
        f.job.resume_in_header = false;
        CHECK(format_decide_blank_image(&f.job, payload) < 0);
        CHECK(f.result.outcome == OUTCOME_REFUSED);
        CHECK(strstr(f.result.reason, "writes the first 4 KiB last"));
        /* A state whose offset is not this image's. */
        decide_setup(&f, payload, 0);
        snprintf(f.job.state, sizeof(f.job.state), "writing payload=%u offset=%u time=1",
                 1u << 20, 3 * PHDR_BLOCK);
        f.job.has_state = true;
        CHECK(format_decide_blank_image(&f.job, payload) < 0);
        CHECK(strstr(f.result.reason, "does not match the image"));
}
