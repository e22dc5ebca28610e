/* intake_classify: which lines are parsed in full, which are counted as
 * ignored from their text alone, and which go to rejects.jsonl. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "stream/event.h"
#include "runtime/intake.h"
#include "stream/results.h"
#include "../unit.h"

static const char *const create_only[] = {"volume.create.end", NULL};

struct classify_case {
        const char *name;
        const char *line;
        enum intake_kind with_filter, without_filter;
};

static const struct classify_case cases[] = {
        {"other event, bare", "{\"event_type\": \"compute.instance.update\", \"payload\": {}}",
         INTAKE_IGNORE, INTAKE_EVENT},
        {"other event, envelope",
         "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"event_type\\\": \\\"image.update\\\"}\"}",
         INTAKE_IGNORE, INTAKE_EVENT},
        {"envelope, spaces before the message",
         " {\"oslo.message\" :\t\"{}\", \"oslo.version\": \"2.0\"} \r", INTAKE_IGNORE, INTAKE_REJECT},
        {"wanted event, bare",
         "{\"event_type\": \"volume.create.end\", \"payload\": {\"volume_id\": "
         "\"0b6c2f0e-8d1a-4c55-9a47-5b1e8f3c2d10\", \"size\": 1}}",
         INTAKE_EVENT, INTAKE_EVENT},
        {"wanted event spelled with \\u escapes",
         "{\"event_type\": \"volume\\u002ecreate\\u002eend\", \"payload\": {\"volume_id\": "
         "\"0b6c2f0e-8d1a-4c55-9a47-5b1e8f3c2d10\", \"size\": 1}}",
         INTAKE_EVENT, INTAKE_EVENT},
        {"wanted event, broken", "{\"event_type\": \"volume.create.end\", \"payload\": 7}",
         INTAKE_REJECT, INTAKE_REJECT},
        {"not JSON", "this is not json", INTAKE_REJECT, INTAKE_REJECT},
        {"cut short", "{\"event_type\": \"image.update\", \"payload\": {", INTAKE_REJECT,
         INTAKE_REJECT},
        {"array", "[{\"event_type\": \"image.update\"}]", INTAKE_REJECT, INTAKE_REJECT},
        {"envelope with a number for a message", "{\"oslo.version\": \"2.0\", \"oslo.message\": 42}",
         INTAKE_REJECT, INTAKE_REJECT},
        {"envelope key without a value", "{\"oslo.message\"}", INTAKE_REJECT, INTAKE_REJECT},
        /* The trade documented in intake.h: object-shaped, not a wanted
         * event, broken inside: counted, not copied to rejects. */
        {"object-shaped but broken", "{\"event_type\": image.update}", INTAKE_IGNORE,
         INTAKE_REJECT},
        {"blank", "  \t", INTAKE_IGNORE, INTAKE_IGNORE},
};

static int count_lines(const char *path)
{
        FILE *f = fopen(path, "r");
        int n = 0, ch;

        if (!f)
                return 0;
        while ((ch = fgetc(f)) != EOF)
                n += ch == '\n';
        fclose(f);
        return n;
}

static enum intake_kind classify(const struct config *c, struct results *r, const char *text,
                                 size_t length, const char *const *wanted, struct event *ev)
{
        struct hookfile_line l = {.status = HOOKFILE_LINE, .data = text, .length = length,
                                  .full_length = length};

        return intake_classify(c, r, &l, wanted, ev);
}

TEST(intake_classify_filter)
{
        const char *dir = unit_tmpdir();
        struct config c = {.hook_file = "events.jsonl", .state_dir = (char *)dir,
                           .max_json_depth = 32, .max_line_bytes = 1 << 20};
        char rejects[512];
        struct results *r;
        struct event ev;
        int expected_rejects = 0;

        REQUIRE(results_open(dir, &r) == 0);
        snprintf(rejects, sizeof(rejects), "%s/rejects.jsonl", dir);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct classify_case *t = &cases[i];
                enum intake_kind with = classify(&c, r, t->line, strlen(t->line), create_only, &ev);
                enum intake_kind without = classify(&c, r, t->line, strlen(t->line), NULL, &ev);

                if (with != t->with_filter || without != t->without_filter) {
                        fprintf(stderr, "  case '%s': got %d/%d, want %d/%d\n", t->name, with,
                                without, t->with_filter, t->without_filter);
                        CHECK(!"classification");
                }
                expected_rejects += (t->with_filter == INTAKE_REJECT) +
                                    (t->without_filter == INTAKE_REJECT);
        }
        /* Every reject, and nothing else, is on disk. */
        CHECK(count_lines(rejects) == expected_rejects);
        /* A \u-spelled wanted event is the event itself. */
        {
                const char *t = cases[4].line;

                REQUIRE(classify(&c, r, t, strlen(t), create_only, &ev) == INTAKE_EVENT);
                CHECK(strcmp(ev.event_type, "volume.create.end") == 0);
        }
        /* A NUL byte is never skipped over. */
        {
                static const char nul[] = "{\"event_type\": \"x\0y\"}";

                CHECK(classify(&c, r, nul, sizeof(nul) - 1, create_only, &ev) == INTAKE_REJECT);
        }
        results_close(r);
}
