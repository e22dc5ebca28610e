/* format_inherit: a volume's key follows its ciphertext (format_internal.h,
 * header_map.h): the header map's entries written and read, a copied
 * header's key re-bound to the new volume, a deleted volume's entry
 * marked or shredded. */
#include "format_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/array.h"
#include "records/header_map.h"
#include "records/lockcookie.h"
#include "base/log.h"
#include "luks/luks.h"
#include "ceph/ceph.h"
#include "records/volume_index.h"

/* This volume's entry for header uuid, with record (NULL: the record the
 * image holds now, for the metadata provider; none for the others). */
int format_map_put_own(struct job *j, const char *uuid, const char *record)
{
        struct header_map_entry e = {.created = (int64_t)time(NULL), .kind = HEADER_MAP_NONE};
        int r = 0;

        snprintf(e.uuid, sizeof(e.uuid), "%s", uuid);
        snprintf(e.volume_id, sizeof(e.volume_id), "%s", j->volume_id);
        if (record) {
                e.kind = HEADER_MAP_RECORD;
                snprintf(e.record, sizeof(e.record), "%s", record);
        } else if (keys_stored_in_image(j->ctx->keys)) {
                r = keys_read_record(j->image, e.record, sizeof(e.record));
                e.kind = r >= 0 ? HEADER_MAP_RECORD : HEADER_MAP_NONE;
                r = r == -ENOENT ? 0 : r;
        }
        if (r >= 0)
                r = header_map_put(j->cluster, j->ctx->config->pool, &e);
        if (r < 0)
                job_end(j, OUTCOME_FAILED, ceph_error_is_transient(r),
                    "cannot record header %s of %s/%s in the header map %s: %s", uuid,
                    j->ctx->config->pool, j->image_name, CEPH_HEADERS_OBJECT, strerror(-r));
        return r;
}

/* Other volumes' records tried for one header, at most. */
#define MAX_SOURCES 8

/* What the header map says of one header. */
struct header_owners {
        const char *volume_id; /* this job's volume */
        bool own;              /* it has an entry */
        bool has_other;
        size_t n_sources;
        /* other volumes' entries with their records, in source_before order */
        struct header_map_entry sources[MAX_SOURCES];
        struct header_map_entry other; /* another volume's, without one */
};

/* Live volumes' records first, then the oldest: the volume the header was
 * made for, where it is still there. */
static bool source_before(const struct header_map_entry *a, const struct header_map_entry *b)
{
        if ((a->deleted != 0) != (b->deleted != 0))
                return !a->deleted;
        return a->created < b->created;
}

static int note_owner(void *opaque, const char *key, const struct header_map_entry *e)
{
        struct header_owners *o = opaque;
        size_t at;

        if (!e) {
                log_warn("header map %s: entry \"%s\" does not decode; ignored", CEPH_HEADERS_OBJECT,
                         key);
        } else if (strcmp(e->volume_id, o->volume_id) == 0) {
                o->own = true;
        } else if (e->kind == HEADER_MAP_RECORD && o->n_sources < MAX_SOURCES) {
                at = o->n_sources++;
                while (at > 0 && source_before(e, &o->sources[at - 1])) {
                        o->sources[at] = o->sources[at - 1];
                        at--;
                }
                o->sources[at] = *e;
        } else if (e->kind != HEADER_MAP_RECORD && !o->has_other) {
                o->other = *e;
                o->has_other = true;
        }
        return 0;
}

/* The record lock (ceph/ceph.h) for a re-bind; false (ended) when held. */
static bool lock_record(struct job *j, char *cookie, size_t size)
{
        char holder[LOCKCOOKIE_MAX] = "";
        bool broke;
        int r = lockcookie_take_record_lock(&j->ctx->lock_owner,
                                            j->ctx->config->lock_stale_after_s, j->image, cookie,
                                            size, holder, sizeof(holder), &broke);

        if (broke)
                log_warn("volume %s: breaking the stale lock on its key record held by \"%s\"",
                         j->volume_id, holder);
        if (r == -EBUSY)
                job_end(j, OUTCOME_FAILED, true, "key record of %s/%s is locked by \"%s\"",
                    j->ctx->config->pool, j->image_name, holder);
        else if (r < 0)
                job_end_ceph_error(j, "cannot lock the key record of", r);
        return r >= 0;
}

