/* role_volume_internal: what the three files of the volume role share
 * (role_volume.c the reader and the checkpoint, role_volume_workers.c the
 * worker pool, role_volume_jobs.c what each job does): the ring of slots
 * ahead of the checkpoint, the pipeline, and the functions one calls in
 * another. Not for other modules (role_volume.h is their interface). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "format.h"
#include "config/config.h"
#include "runtime/health.h"
#include "stream/event.h"
#include "stream/hookfile.h"
#include "stream/results.h"
#include "keys/keys.h"

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

/* role_volume_jobs.c. One attempt at the job of an event (a create.end's
 * format, a resize.end's image size, a delete.end's index entry removed, a
 * restore's volumes found and re-bound; a retype away checked), into res. */
void role_volume_attempt(struct pipeline *p, const struct event *ev, uint64_t size,
                         struct format_result *res);
/* The ending recorded in the pool's volume index; a write that may pass
 * turns res into a failure to retry. */
void role_volume_index_ending(struct pipeline *p, const struct event *ev,
                              struct format_result *res);

/* role_volume_route.c: which way an event that passed intake goes, from
 * the config and the event alone (no Ceph). A job: a delete, a restore, a
 * retype away, and a create.end, manage_existing.end, retype or resize.end
 * of a volume in scope; skipped (why says why, at most size bytes): such an
 * event of a type not in [volume] types (a resize.end whatever its type),
 * on a host outside [volume] backends, or of a volume not 'available'
 * (create, manage, retype); ignored: any other event type. */
enum volume_route { VOLUME_ROUTE_JOB, VOLUME_ROUTE_SKIP, VOLUME_ROUTE_IGNORE };
enum volume_route role_volume_route(const struct config *c, const struct event *ev, char *why,
                                    size_t size);
/* A volume.retype onto a named host outside [volume] backends (set). */
bool role_volume_retyped_away(const struct config *c, const struct event *ev);

/* role_volume_workers.c. role_volume_attempt() with the retry policy of
 * [retry]; false when stopped before an ending. */
bool role_volume_with_retries(struct pipeline *p, const struct event *ev, uint64_t size,
                              struct format_result *res);
/* The ending logged once, at the level its outcome calls for. */
void role_volume_log_ending(const char *volume_id, const struct format_result *res, uint64_t ms);
/* The ending appended to results.jsonl, a full disk waited out; false when
 * stopped first. */
bool role_volume_record_result(struct pipeline *p, const struct event *ev,
                               const struct format_result *res, uint64_t ms);
/* n worker threads started (*ret_started of them on an error, a negative
 * errno); stopped and joined by role_volume_stop_workers. */
int role_volume_start_workers(struct pipeline *p, pthread_t *threads, unsigned n,
                              unsigned *ret_started);
void role_volume_stop_workers(struct pipeline *p, pthread_t *threads, unsigned n);
