/* role_volume_jobs: what the job of each event the volume role queues
 * does, once (role_volume_workers.c retries it): a create's format and its
 * ending in the volume index, a resize's extend, a delete's index entry
 * removed, a backup restore's sweep for the volumes restored over, a
 * retype away from this backend. Endings are handed back in a
 * format_result; logging is the caller's, except an index write that
 * cannot be made and will not pass. */
#include "role_volume_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "ceph/ceph.h"
#include "records/volume_index.h"

/* What the index says of a volume after this ending; false when the
 * ending says nothing lasting (a failure that may still pass). */
static bool index_state_of(const struct format_result *res, enum volume_index_state *ret)
{
        if (res->header == FORMAT_HEADER_OURS)
                *ret = VOLUME_INDEX_FORMATTED;
        else if (res->header == FORMAT_HEADER_FOREIGN)
                *ret = VOLUME_INDEX_FOREIGN;
        else if (res->outcome == OUTCOME_REFUSED)
                *ret = VOLUME_INDEX_REFUSED;
        else if (res->outcome == OUTCOME_FAILED)
                *ret = VOLUME_INDEX_FAILED;
        else
                return false;
        return true;
}

/* Records the ending in the pool's volume index, which the compute agents
 * follow (volume_index.h). A write that may pass turns the ending into a
 * failure to retry: the format replays as a no-op, then the index again. */
void role_volume_index_ending(struct pipeline *p, const struct event *ev,
                              struct format_result *res)
{
        struct volume_index_entry e = {.time = (int64_t)time(NULL)};
        int r;

        if (!index_state_of(res, &e.state))
                return;
        snprintf(e.volume_id, sizeof(e.volume_id), "%s", ev->volume_id);
        snprintf(e.type, sizeof(e.type), "%s", ev->has_volume_type ? ev->volume_type : "");
        snprintf(e.host, sizeof(e.host), "%s", ev->volume_host);
        snprintf(e.zone, sizeof(e.zone), "%s", ev->availability_zone);
        snprintf(e.uuid, sizeof(e.uuid), "%s", res->luks_uuid);
        r = format_index_put(p->format, &e);
        if (r >= 0)
                return;
        /* A failure is recorded as it is; only a lasting outcome waits for
         * its index entry. */
        if (ceph_error_is_transient(r) && res->outcome != OUTCOME_FAILED) {
                char was[FORMAT_REASON_MAX];

                snprintf(was, sizeof(was), "%s", res->reason);
                res->outcome = OUTCOME_FAILED;
                res->transient = true;
                snprintf(res->reason, sizeof(res->reason),
                         "cannot record '%s' in the volume index %s/%s: %s (after: %.300s)",
                         volume_index_state_name(e.state), p->config->pool, CEPH_INDEX_OBJECT,
                         strerror(-r), was);
                return;
        }
        log_error("volume %s: cannot record '%s' in the volume index %s/%s: %s",
                  ev->volume_id, volume_index_state_name(e.state), p->config->pool,
                  CEPH_INDEX_OBJECT, strerror(-r));
}

/* backup.restore.end: every volume of the index a backup of the event's
 * volume was restored over is decided again, as `format ID` would (its key
 * re-bound: inherited), and gets a result line of its own; the event's
 * line (its volume is the backup's source) says what was found. A failure
 * that may pass on any of them fails the whole job, to be retried: the
 * volumes already re-bound are not found again. */