/* Another volume's header (a clone, copy or restore of it): its key is
 * sealed again for this volume, the image sized as an extend does (the
 * volume's size + the payload offset, never smaller), the state set, and
 * the new record stored last: until it is, a replay does all of it again. */
static void inherit(struct job *j, const char *uuid, const struct header_owners *o,
                    const unsigned char *head, size_t len)
{
        const struct header_map_entry *src = NULL;
        struct keys *keys = j->ctx->keys;
        char cookie[LOCKCOOKIE_MAX];
        struct keys_record record;
        uint64_t offset, payload;
        const char *why = NULL;
        bool grown = false;
        int r;

        if (luks1_payload_offset_of(head, len, &offset) < 0 || j->size < offset) {
                job_end(j, OUTCOME_FAILED, false,
                    "LUKS header %s of volume %s: its payload offset does not fit the image (%" PRIu64
                    " bytes); not re-bound",
                    uuid, o->sources[0].volume_id, j->size);
                return;
        }
        payload = j->requested > j->size - offset ? j->requested : j->size - offset;
        /* The first record that opens for the volume it names (an entry
         * `index rebuild` took from a clone not yet re-bound does not). */
        r = -ENOENT;
        for (size_t i = 0; i < o->n_sources && r < 0; i++) {
                src = &o->sources[i];
                r = keys_rebind(keys, src->volume_id, src->record, j->volume_id, &record, &why);
        }
        if (r < 0) {
                job_end(j, OUTCOME_FAILED, false,
                    "LUKS header %s made by rbd-luks-agent for volume %s: no record of it in the "
                    "header map opens (%s)",
                    uuid, src->volume_id, why ? why : strerror(-r));
                return;
        }
        if (!lock_record(j, cookie, sizeof(cookie)))
                return;
        if (j->size < payload + offset) {
                r = ceph_image_resize(j->image, payload + offset);
                if (r < 0) {
                        job_end_ceph_error(j, "cannot grow", r);
                        goto out;
                }
                grown = true;
        }
        j->payload = payload;
        j->offset = offset;
        if (job_set_state(j, "formatted", uuid) < 0 || format_map_put_own(j, uuid, record.text) < 0)
                goto out;
        r = keys_store(keys, j->volume_id, j->image, &record, &why);
        if (r < 0) {
                job_end_key_error(j, r, why);
                goto out;
        }
        job_end(j, OUTCOME_INHERITED, false,
            "inherited from %s: LUKS header %s, its key re-bound to this volume; payload %" PRIu64
            " bytes%s",
            src->volume_id, uuid, payload, grown ? " (image grown)" : "");
        j->result->header = FORMAT_HEADER_OURS;
        snprintf(j->result->luks_uuid, sizeof(j->result->luks_uuid), "%s", uuid);
out:
        r = ceph_image_record_unlock(j->image, cookie);
        if (r < 0)
                log_warn("volume %s: cannot unlock its key record (broken as stale once this "
                         "process has ended): %s",
                         j->volume_id, strerror(-r));
}

/* The metadata provider's record on the image opens for this volume: 1;
 * it is another volume's, or there is none: 0; else ended (-1). */
static int record_is_bound(struct job *j)
{
        struct secret *key = NULL;
        const char *why = NULL;
        int r = keys_lookup(j->ctx->keys, j->volume_id, j->image, &key, &why);

        secret_free(key);
        if (r >= 0)
                return 1;
        if (r == -ENOENT || r == -EBADMSG)
                return 0;
        job_end_key_error(j, r, why);
        return -1;
}

/* Our state names another header than the image now holds, and the header
 * map knows the new one as another volume's only: cinder-backup restored a
 * backup of that volume over this one (docs/decisions.md, "Backups"). */
