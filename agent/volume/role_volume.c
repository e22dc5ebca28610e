/* role_volume: the volume role's reader and its ordered checkpoint
 * (role_volume.h): lines sorted on the spot or queued as jobs, the
 * checkpoint moved past what has ended, setup, health and the main loop.
 * The workers are role_volume_workers.c's, what a job does
 * role_volume_jobs.c's (role_volume_internal.h: what the three share). */
#include "role_volume.h"
#include "role_volume_internal.h"

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
#include "volume_audit.h"

#define CHECKPOINT_EVERY_MS 1000

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
        role_volume_log_ending(ev->volume_id, &res, 0);
        if (!role_volume_record_result(p, ev, &res, 0))
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
                switch (role_volume_route(p->config, &ev, why, sizeof(why))) {
                case VOLUME_ROUTE_JOB:
                        pthread_mutex_lock(&p->lock);
                        queue_job(p, l, &ev);
                        pthread_mutex_unlock(&p->lock);
                        return;
                case VOLUME_ROUTE_SKIP:
                        skip_event(p, &ev, why);
                        break;
                case VOLUME_ROUTE_IGNORE:
                        p->ignored++;
                        break;
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
        r = role_volume_start_workers(&p, threads, c->workers, &started);
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
        role_volume_stop_workers(&p, threads, started);
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
                role_volume_stop_workers(&p, threads, started);
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
        if (!role_volume_with_retries(&p, &ev, 0, &res)) {
                log_error("volume %s: stopped by signal before the format ended", volume_id);
                goto out;
        }
        ms = clock_now_ms() - start;
        role_volume_log_ending(volume_id, &res, ms);
        if (!role_volume_record_result(&p, &ev, &res, ms))
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
