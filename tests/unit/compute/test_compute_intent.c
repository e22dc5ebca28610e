/* Tests for compute_intent.c: what each event asks of this host's secret,
 * on events parsed by the real parser (stream/event.c) from notification
 * text of the shape Cinder sends, without libvirt or Ceph. The fail-closed
 * promise rests on these answers: a new volume gets a placeholder at once,
 * its value only when the volume is whole, nothing from another host's
 * attach, and nothing for a volume retyped under a guest. */
#include "compute/compute_internal.h"
#include "stream/event.h"
#include "../stream/event_test.h"
#include "../unit.h"

#include <stdio.h>
#include <string.h>

/* The event of type, the volume's status, and attachments naming hosts
 * (a comma-separated list, "" for none), parsed; false if it does not parse. */
static bool event_of(const char *type, const char *status, const char *hosts, struct event *ret)
{
        char fields[1024];
        const char *h = hosts;
        size_t used;
        int n = snprintf(fields, sizeof(fields),
                         ", \"volume_type\": \"b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11\", "
                         "\"host\": \"cinder-volume-1@ceph#ceph\", \"size\": 1, "
                         "\"status\": \"%s\", \"volume_attachment\": [", status);

        if (n < 0 || (size_t)n >= sizeof(fields))
                return false;
        used = (size_t)n;
        while (*h) {
                size_t len = strcspn(h, ",");

                n = snprintf(fields + used, sizeof(fields) - used,
                             "%s{\"attached_host\": \"%.*s\", \"attach_status\": \"attached\"}",
                             h == hosts ? "" : ", ", (int)len, h);
                if (n < 0 || (size_t)n >= sizeof(fields) - used)
                        return false;
                used += (size_t)n;
                h += len + (h[len] == ',');
        }
        if (used + 2 > sizeof(fields))
                return false;
        fields[used++] = ']';
        fields[used] = '\0';
        return event_test_parse(type, fields, ret);
}

#define NONE COMPUTE_INTENT_NONE
#define PLACEHOLDER COMPUTE_INTENT_PLACEHOLDER
#define VALUE COMPUTE_INTENT_PROVISION
#define REMOVE COMPUTE_INTENT_REMOVE

/* This host, the event's type, the volume's status, its attachments'
 * hosts; what the event asks here. */
static const struct {
        const char *host, *type, *status, *attached;
        enum compute_intent want;
} rows[] = {
        /* a new volume: a placeholder at once */
        {"cmp-a", "volume.create.start", "creating", "", PLACEHOLDER},
        {"cmp-a", "volume.manage_existing.start", "creating", "", PLACEHOLDER},
        /* whole and typed: the value */
        {"cmp-a", "volume.create.end", "available", "", VALUE},
        {"cmp-a", "volume.manage_existing.end", "available", "", VALUE},
        {"cmp-a", "volume.retype", "available", "", VALUE},
        /* retyped under a guest (or still retyping): left as it is */
        {"cmp-a", "volume.retype", "in-use", "cmp-a", NONE},
        {"cmp-b", "volume.retype", "retyping", "", NONE},
        /* attaches: only those naming this host, in any entry */
        {"cmp-a", "volume.attach.start", "attaching", "cmp-a", VALUE},
        {"cmp-a", "volume.attach.end", "in-use", "cmp-b,cmp-a", VALUE},
        {"cmp-a", "volume.attach.end", "in-use", "cmp-b", NONE},
        {"cmp-a", "volume.attach.start", "attaching", "", NONE},
        /* short and full host names, not prefixes */
        {"cmp-a", "volume.attach.end", "in-use", "cmp-a.example.org", VALUE},
        {"cmp-a.example.org", "volume.attach.end", "in-use", "cmp-a", VALUE},
        {"cmp-a", "volume.attach.end", "in-use", "cmp-ab", NONE},
        {"cmp-ab", "volume.attach.end", "in-use", "cmp-a.example.org", NONE},
        /* deletes remove; detaches and extends change nothing */
        {"cmp-a", "volume.delete.start", "deleting", "", REMOVE},
        {"cmp-a", "volume.delete.end", "deleted", "", REMOVE},
        {"cmp-a", "volume.detach.start", "detaching", "cmp-a", NONE},
        {"cmp-a", "volume.detach.end", "available", "", NONE},
        {"cmp-a", "volume.resize.end", "available", "", NONE},
};

TEST(compute_intent_of_each_event)
{
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct event e;
                enum compute_intent got;

                if (!event_of(rows[i].type, rows[i].status, rows[i].attached, &e)) {
                        fprintf(stderr, "  row %zu (%s): the event does not parse\n", i, rows[i].type);
                        unit_fail(__FILE__, __LINE__, "event_of");
                        continue;
                }
                got = compute_intent_of(rows[i].host, &e);
                if (got != rows[i].want) {
                        fprintf(stderr, "  row %zu: %s on %s, %s, attached to '%s': intent %d, expected %d\n",
                                i, rows[i].type, rows[i].host, rows[i].status, rows[i].attached,
                                (int)got, (int)rows[i].want);
                        unit_fail(__FILE__, __LINE__, "compute_intent_of");
                }
        }
}

TEST(compute_same_host_short_or_full)
{
        CHECK(compute_same_host("cmp-a.one.example", "cmp-a.two.example"));
        CHECK(compute_same_host("cmp-a", "cmp-a"));
        CHECK(!compute_same_host("cmp-a", "cmp-"));
        CHECK(!compute_same_host("cmp-a", ""));
}

TEST(compute_intent_nothing_for_what_is_not_a_volume)
{
        struct event e;

        REQUIRE(event_test_parse("snapshot.create.start",
                                 ", \"snapshot_id\": \"" EVENT_TEST_VOLUME "\", \"status\": \"creating\"",
                                 &e));
        CHECK(compute_intent_of("cmp-a", &e) == COMPUTE_INTENT_NONE);
}