static bool header_replaced(struct job *j, const char *uuid, const struct header_owners *o)
{
        char state_uuid[40];

        return uuid[0] && !o->own && o->n_sources && j->has_state &&
               job_state_uuid(j->state, state_uuid) && strcmp(state_uuid, uuid) != 0;
}

/* A complete header, not ours in the middle of a format: ours (skipped),
 * another agent-made volume's (its key re-bound, or failed with why it
 * cannot be), or a header the agent did not make (skipped, foreign). */
void format_decide_finished_header(struct job *j, const unsigned char *head, size_t len,
                                   unsigned version)
{
        struct header_owners o = {.volume_id = j->volume_id};
        bool metadata = keys_stored_in_image(j->ctx->keys), formatted;
        uint64_t payload, offset;
        char uuid[40] = "";
        int bound, r;

        formatted = j->has_state && job_parse_state(j->state, "formatted", &payload, &offset);
        if (luks_header_uuid(head, len, uuid) == 0) {
                r = header_map_each(j->cluster, j->ctx->config->pool, uuid, note_owner, &o);
                if (r < 0) {
                        job_end(j, OUTCOME_FAILED, ceph_error_is_transient(r),
                            "cannot read the header map %s/%s for %s: %s", j->ctx->config->pool,
                            CEPH_HEADERS_OBJECT, j->image_name, strerror(-r));
                        return;
                }
        }
        bound = metadata ? record_is_bound(j) : o.own || (formatted && !o.n_sources && !o.has_other);
        if (bound < 0)
                return;
        /* Another volume's header written over ours (a backup restored into
         * this volume): the record opens, but for a header that is gone. */
        if (bound && header_replaced(j, uuid, &o))
                bound = 0;
        if (bound && (formatted || o.own)) {
                /* Made before the header map, or its entry lost: add it. */
                if (uuid[0] && !o.own && format_map_put_own(j, uuid, NULL) < 0)
                        return;
                job_end(j, OUTCOME_SKIPPED, false, "already formatted by rbd-luks-agent (%s)",
                    j->has_state ? j->state : "no state");
                j->result->header = FORMAT_HEADER_OURS;
                snprintf(j->result->luks_uuid, sizeof(j->result->luks_uuid), "%s", uuid);
                return;
        }
        if (o.n_sources && metadata) {
                inherit(j, uuid, &o, head, len);
                return;
        }
        if (o.n_sources || o.has_other) {
                const struct header_map_entry *e = o.n_sources ? &o.sources[0] : &o.other;

                if (e->kind == HEADER_MAP_SHREDDED)
                        job_end(j, OUTCOME_FAILED, false,
                            "LUKS header %s of volume %s, whose key was shredded when it was "
                            "deleted ([volume] deleted_keys = shred): nothing opens it",
                            uuid, e->volume_id);
                else if (!metadata)
                        job_end(j, OUTCOME_FAILED, false,
                            "LUKS header %s made by rbd-luks-agent for volume %s (a clone, copy or "
                            "restore of it): the %s provider cannot re-bind its key to this volume",
                            uuid, e->volume_id, keys_provider_name(j->ctx->keys));
                else
                        job_end(j, OUTCOME_FAILED, false,
                            "LUKS header %s made by rbd-luks-agent for volume %s, whose key the "
                            "header map does not hold (made under another provider)",
                            uuid, e->volume_id);
                return;
        }
        if (formatted) {
                job_end(j, OUTCOME_FAILED, false,
                    "LUKS header %s made by rbd-luks-agent for another volume (its state and key "
                    "record came with the copy) that the header map %s/%s does not know: run "
                    "`rbd-luks-agent index rebuild`, then `rbd-luks-agent format %s`",
                    uuid[0] ? uuid : "?", j->ctx->config->pool, CEPH_HEADERS_OBJECT, j->volume_id);
                return;
        }
        job_end(j, OUTCOME_SKIPPED, false,
            "image already starts with a LUKS%u header not written by this agent", version);
        j->result->header = FORMAT_HEADER_FOREIGN;
}

/* A deleted volume's entry in the header map: marked deleted, and under
 * deleted_keys = shred its record dropped (header_map.h). */
