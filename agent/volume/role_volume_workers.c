/* role_volume_workers: the volume role's worker pool: which queued job a
 * worker takes next (one volume's jobs one at a time, in hook-file order),
 * the retries of [retry] around each attempt, the ending logged and
 * recorded in results.jsonl before its slot is marked done for the
 * checkpoint. */
#include "role_volume_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "runtime/intake.h"
#include "runtime/signals.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define RESULTS_RETRY_MS 1000

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

/* role_volume_attempt() with the retry policy of [retry]. False when
 * stopped before an ending (the event stays unhandled and is replayed). */
bool role_volume_with_retries(struct pipeline *p, const struct event *ev, uint64_t size,
                              struct format_result *res)
{
        struct intake_retry retry;
        unsigned wait_ms;
        bool stop = false, counted = false;

        intake_retry_begin(&retry, p->config);
        for (;;) {
                role_volume_attempt(p, ev, size, res);
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
            strcmp(ev->event_type, "backup.restore.end") != 0 && !role_volume_retyped_away(p->config, ev)) {
                res->transient = false;
                role_volume_index_ending(p, ev, res);
        }
        return !stop;
}

void role_volume_log_ending(const char *volume_id, const struct format_result *res,
                            uint64_t ms)
{
        enum log_level level = res->outcome == OUTCOME_FAILED    ? LOG_LEVEL_ERROR
                               : res->outcome == OUTCOME_REFUSED ? LOG_LEVEL_WARN
                                                                 : LOG_LEVEL_INFO;

        log_msg(level, "volume %s: %s in %" PRIu64 " ms: %s", volume_id,
                outcome_to_string(res->outcome), ms, res->reason);
}

/* The record must reach disk before the checkpoint can pass the event; a
 * full disk is waited out, loudly. */
bool role_volume_record_result(struct pipeline *p, const struct event *ev,
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

        if (!role_volume_with_retries(p, &s->event, s->event.size_gib * GIB, &res))
                return;
        ms = clock_now_ms() - start;
        role_volume_log_ending(s->event.volume_id, &res, ms);
        if (!role_volume_record_result(p, &s->event, &res, ms))
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

int role_volume_start_workers(struct pipeline *p, pthread_t *threads, unsigned n,
                              unsigned *ret_started)
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

void role_volume_stop_workers(struct pipeline *p, pthread_t *threads, unsigned n)
{
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->work_ready);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < n; i++)
                pthread_join(threads[i], NULL);
}
