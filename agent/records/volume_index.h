/* volume_index: the pool's list of the volumes this agent manages, with
 * what their volume agent made of them. Events are hints, this index is
 * the truth the compute role keeps libvirt in step with: every compute
 * host holds a secret for every entry in its scope (docs/decisions.md).
 *
 * One entry per volume id in the omap of one RADOS object in the Cinder
 * pool (ceph/ceph.h, CEPH_INDEX_OBJECT). The volume role writes an entry once a
 * volume of its types and backends has an outcome (formatted, refused,
 * failed, or a LUKS header it did not write), and removes it on
 * volume.delete.end; `index rebuild` derives it again from the images.
 * Listing costs one RADOS read per CEPH_INDEX_PAGE entries, not one per
 * image.
 *
 * An entry's value is one line of text:
 *   v1 state=S type=T host=H zone=Z uuid=U time=SECONDS
 * with each value percent-encoded outside [A-Za-z0-9._@#:+-], and type,
 * host, zone, uuid "-" when unknown. Functions return 0 or a negative
 * errno: -EINVAL for a malformed value or id, else librados' errors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/event.h"

struct ceph_cluster;

enum volume_index_state {
        VOLUME_INDEX_FORMATTED, /* the agent's header is complete: the key opens it */
        VOLUME_INDEX_REFUSED,   /* the image held data or did not fit: never formatted */
        VOLUME_INDEX_FAILED,    /* the format failed for good (no key, ...) */
        VOLUME_INDEX_FOREIGN,   /* a LUKS header the agent did not write (Cinder's own) */
};

#define VOLUME_INDEX_UUID_MAX 40

struct volume_index_entry {
        char volume_id[EVENT_ID_MAX];
        enum volume_index_state state;
        char type[EVENT_ID_MAX];         /* "" unknown */
        char host[EVENT_HOST_MAX];       /* Cinder's host@backend#pool; "" unknown */
        char zone[EVENT_ZONE_MAX];       /* availability zone; "" unknown */
        char uuid[VOLUME_INDEX_UUID_MAX]; /* the LUKS header's UUID; "" unknown */
        int64_t time;
};

const char *volume_index_state_name(enum volume_index_state s);

/* Text form, for the omap value (at most CEPH_INDEX_VALUE_MAX bytes). */
int volume_index_encode(const struct volume_index_entry *e, char *buf, size_t size);
/* Parses a value written by volume_index_encode (volume_id is the key). */
int volume_index_decode(const char *volume_id, const char *value, struct volume_index_entry *ret);

int volume_index_put(struct ceph_cluster *c, const char *pool, const struct volume_index_entry *e);
int volume_index_remove(struct ceph_cluster *c, const char *pool, const char *volume_id);
/* -ENOENT when the volume has no entry. */
int volume_index_get(struct ceph_cluster *c, const char *pool, const char *volume_id,
                     struct volume_index_entry *ret);

/* fn gets every entry; an entry that does not decode comes with
 * entry == NULL and its key, so it can be reported. Non-zero from fn
 * stops the walk and is returned. *ret_reads: RADOS reads made. */
typedef int (*volume_index_fn)(void *opaque, const char *volume_id,
                               const struct volume_index_entry *entry);
int volume_index_each(struct ceph_cluster *c, const char *pool, volume_index_fn fn, void *opaque,
                      size_t *ret_reads);