static void restore_sweep(struct pipeline *p, const struct event *ev, struct format_result *res)
{
        struct format_restore_targets t = {0};
        size_t done = 0, transient = 0;
        char names[256] = "";
        char what[96];
        int r = format_restore_targets(p->format, ev->volume_id, &t);

        if (ev->backup_id[0])
                snprintf(what, sizeof(what), "backup %.36s of volume %.36s", ev->backup_id,
                         ev->volume_id);
        else
                snprintf(what, sizeof(what), "a backup of volume %.36s", ev->volume_id);

        *res = (struct format_result){.outcome = OUTCOME_SKIPPED};
        if (r < 0) {
                res->outcome = OUTCOME_FAILED;
                res->transient = ceph_error_is_transient(r);
                snprintf(res->reason, sizeof(res->reason),
                         "%s was restored: cannot look for the volumes it was restored into "
                         "(%zu images read): %s", what, t.checked, strerror(-r));
                free(t.entries);
                return;
        }
        for (size_t i = 0; i < t.n; i++) {
                const struct volume_index_entry *e = &t.entries[i];
                struct event tev = *ev;
                struct format_result sub;
                uint64_t start = clock_now_ms(), ms;
                char reason[FORMAT_REASON_MAX];

                snprintf(tev.volume_id, sizeof(tev.volume_id), "%s", e->volume_id);
                snprintf(tev.volume_type, sizeof(tev.volume_type), "%s", e->type);
                tev.has_volume_type = e->type[0] != '\0';
                snprintf(tev.volume_host, sizeof(tev.volume_host), "%s", e->host);
                snprintf(tev.availability_zone, sizeof(tev.availability_zone), "%s", e->zone);
                format_volume(p->format, e->volume_id, 0, &sub);
                if (sub.outcome == OUTCOME_FAILED && sub.transient) {
                        transient++;
                        continue;
                }
                role_volume_index_ending(p, &tev, &sub);
                ms = clock_now_ms() - start;
                snprintf(reason, sizeof(reason), "%s", sub.reason);
                snprintf(sub.reason, sizeof(sub.reason),
                         "%s was restored over it: %.300s", what, reason);
                role_volume_log_ending(e->volume_id, &sub, ms);
                if (!role_volume_record_result(p, &tev, &sub, ms))
                        break;
                done++;
                if (strlen(names) + strlen(e->volume_id) + 3 < sizeof(names))
                        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                                 names[0] ? ", " : "", e->volume_id);
        }
        free(t.entries);
        if (transient) {
                res->outcome = OUTCOME_FAILED;
                res->transient = true;
                snprintf(res->reason, sizeof(res->reason),
                         "%s was restored: %zu of the %zu volumes it was restored into could "
                         "not be decided yet (%zu done: %.200s)",
                         what, transient, t.n, done, names[0] ? names : "none");
        } else if (t.n_headers == 0) {
                snprintf(res->reason, sizeof(res->reason),
                         "%s was restored: rbd-luks-agent made no header for that volume "
                         "(none in %s/%s), nothing to re-bind", what, p->config->pool,
                         CEPH_HEADERS_OBJECT);
        } else if (t.n == 0) {
                snprintf(res->reason, sizeof(res->reason),
                         "%s was restored: no volume in %s/%s holds its header under another "
                         "entry (%zu images read; one restored into a volume of a type not in "
                         "[volume] types is not in the index)",
                         what, p->config->pool, CEPH_INDEX_OBJECT, t.checked);
        } else {
                snprintf(res->reason, sizeof(res->reason),
                         "%s was restored into %zu volume(s) of %.64s/%s (%zu images read), "
                         "each decided again: %.200s", what, t.n, p->config->pool,
                         CEPH_INDEX_OBJECT, t.checked, names);
        }
}

/* A volume.retype onto a host outside [volume] backends: the volume moved
 * to another backend. When its image has left this pool with it (the RBD
 * driver's own migration copies the image and its metadata to the other
 * pool, cinder/volume/drivers/rbd.py:2207-2288), this pool's index entry
 * goes, so the audit (volume_audit.h) does not report it; the header map
 * keeps its record, for backups and images of it that stay here. */
struct moved {
        const struct config *config;
        const char *volume_id;
        int found; /* 0 no entry, 1 entry and image, 2 entry without image */
};

