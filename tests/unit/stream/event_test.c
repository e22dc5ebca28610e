/* event_test: see event_test.h. */
#include "event_test.h"

#include <stdio.h>

bool event_test_parse(const char *event_type, const char *payload_fields, struct event *ret)
{
        char line[4096];
        const char *reason = NULL;
        int n = snprintf(line, sizeof(line),
                         "{\"message_id\": \"a3c1e0d4-6f1b-4f7e-9b8a-2c5d7e9f1a2b\", "
                         "\"publisher_id\": \"volume.cinder-volume-1@ceph#ceph\", "
                         "\"event_type\": \"%s\", \"priority\": \"INFO\", "
                         "\"payload\": {\"volume_id\": \"" EVENT_TEST_VOLUME "\"%s}}",
                         event_type, payload_fields);

        if (n < 0 || (size_t)n >= sizeof(line)) {
                fprintf(stderr, "  event_test_parse: %s: the notification is too long\n", event_type);
                return false;
        }
        if (event_parse(line, (size_t)n, 32, ret, &reason) != 0) {
                fprintf(stderr, "  event_test_parse: %s: %s\n", event_type, reason ? reason : "?");
                return false;
        }
        return true;
}
