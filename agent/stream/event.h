/* event: OpenStack notifications as they appear in the hook file.
 *
 * Accepts the oslo.messaging v2 envelope ({"oslo.version", "oslo.message":
 * "<json string>"}) and the bare notification, both parsed by json-c in
 * strict mode. Only the fields the agent acts on are extracted, into
 * bounded buffers. Errors: -EINVAL (not JSON, not an object, missing or
 * mistyped field), -E2BIG (nesting deeper than the limit); *ret_reason
 * then says which, in words fit for a log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_ID_MAX 64    /* uuids and type ids are 36 chars */
#define EVENT_TYPE_MAX 128
#define EVENT_STATUS_MAX 32
#define EVENT_MAX_SIZE_GIB (1024u * 1024u) /* 1 PiB */
/* Largest max_depth event_parse() accepts (json-c frees values recursively). */
#define EVENT_MAX_DEPTH_LIMIT 1024u

#define EVENT_HOST_MAX 256     /* a host name as Nova/Cinder record it */
#define EVENT_ZONE_MAX 256     /* an availability zone name (Cinder: 255) */
#define EVENT_MAX_ATTACHMENTS 4 /* attached hosts kept from one payload */

struct event {
        char event_type[EVENT_TYPE_MAX];
        char message_id[EVENT_ID_MAX];
        /* Volume fields, set only for volume.* events and backup.restore.end
         * (whose volume_id is the backup's source volume). */
        bool is_volume;
        char volume_id[EVENT_ID_MAX];   /* validated UUID, lowercase */
        bool has_volume_type;
        char volume_type[EVENT_ID_MAX]; /* type id; empty if null */
        char status[EVENT_STATUS_MAX];
        /* payload.host, Cinder's "host@backend#pool"; empty if absent/null */
        char volume_host[EVENT_HOST_MAX];
        /* payload.availability_zone; empty if absent/null */
        char availability_zone[EVENT_ZONE_MAX];
        bool zone_unreadable; /* present but not printable ASCII or too long */
        uint64_t size_gib;
        /* payload.volume_attachment[].attached_host, in order; entries
         * without a host (absent, null or "") are left out. */
        char attached_hosts[EVENT_MAX_ATTACHMENTS][EVENT_HOST_MAX];
        size_t n_attached_hosts;
        bool more_attachments; /* beyond EVENT_MAX_ATTACHMENTS */
        char backup_id[EVENT_ID_MAX]; /* payload.backup_id, lowercase; "" if absent/null */
};

/* Parses one hook-file line (data, length; need not be NUL-terminated).
 * max_depth is 1..EVENT_MAX_DEPTH_LIMIT; the oslo.message inside an
 * envelope gets the same limit. *ret is untouched on failure. */
int event_parse(const char *data, size_t length, unsigned max_depth, struct event *ret,
                const char **ret_reason);

/* An event after which the volume is whole and of the type its payload
 * names, so a volume of a managed type is the agent's to format:
 * volume.create.end, volume.manage_existing.end (Cinder taking over an image
 * it did not make, cinder/volume/flows/manager/manage_existing.py) and
 * volume.retype (sent once the type has changed, after the migration a
 * retype may need: cinder/volume/manager.py:3166-3168). */
bool event_sets_type(const char *event_type);
/* True unless the payload names a status other than "available" (an
 * attached volume, one still being made): a volume the agent may write. */
bool event_volume_available(const struct event *e);