static int check_moved(struct ceph_cluster *cluster, void *opaque)
{
        struct moved *m = opaque;
        struct volume_index_entry e;
        struct ceph_image *img;
        char image[256];
        int r = volume_index_get(cluster, m->config->pool, m->volume_id, &e);

        if (r == -ENOENT)
                return 0;
        if (r < 0 && r != -EINVAL)
                return r;
        snprintf(image, sizeof(image), "%s%s", m->config->image_prefix, m->volume_id);
        r = ceph_image_open(cluster, m->config->pool, image, &img);
        if (r >= 0) {
                ceph_image_close(img);
                m->found = 1;
                return 0;
        }
        if (r != -ENOENT)
                return r;
        m->found = 2;
        return volume_index_remove(cluster, m->config->pool, m->volume_id);
}

static void moved_away(struct pipeline *p, const struct event *ev, struct format_result *res)
{
        const struct config *c = p->config;
        struct moved m = {.config = c, .volume_id = ev->volume_id};
        int r = format_with_client(p->format, check_moved, &m);

        *res = (struct format_result){.outcome = m.found == 2 ? OUTCOME_REMOVED : OUTCOME_SKIPPED};
        if (r < 0) {
                res->outcome = OUTCOME_FAILED;
                res->transient = ceph_error_is_transient(r);
                snprintf(res->reason, sizeof(res->reason),
                         "retyped onto host %.200s, not on a backend in [volume] backends: cannot "
                         "check this pool's index entry and image: %s", ev->volume_host,
                         strerror(-r));
        } else if (m.found == 2) {
                snprintf(res->reason, sizeof(res->reason),
                         "retyped onto host %.200s, not on a backend in [volume] backends: its "
                         "image left pool %s with it; index entry removed, key record kept in "
                         "%s", ev->volume_host, c->pool, CEPH_HEADERS_OBJECT);
        } else if (m.found == 1) {
                snprintf(res->reason, sizeof(res->reason),
                         "retyped onto host %.200s, not on a backend in [volume] backends; its "
                         "image is still in pool %s: left as it is", ev->volume_host, c->pool);
        } else {
                snprintf(res->reason, sizeof(res->reason),
                         "volume host %.200s is not on a backend in [volume] backends",
                         ev->volume_host);
        }
}

/* One attempt at the job of an event: a create.end's format, a
 * resize.end's image size, a delete.end's index entry removed, a restore's
 * volumes found and re-bound. */
void role_volume_attempt(struct pipeline *p, const struct event *ev, uint64_t size,
                         struct format_result *res)
{
        int r;

        if (strcmp(ev->event_type, "backup.restore.end") == 0) {
                restore_sweep(p, ev, res);
                return;
        }
        if (role_volume_retyped_away(p->config, ev)) {
                moved_away(p, ev, res);
                return;
        }
        if (strcmp(ev->event_type, "volume.resize.end") == 0) {
                format_extend(p->format, ev->volume_id, size, res);
                return;
        }
        if (strcmp(ev->event_type, "volume.delete.end") != 0) {
                format_volume(p->format, ev->volume_id, size, res);
                if (!(res->outcome == OUTCOME_FAILED && res->transient))
                        role_volume_index_ending(p, ev, res);
                return;
        }
        *res = (struct format_result){.outcome = OUTCOME_REMOVED};
        r = format_index_remove(p->format, ev->volume_id);
        if (r >= 0) {
                snprintf(res->reason, sizeof(res->reason),
                         "volume deleted: its entry in %s/%s is gone; its key record in %s %s",
                         p->config->pool, CEPH_INDEX_OBJECT, CEPH_HEADERS_OBJECT,
                         p->config->shred_deleted_keys ? "shredded (deleted_keys = shred)"
                                                       : "kept, marked deleted (deleted_keys = keep)");
                return;
        }
        res->outcome = OUTCOME_FAILED;
        res->transient = ceph_error_is_transient(r);
        snprintf(res->reason, sizeof(res->reason),
                 "volume deleted, but its entries in %s/%s and %s cannot be updated: %s",
                 p->config->pool, CEPH_INDEX_OBJECT, CEPH_HEADERS_OBJECT, strerror(-r));
}
