/* header_map: which volume's key opens a LUKS header the agent made, by the
 * header's UUID, so that the key follows its ciphertext. Cinder copies a
 * volume's bytes without the agent's image metadata (backup and restore,
 * migration, retype, an image upload and a volume made from it), or with
 * another volume's (librbd's clone copies the parent's record, which is
 * bound to the parent's id): the new volume starts with a header whose
 * UUID this map knows, and the volume role re-binds that key to it.
 *
 * One entry per (header UUID, volume) in the omap of CEPH_HEADERS_OBJECT in
 * the pool, written before the header itself goes out (so no agent-made
 * header is missing from it) and by every re-bind:
 *   key   "<uuid>/<volume id>"
 *   value "v1 created=SECONDS deleted=SECONDS|- record=RECORD|-|shredded"
 * RECORD is the volume's wrapped key record as stored in its image
 * (keywrap.h: bound to that volume id, useless without a KEK), "-" for the
 * providers that keep keys elsewhere, "shredded" once the volume was
 * deleted under [volume] deleted_keys = shred (docs/decisions.md). record=
 * comes last and runs to the end of the value.
 *
 * Functions return 0 or a negative errno: -EINVAL for a malformed value,
 * uuid or id, else librados' errors (ceph/ceph.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/event.h"
#include "keys/keywrap.h"

struct ceph_cluster;

#define HEADER_MAP_UUID_MAX 40

enum header_map_record {
        HEADER_MAP_RECORD,    /* record holds the wrapped key */
        HEADER_MAP_NONE,      /* the key is kept by another provider */
        HEADER_MAP_SHREDDED,  /* the volume was deleted and its record with it */
};

struct header_map_entry {
        char uuid[HEADER_MAP_UUID_MAX];
        char volume_id[EVENT_ID_MAX];
        int64_t created;
        int64_t deleted; /* 0: the volume is live */
        enum header_map_record kind;
        char record[KEYWRAP_RECORD_MAX]; /* with HEADER_MAP_RECORD */
};

/* The omap key and value of e (key: at least CEPH_INDEX_KEY_MAX + 1 bytes). */
int header_map_encode(const struct header_map_entry *e, char *key, size_t key_size, char *value,
                      size_t value_size);
int header_map_decode(const char *key, const char *value, struct header_map_entry *ret);

int header_map_put(struct ceph_cluster *c, const char *pool, const struct header_map_entry *e);
/* -ENOENT when there is no entry for (uuid, volume_id). */
int header_map_get(struct ceph_cluster *c, const char *pool, const char *uuid,
                   const char *volume_id, struct header_map_entry *ret);
/* fn gets every entry of uuid ("" every entry), in volume id order; one
 * that does not decode comes with entry == NULL and its omap key. Non-zero
 * from fn stops the walk and is returned. */
typedef int (*header_map_fn)(void *opaque, const char *key, const struct header_map_entry *entry);
int header_map_each(struct ceph_cluster *c, const char *pool, const char *uuid, header_map_fn fn,
                    void *opaque);
