/* role_volume: reader, worker pool, ordered checkpoint (role_volume.h). */
#include "role_volume.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stream/event.h"
#include "format.h"
#include "runtime/health.h"
#include "stream/hookfile.h"
#include "runtime/intake.h"
#include "runtime/signals.h"
#include "base/clock.h"
#include "base/secret.h"
#include "keys/keys.h"
#include "base/log.h"
#include "stream/results.h"
#include "ceph/ceph.h"
#include "volume_audit.h"
#include "records/volume_index.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define CHECKPOINT_EVERY_MS 1000
#define RESULTS_RETRY_MS 1000

/* One stretch of hook file ahead of the checkpoint: either one event for a
 * worker, or any number of lines that were settled on the spot. */
struct slot {
        struct hookfile_position next; /* where the stretch ends */
        bool done;
        bool is_job;
        bool taken; /* a worker has it */
        uint64_t line;
        struct event event;
};

struct pipeline {
        const struct config *config;
        struct results *results;
        struct keys *keys;
        struct format_context *format;
        pthread_mutex_t lock;
        pthread_cond_t work_ready; /* a job queued, or stopping */
        pthread_cond_t work_ended; /* a slot done */
        struct slot *slots;
        size_t capacity, head, count; /* ring of slots */
        unsigned jobs_pending;
        bool stopping;
        /* Jobs between a failure that may pass and their ending, and the
         * latest such failure: what makes the role "degraded". */
        unsigned retrying;
        char retry_detail[HEALTH_DETAIL_MAX];
        struct health *health; /* NULL: not a daemon (--once, format) */
        /* counters, under lock */
        struct outcome_counts counts;
        uint64_t rejected, ignored;
};

/* Sleeps ms unless stopping; true when it is time to stop. Called with
 * p->lock held. */
static bool wait_or_stop(struct pipeline *p, unsigned ms)
{
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        /* Signals do not wake a condition variable: look at the flag at
         * least every 200 ms. */
        while (!p->stopping && !signals_stop_requested) {
                struct timespec step;

                clock_gettime(CLOCK_REALTIME, &step);
                step.tv_nsec += 200000000L;
                if (step.tv_nsec >= 1000000000L) {
                        step.tv_sec++;
                        step.tv_nsec -= 1000000000L;
                }
                if (step.tv_sec > until.tv_sec ||
                    (step.tv_sec == until.tv_sec && step.tv_nsec > until.tv_nsec))
                        step = until;
                if (pthread_cond_timedwait(&p->work_ready, &p->lock, &step) == ETIMEDOUT &&
                    step.tv_sec == until.tv_sec && step.tv_nsec == until.tv_nsec)
                        break;
        }
        return p->stopping || signals_stop_requested;
}

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
static void index_ending(struct pipeline *p, const struct event *ev, struct format_result *res)
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

static void log_ending(const char *volume_id, const struct format_result *res, uint64_t ms);
static bool record_result(struct pipeline *p, const struct event *ev,
                          const struct format_result *res, uint64_t ms);

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
                index_ending(p, &tev, &sub);
                ms = clock_now_ms() - start;
                snprintf(reason, sizeof(reason), "%s", sub.reason);
                snprintf(sub.reason, sizeof(sub.reason),
                         "%s was restored over it: %.300s", what, reason);
                log_ending(e->volume_id, &sub, ms);
                if (!record_result(p, &tev, &sub, ms))
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

