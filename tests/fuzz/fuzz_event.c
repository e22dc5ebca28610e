/* libFuzzer target for event.c: event_parse() on arbitrary bytes, with the
 * JSON depth limits 4 (the smallest the config allows) and 32 (the
 * default). Besides the sanitizers it checks the contract of event.h and
 * abort()s on a violation:
 *   - the result is 0, -EINVAL or -E2BIG, and a failure has a reason that
 *     is one line of printable ASCII and leaves *ret untouched;
 *   - every field of a parsed event is NUL-terminated printable ASCII in
 *     its buffer, a volume id is a lowercase UUID, a create.end has a size;
 *   - a line accepted at depth 4 is accepted at depth 32 with equal fields. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/event.h"
#include "base/uuid.h"

#define FILL 0xa5

static void fail(const char *what)
{
        fprintf(stderr, "fuzz_event: invariant violated: %s\n", what);
        abort();
}

static void check_text(const char *s, size_t size, const char *what)
{
        size_t n = strnlen(s, size);

        if (n == size)
                fail(what);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
                        fail(what);
}

static void check_reason(const char *reason)
{
        if (!reason)
                fail("failure without a reason");
        check_text(reason, 1024, "reason not printable ASCII");
}

static void check_event(const struct event *e)
{
        check_text(e->event_type, sizeof(e->event_type), "event_type");
        if (e->event_type[0] == '\0')
                fail("empty event_type");
        check_text(e->message_id, sizeof(e->message_id), "message_id");
        check_text(e->volume_type, sizeof(e->volume_type), "volume_type");
        check_text(e->status, sizeof(e->status), "status");
        if (e->is_volume != (strncmp(e->event_type, "volume.", 7) == 0))
                fail("is_volume does not follow event_type");
        if (!e->is_volume)
                return;
        if (!uuid_is_valid(e->volume_id))
                fail("volume_id not a UUID");
        for (size_t i = 0; i < 36; i++)
                if (e->volume_id[i] >= 'A' && e->volume_id[i] <= 'F')
                        fail("volume_id not lowercase");
        if (e->has_volume_type != (e->volume_type[0] != '\0'))
                fail("has_volume_type does not follow volume_type");
        if (e->size_gib > EVENT_MAX_SIZE_GIB)
                fail("size beyond the limit");
        if (strcmp(e->event_type, "volume.create.end") == 0 && e->size_gib == 0)
                fail("create.end without a size");
        if (e->n_attached_hosts > EVENT_MAX_ATTACHMENTS)
                fail("too many attached hosts");
        if (e->more_attachments && e->n_attached_hosts != EVENT_MAX_ATTACHMENTS)
                fail("more_attachments before the list is full");
        for (size_t i = 0; i < e->n_attached_hosts; i++) {
                check_text(e->attached_hosts[i], EVENT_HOST_MAX, "attached host");
                if (e->attached_hosts[i][0] == '\0')
                        fail("empty attached host");
        }
}

static bool same_event(const struct event *a, const struct event *b)
{
        if (strcmp(a->event_type, b->event_type) || strcmp(a->message_id, b->message_id) ||
            a->is_volume != b->is_volume || strcmp(a->volume_id, b->volume_id) ||
            a->has_volume_type != b->has_volume_type || strcmp(a->volume_type, b->volume_type) ||
            strcmp(a->status, b->status) || a->size_gib != b->size_gib ||
            a->n_attached_hosts != b->n_attached_hosts ||
            a->more_attachments != b->more_attachments)
                return false;
        for (size_t i = 0; i < a->n_attached_hosts; i++)
                if (strcmp(a->attached_hosts[i], b->attached_hosts[i]))
                        return false;
        return true;
}

static bool untouched(const struct event *e)
{
        const unsigned char *p = (const unsigned char *)e;

        for (size_t i = 0; i < sizeof(*e); i++)
                if (p[i] != FILL)
                        return false;
        return true;
}

static int parse(const uint8_t *data, size_t size, unsigned depth, struct event *e)
{
        const char *reason = NULL;
        int r;

        memset(e, FILL, sizeof(*e));
        r = event_parse((const char *)data, size, depth, e, &reason);
        if (r == 0) {
                check_event(e);
                return 0;
        }
        if (r != -EINVAL && r != -E2BIG)
                fail("unexpected error code");
        check_reason(reason);
        if (!untouched(e))
                fail("*ret written on failure");
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct event shallow, deep;
        int r4, r32;

        r4 = parse(data, size, 4, &shallow);
        r32 = parse(data, size, 32, &deep);
        if (r4 == 0 && (r32 != 0 || !same_event(&shallow, &deep)))
                fail("accepted at depth 4 but not the same at depth 32");
        /* A NULL reason pointer is allowed (reason.h). */
        (void)event_parse((const char *)data, size, 32, &deep, NULL);
        return 0;
}