int format_forget_header(struct format_context *ctx, struct ceph_cluster *cluster,
                         const char *uuid, const char *volume_id)
{
        struct header_map_entry e;
        int r = header_map_get(cluster, ctx->config->pool, uuid, volume_id, &e);

        if (r == -ENOENT || r == -EINVAL) /* none, or not one this agent can read */
                return 0;
        if (r < 0)
                return r;
        if (!e.deleted)
                e.deleted = (int64_t)time(NULL);
        if (ctx->config->shred_deleted_keys && e.kind == HEADER_MAP_RECORD) {
                e.kind = HEADER_MAP_SHREDDED;
                explicit_bzero(e.record, sizeof(e.record));
        }
        return header_map_put(cluster, ctx->config->pool, &e);
}

/* ---- after a restore ---------------------------------------------------- */

/* Headers of one volume the restore search looks for. A volume has one of
 * its own and one per header it inherited; more than this many are not. */
#define RESTORE_HEADERS_MAX 16

struct restore_search {
        struct format_context *ctx;
        struct ceph_cluster *cluster;
        const char *source;
        char headers[RESTORE_HEADERS_MAX][HEADER_MAP_UUID_MAX];
        size_t n_headers;
        struct format_restore_targets *out;
        int error; /* the first read that failed for a reason that may pass */
};

static int note_source_header(void *opaque, const char *key, const struct header_map_entry *e)
{
        struct restore_search *s = opaque;

        (void)key;
        if (e && strcmp(e->volume_id, s->source) == 0 && s->n_headers < RESTORE_HEADERS_MAX)
                snprintf(s->headers[s->n_headers++], HEADER_MAP_UUID_MAX, "%s", e->uuid);
        return 0;
}

static bool is_source_header(const struct restore_search *s, const char *uuid)
{
        for (size_t i = 0; i < s->n_headers; i++)
                if (strcmp(s->headers[i], uuid) == 0)
                        return true;
        return false;
}

/* One index entry: its image's first 4 KiB read (no lock: the volume may
 * be a guest's), and noted when they are one of the source's headers while
 * the entry names another. An image that is gone is passed over; one that
 * cannot be read for a reason that may pass makes the search fail. */
static int check_restored(void *opaque, const char *volume_id, const struct volume_index_entry *e)
{
        struct restore_search *s = opaque;
        struct format_restore_targets *out = s->out;
        unsigned char head[PHDR_BLOCK];
        char image[FORMAT_IMAGE_NAME_MAX], uuid[40];
        struct ceph_image *img;
        int r;

        if (!e || is_source_header(s, e->uuid))
                return 0;
        snprintf(image, sizeof(image), "%s%s", s->ctx->config->image_prefix, volume_id);
        out->checked++;
        r = ceph_image_open(s->cluster, s->ctx->config->pool, image, &img);
        if (r >= 0) {
                r = ceph_image_read(img, 0, sizeof(head), head);
                ceph_image_close(img);
        }
        if (r < 0) {
                if (r != -ENOENT && ceph_error_is_transient(r) && !s->error)
                        s->error = r;
                return 0;
        }
        if (!luks_has_magic(head, sizeof(head), NULL) ||
            luks_header_uuid(head, sizeof(head), uuid) < 0 || !is_source_header(s, uuid))
                return 0;
        r = array_grow((void **)&out->entries, &out->capacity, out->n, sizeof(out->entries[0]));
        if (r < 0)
                return r;
        out->entries[out->n++] = *e;
        return 0;
}

int format_find_restored(struct format_context *ctx, struct ceph_cluster *cluster,
                         const char *source, struct format_restore_targets *ret)
{
        struct restore_search s = {.ctx = ctx, .cluster = cluster, .source = source, .out = ret};
        size_t reads = 0;
        int r;

        r = header_map_each(cluster, ctx->config->pool, "", note_source_header, &s);
        ret->n_headers = s.n_headers;
        if (r < 0 || s.n_headers == 0)
                return r;
        r = volume_index_each(cluster, ctx->config->pool, check_restored, &s, &reads);
        return r < 0 ? r : s.error;
}