/* A volume.retype onto a named host outside [volume] backends (set). */
static bool retyped_away(const struct pipeline *p, const struct event *ev)
{
        return strcmp(ev->event_type, "volume.retype") == 0 && ev->volume_host[0] &&
               !config_wants_backend(p->config, ev->volume_host);
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
static void attempt(struct pipeline *p, const struct event *ev, uint64_t size,
                    struct format_result *res)
{
        int r;

        if (strcmp(ev->event_type, "backup.restore.end") == 0) {
                restore_sweep(p, ev, res);
                return;
        }
        if (retyped_away(p, ev)) {
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
                        index_ending(p, ev, res);
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

/* attempt() with the retry policy of [retry]. False when stopped before
 * an ending (the event stays unhandled and is replayed). */
static bool format_with_retries(struct pipeline *p, const struct event *ev, uint64_t size,
                                struct format_result *res)
{
        struct intake_retry retry;
        unsigned wait_ms;
        bool stop = false, counted = false;

        intake_retry_begin(&retry, p->config);
        for (;;) {
                attempt(p, ev, size, res);
                if (res->outcome != OUTCOME_FAILED || !res->transient ||
                    !intake_retry_after_failure(&retry, ev->volume_id, res->reason,
                                                sizeof(res->reason), &wait_ms))
                        break;
                pthread_mutex_lock(&p->lock);
                p->retrying += !counted;
                counted = true;
                snprintf(p->retry_detail, sizeof(p->retry_detail),
                         "volume %s: attempt %u failed, will retry: %.120s", ev->volume_id,
                         retry.attempt, res->reason);
                stop = wait_or_stop(p, wait_ms);
                pthread_mutex_unlock(&p->lock);
                if (stop)
                        break;
        }
        if (counted) {
                pthread_mutex_lock(&p->lock);
                p->retrying--;
                pthread_mutex_unlock(&p->lock);
        }
        /* Given up: a create that ended failed is a lasting fact too. */
        if (!stop && res->outcome == OUTCOME_FAILED && res->transient &&
            strcmp(ev->event_type, "volume.delete.end") != 0 &&
            strcmp(ev->event_type, "backup.restore.end") != 0 && !retyped_away(p, ev)) {
                res->transient = false;
                index_ending(p, ev, res);
        }
        return !stop;
}

static void log_ending(const char *volume_id, const struct format_result *res, uint64_t ms)
{
        enum log_level level = res->outcome == OUTCOME_FAILED    ? LOG_LEVEL_ERROR
                               : res->outcome == OUTCOME_REFUSED ? LOG_LEVEL_WARN
                                                                 : LOG_LEVEL_INFO;

        log_msg(level, "volume %s: %s in %" PRIu64 " ms: %s", volume_id,
                outcome_to_string(res->outcome), ms, res->reason);
}

/* The record must reach disk before the checkpoint can pass the event; a
 * full disk is waited out, loudly. */
static bool record_result(struct pipeline *p, const struct event *ev,
                          const struct format_result *res, uint64_t ms)
{
        for (;;) {
                int r = results_append(p->results, ev->volume_id, ev->event_type, ev->message_id,
                                       res->outcome, res->reason, ms);
                bool stop;

                if (r >= 0)
                        return true;
                log_error("volume %s: cannot write results.jsonl in %s: %s (outcome %s; will "
                          "retry)", ev->volume_id, p->config->state_dir, strerror(-r),
                          outcome_to_string(res->outcome));
                pthread_mutex_lock(&p->lock);
                stop = wait_or_stop(p, RESULTS_RETRY_MS);
                pthread_mutex_unlock(&p->lock);
                if (stop)
                        return false;
        }
}

static void run_job(struct pipeline *p, struct slot *s)
{
        struct format_result res;
        uint64_t start = clock_now_ms(), ms;

        if (!format_with_retries(p, &s->event, s->event.size_gib * GIB, &res))
                return;
        ms = clock_now_ms() - start;
        log_ending(s->event.volume_id, &res, ms);
        if (!record_result(p, &s->event, &res, ms))
                return;
        pthread_mutex_lock(&p->lock);
        outcome_counts_add(&p->counts, res.outcome);
        s->done = true;
        p->jobs_pending--;
        pthread_cond_broadcast(&p->work_ended);
        /* A later job of the same volume may run now. */
        pthread_cond_broadcast(&p->work_ready);
        pthread_mutex_unlock(&p->lock);
}

/* Whether a running job (taken, not ended) is for volume_id; running holds
 * the n running jobs' volume ids. */
static bool running_for(const char *const *running, size_t n, const char *volume_id)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(running[i], volume_id) == 0)
                        return true;
        return false;
}

/* The first queued job, in ring order, that may run now, or NULL: one
 * volume's jobs run one at a time, in hook-file order (an extend must not
 * overtake the format before it, nor a delete's index removal the format's
 * index entry). A job waits only for a running one of its volume: an
 * earlier queued one that may run is found first, and one that may not
 * waits for the same running job. At most one job per worker runs, so the
 * list is short. Called with p->lock held. */
static struct slot *take_job(struct pipeline *p)
{
        const char *running[p->config->workers ? p->config->workers : 1];
        size_t n_running = 0;

        for (size_t k = 0; k < p->count; k++) {
                const struct slot *s = &p->slots[(p->head + k) % p->capacity];

                if (s->is_job && s->taken && !s->done &&
                    n_running < sizeof(running) / sizeof(running[0]))
                        running[n_running++] = s->event.volume_id;
        }
        for (size_t k = 0; k < p->count; k++) {
                struct slot *s = &p->slots[(p->head + k) % p->capacity];

                if (s->is_job && !s->done && !s->taken &&
                    !running_for(running, n_running, s->event.volume_id)) {
                        s->taken = true;
                        return s;
                }
        }
        return NULL;
}

static void *worker_main(void *arg)
{
        struct pipeline *p = arg;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                struct slot *s = NULL;

                while (!p->stopping && !(s = take_job(p)))
                        pthread_cond_wait(&p->work_ready, &p->lock);
                if (p->stopping)
                        break;
                pthread_mutex_unlock(&p->lock);
                run_job(p, s);
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* ---- the reader ------------------------------------------------------- */

/* Marks the line as settled: it extends the last slot if that one is a
 * settled stretch too, so ignored lines cost no slot of their own. Called
 * with p->lock held; the caller made sure there is room. */
static void settle_line(struct pipeline *p, const struct hookfile_line *l)
{
        struct slot *last = p->count ? &p->slots[(p->head + p->count - 1) % p->capacity] : NULL;

        if (last && !last->is_job) {
                last->next = l->next;
                return;
        }
        last = &p->slots[(p->head + p->count) % p->capacity];
        *last = (struct slot){.next = l->next, .done = true, .line = l->start.line};
        p->count++;
}

static void queue_job(struct pipeline *p, const struct hookfile_line *l, const struct event *ev)
{
        struct slot *s = &p->slots[(p->head + p->count) % p->capacity];

        *s = (struct slot){.next = l->next, .is_job = true, .line = l->start.line, .event = *ev};
        p->count++;
        p->jobs_pending++;
        pthread_cond_signal(&p->work_ready);
}

/* A create.end event that needs no Ceph: recorded as skipped right away. */
static void skip_event(struct pipeline *p, const struct event *ev, const char *reason)
{
        struct format_result res = {.outcome = OUTCOME_SKIPPED};

        snprintf(res.reason, sizeof(res.reason), "%s", reason);
        log_ending(ev->volume_id, &res, 0);
        if (!record_result(p, ev, &res, 0))
                return;
        outcome_counts_add(&p->counts, OUTCOME_SKIPPED);
}

/* The event types this role acts on, for intake_classify(): a create's
 * format (a retype into a managed type is one too), a delete's entry in the
 * volume index, an extend's image size. */
static const char *const handled_types[] = {"volume.create.end",  "volume.delete.end",
                                            "volume.resize.end",  "volume.manage_existing.end",
                                            "volume.retype",      "backup.restore.end",
                                            NULL};

/* Why an event that passed intake is not acted on, into why; false when it
 * is to be acted on. */
static bool not_ours(const struct pipeline *p, const struct event *ev, char *why, size_t size)
{
        bool retype = strcmp(ev->event_type, "volume.retype") == 0;
        bool resize = strcmp(ev->event_type, "volume.resize.end") == 0;
        const char *type = ev->has_volume_type ? ev->volume_type : NULL;

        /* An extend is decided by the image's own state, whatever the type
         * now: one of the agent's volumes retyped away stays encrypted, and
         * Cinder's extend still cuts its payload offset off. */
        if (!resize && !config_wants_type(p->config, type)) {
                if (retype)
                        snprintf(why, size, "retyped to %s, which is not in [volume] types: the "
                                 "image is left as it is (a volume rbd-luks-agent formatted stays "
                                 "encrypted under its key, and its index entry keeps its "
                                 "secrets on the compute hosts); its extends are still grown "
                                 "back, its snapshots and clones are not handled from now on",
                                 type ? type : "(none)");
                else
                        snprintf(why, size, "volume type %s is not in [volume] types",
                                 type ? type : "(none)");
                return true;
        }
        if (!config_wants_backend(p->config, ev->volume_host)) {
                if (ev->volume_host[0])
                        snprintf(why, size, "volume host %s is not on a backend in [volume] "
                                 "backends", ev->volume_host);
                else
                        snprintf(why, size, "the event names no volume host; [volume] backends "
                                 "is set");
                return true;
        }
        if (event_sets_type(ev->event_type) && !event_volume_available(ev)) {
                if (retype)
                        snprintf(why, size, "retyped while '%s': nothing is formatted or "
                                 "converted under a guest; detach it and run `rbd-luks-agent "
                                 "format %s`", ev->status, ev->volume_id);
                else
                        snprintf(why, size, "volume status is '%s', not 'available'",
                                 ev->status);
                return true;
        }
        return false;
}

static void handle_line(struct pipeline *p, const struct hookfile_line *l)
{
        char why[512];
        struct event ev;

        switch (intake_classify(p->config, p->results, l, handled_types, &ev)) {
        case INTAKE_UNRECORDED:
                return;
        case INTAKE_REJECT:
                p->rejected++;
                break;
        case INTAKE_IGNORE:
                p->ignored++;
                break;
        case INTAKE_EVENT:
                /* A delete, and a restore (its volume is the backup's source,
                 * whatever its type and host now), are jobs whatever the
                 * volume's type. */
                if (strcmp(ev.event_type, handled_types[1]) == 0 ||
                    strcmp(ev.event_type, handled_types[5]) == 0 || retyped_away(p, &ev)) {
                        pthread_mutex_lock(&p->lock);
                        queue_job(p, l, &ev);
                        pthread_mutex_unlock(&p->lock);
                        return;
                } else if (!event_sets_type(ev.event_type) &&
                           strcmp(ev.event_type, handled_types[2]) != 0) {
                        p->ignored++;
                } else if (not_ours(p, &ev, why, sizeof(why))) {
                        skip_event(p, &ev, why);
                } else {
                        pthread_mutex_lock(&p->lock);
                        queue_job(p, l, &ev);
                        pthread_mutex_unlock(&p->lock);
                        return;
                }
                break;
        }
        pthread_mutex_lock(&p->lock);
        settle_line(p, l);
        pthread_mutex_unlock(&p->lock);
}

/* Pops ended slots; returns true (and *ret) when the checkpoint moved. */
static bool pop_ended(struct pipeline *p, struct hookfile_position *ret, bool *ret_had_job)
{
        bool moved = false;

        pthread_mutex_lock(&p->lock);
        while (p->count && p->slots[p->head].done) {
                struct slot *s = &p->slots[p->head];

                /* A settled stretch may still grow while it is the tail. */
                if (!s->is_job && p->count == 1) {
                        *ret = s->next;
                        moved = true;
                        break;
                }
                *ret = s->next;
                *ret_had_job |= s->is_job;
                moved = true;
                p->head = (p->head + 1) % p->capacity;
                p->count--;
        }
        pthread_mutex_unlock(&p->lock);
        return moved;
}

/* ---- checkpointing ---------------------------------------------------- */

static void checkpoint_progress(struct pipeline *p, struct intake_progress *cp, bool idle)
{
        struct hookfile_position pos;
        bool had_job = false;

        if (pop_ended(p, &pos, &had_job))
                intake_progress_note(cp, &pos, had_job);
        intake_progress_save(cp, p->config->state_dir, idle);
}

/* ---- setup and the main loop ------------------------------------------ */

static int pipeline_init(struct pipeline *p, const struct config *c)
{
        const char *why = NULL;
        int r;

        *p = (struct pipeline){.config = c};
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->work_ready, NULL);
        pthread_cond_init(&p->work_ended, NULL);
        r = results_open(c->state_dir, &p->results);
        if (r < 0) {
                log_error("cannot open results in %s: %s", c->state_dir, strerror(-r));
                return r;
        }
        r = keys_open(c, &p->keys, &why);
        if (r < 0) {
                log_error("cannot set up the key provider: %s", why);
                return r;
        }
        r = format_context_new(c, p->keys, &p->format);
        if (r < 0) {
                log_error("cannot calibrate PBKDF2 (%s): %s", c->hash, strerror(-r));
                return r;
        }
        log_info("LUKS1 %s-%s, %u-bit key, PBKDF2-%s with %u iterations (%s)", c->cipher,
                 c->cipher_mode, c->key_bits, c->hash, format_context_iterations(p->format),
                 c->kdf_fast ? "kdf = fast" : c->iterations ? "fixed in config" : "calibrated now");
        r = format_context_keyslot_writer(p->format, &why);
        if (r < 0)
                log_error("%s (%s); key slots are written by libcryptsetup instead", why,
                          strerror(-r));
        else
                log_info("key slots written by %s (%s)", r ? "the agent" : "libcryptsetup", why);
        return 0;
}

static void pipeline_destroy(struct pipeline *p)
{
        format_context_free(p->format);
        keys_close(p->keys);
        results_close(p->results);
        free(p->slots);
        pthread_cond_destroy(&p->work_ended);
        pthread_cond_destroy(&p->work_ready);
        pthread_mutex_destroy(&p->lock);
}

/* Every worker formatting at once holds key material in locked pages; a
 * container's memlock limit (64 KiB in some engines) can be smaller than
 * the pool needs. Formats that find none left are retried; say so once. */
static void warn_locked_memory(unsigned workers)
{
        /* + 16 KiB: what stays locked beside the formats (KEKs, the key
         * provider's own secrets). */
        size_t limit = secret_lock_limit(), need = (size_t)workers * FORMAT_LOCKED_BYTES + 16384;

        if (limit < need)
                log_warn("locked memory limit (RLIMIT_MEMLOCK) is %zu KiB; %u workers may need up "
                         "to %zu KiB for key material at once: formats that find none left are "
                         "retried (raise the container's memlock ulimit, or lower [agent] workers)",
                         limit / 1024, workers, need / 1024);
}

static int start_workers(struct pipeline *p, pthread_t *threads, unsigned n, unsigned *ret_started)
{
        sigset_t all, old;
        int r = 0;

        /* Workers never take the stop signals: the reader does. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        for (*ret_started = 0; *ret_started < n; (*ret_started)++) {
                r = -pthread_create(&threads[*ret_started], NULL, worker_main, p);
                if (r < 0)
                        break;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return r;
}

static void stop_workers(struct pipeline *p, pthread_t *threads, unsigned n)
{
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->work_ready);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < n; i++)
                pthread_join(threads[i], NULL);
}

static void wait_for_work_ended(struct pipeline *p, unsigned ms)
{
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)ms * 1000000L;
        while (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&p->lock);
        pthread_cond_timedwait(&p->work_ended, &p->lock, &until);
        pthread_mutex_unlock(&p->lock);
}

/* From the reader's loop, so a reader that hangs leaves the file stale. A
 * job waiting on retries (Ceph unreachable, image locked elsewhere) makes
 * the role degraded until it ends. */
static void refresh_health(struct pipeline *p)
{
        char detail[HEALTH_DETAIL_MAX];
        unsigned retrying, pending;
        uint64_t formatted, failed;

        if (!p->health || !health_due(p->health))
                return;
        pthread_mutex_lock(&p->lock);
        retrying = p->retrying;
        pending = p->jobs_pending;
        formatted = p->counts.n[OUTCOME_FORMATTED];
        failed = p->counts.n[OUTCOME_FAILED];
        snprintf(detail, sizeof(detail), "%s", p->retry_detail);
        pthread_mutex_unlock(&p->lock);
        if (retrying)
                health_beat(p->health, true, "%u events waiting on retries; latest: %s",
                            retrying, detail);
        else
                health_beat(p->health, false,
                            "%u events in progress; %" PRIu64 " formatted, %" PRIu64
                            " failed since start", pending, formatted, failed);
}

/* Reads and dispatches until stopped, or (once) until the end of the file
 * with every event ended. */
static void read_loop(struct pipeline *p, struct hookfile *h, struct intake_progress *cp, bool once)
{
        const struct config *c = p->config;
        struct hookfile_line line;
        enum hookfile_event hev;
        bool full, idle;
        int r;

        while (!signals_stop_requested) {
                refresh_health(p);
                checkpoint_progress(p, cp, false);
                pthread_mutex_lock(&p->lock);
                full = p->count + 1 >= p->capacity || p->jobs_pending >= c->max_pending;
                idle = p->jobs_pending == 0;
                pthread_mutex_unlock(&p->lock);
                if (full) {
                        wait_for_work_ended(p, 200);
                        continue;
                }
                hev = HOOKFILE_EVENT_NONE;
                r = hookfile_next(h, &line, &hev);
                intake_log_hookfile_event(c->hook_file, hev);
                if (r < 0) {
                        log_error("%s: cannot read: %s (will retry)", c->hook_file, strerror(-r));
                        hookfile_wait(h, intake_wait_ms(c));
                        continue;
                }
                /* --once ends at the end of input: a last line whose newline
                 * never came is handled or rejected, not left. */
                if (line.status == HOOKFILE_NONE && once)
                        hookfile_take_unterminated(h, &line);
                if (line.status != HOOKFILE_NONE) {
                        handle_line(p, &line);
                        continue;
                }
                checkpoint_progress(p, cp, true);
                if (once && idle)
                        break;
                if (once)
                        wait_for_work_ended(p, 200);
                else
                        hookfile_wait(h, intake_wait_ms(c));
        }
}

int role_volume_run(const struct config *c, bool once)
{
        struct intake_progress cp = {.last_save_ms = clock_now_ms()};
        struct hookfile *h = NULL;
        struct health health;
        struct pipeline p;
        struct volume_audit *audit = NULL;
        pthread_t *threads = NULL;
        unsigned started = 0;
        int r, code = 1;

        signals_install();
        r = pipeline_init(&p, c);
        if (r >= 0)
                r = intake_open(c, &h);
        if (r < 0)
                goto out;
        if (!once && health_init(&health, c->state_dir, HEALTH_FILE, "volume",
                                 c->health_interval_s) < 0) {
                log_error("%s/%s: path too long", c->state_dir, HEALTH_FILE);
                goto out;
        }
        p.health = once ? NULL : &health;
        if (p.health)
                (void)health_write(p.health, true, "starting");
        p.capacity = 2 * (size_t)c->max_pending + 2;
        p.slots = calloc(p.capacity, sizeof(*p.slots));
        threads = calloc(c->workers, sizeof(*threads));
        if (!p.slots || !threads) {
                log_error("out of memory for %u pending events", c->max_pending);
                goto out;
        }
        r = start_workers(&p, threads, c->workers, &started);
        if (r < 0) {
                log_error("cannot start workers: %s", strerror(-r));
                goto out;
        }
        r = volume_audit_new(c, p.format, p.results, !once, &audit);
        if (r < 0) {
                log_error("cannot start the volume index audit: %s", strerror(-r));
                goto out;
        }
        log_info("volume role %s: %s, %u workers", once ? "running once over" : "following",
                 c->hook_file, c->workers);
        warn_locked_memory(c->workers);
        read_loop(&p, h, &cp, once);
        volume_audit_free(audit);
        audit = NULL;
        stop_workers(&p, threads, started);
        started = 0;
        checkpoint_progress(&p, &cp, true);
        log_info("done: %" PRIu64 " formatted, %" PRIu64 " inherited, %" PRIu64 " converted, %" PRIu64
                 " resized, %" PRIu64
                 " skipped, %" PRIu64
                 " refused, %" PRIu64 " failed, %" PRIu64 " index entries removed, %" PRIu64
                 " lines rejected, %" PRIu64 " lines ignored%s",
                 p.counts.n[OUTCOME_FORMATTED], p.counts.n[OUTCOME_INHERITED],
                 p.counts.n[OUTCOME_CONVERTED], p.counts.n[OUTCOME_RESIZED],
                 p.counts.n[OUTCOME_SKIPPED], p.counts.n[OUTCOME_REFUSED], p.counts.n[OUTCOME_FAILED],
                 p.counts.n[OUTCOME_REMOVED], p.rejected, p.ignored,
                 signals_stop_requested ? " (stopped by signal)" : "");
        if (once)
                code = (p.counts.n[OUTCOME_REFUSED] || p.counts.n[OUTCOME_FAILED] || p.rejected || signals_stop_requested || cp.has_pending)
                               ? 1 : 0;
        else
                code = cp.has_pending ? 1 : 0;
        if (p.health)
                (void)health_write(p.health, true, "stopped");
out:
        volume_audit_free(audit);
        if (started)
                stop_workers(&p, threads, started);
        free(threads);
        hookfile_close(h);
        pipeline_destroy(&p);
        return code;
}

int role_volume_format_one(const struct config *c, const char *volume_id)
{
        struct format_result res;
        struct pipeline p;
        struct event ev = {.event_type = "manual.format", .is_volume = true};
        uint64_t start = clock_now_ms(), ms;
        int code = 1;

        signals_install();
        if (pipeline_init(&p, c) < 0)
                goto out;
        snprintf(ev.volume_id, sizeof(ev.volume_id), "%s", volume_id);
        if (!format_with_retries(&p, &ev, 0, &res)) {
                log_error("volume %s: stopped by signal before the format ended", volume_id);
                goto out;
        }
        ms = clock_now_ms() - start;
        log_ending(volume_id, &res, ms);
        if (!record_result(&p, &ev, &res, ms))
                goto out;
        printf("%s %s: %s\n", volume_id, outcome_to_string(res.outcome), res.reason);
        code = res.outcome == OUTCOME_FORMATTED || res.outcome == OUTCOME_INHERITED ||
                       res.outcome == OUTCOME_CONVERTED ||
                       res.outcome == OUTCOME_SKIPPED
                       ? 0
                       : 1;
out:
        pipeline_destroy(&p);
        return code;
}
