/* role_compute: libvirt secrets for Nova (role_compute.h): the daemon's
 * loop, its timers (reconnect, SIGHUP, reconcile, the rechecks after a
 * backup restore, waiting values), health and the results records. The
 * events are compute_events.c's, the connections and static secrets
 * compute_connect.c's, the `secrets` commands compute_commands.c's; the
 * volume secrets themselves are compute_volumes.c's (and
 * compute_waiting.c's, compute_raw_disks.c's, compute_reconcile.c's). */
#include "role_compute.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compute_internal.h"
#include "runtime/health.h"
#include "stream/hookfile.h"
#include "runtime/intake.h"
#include "runtime/signals.h"
#include "base/clock.h"
#include "keys/keys.h"
#include "base/backoff.h"
#include "base/log.h"
#include "ceph/ceph.h"
#include "stream/results.h"
#include "virt.h"

/* ---- health, waits, records -------------------------------------------- */

/* From the one loop, and from its retry waits: a retry wait is the loop
 * alive but waiting on libvirt or Ceph (degraded), a hung call is the loop
 * stuck (the file goes stale). Healthy only once a reconcile has made
 * libvirt hold every live volume's secret. */
static void refresh_health(struct compute *cp)
{
        if (!cp->health || !health_due(cp->health))
                return;
        if (!cp->libvirt)
                health_beat(cp->health, true, "libvirt not connected: %s",
                            cp->down_reason[0] ? cp->down_reason : "not yet tried");
        else if (cp->n_exposed)
                health_beat(cp->health, true,
                            "%zu agent-managed volume(s) plugged without <encryption>, first: "
                            "domain %s, volume %s", cp->n_exposed, cp->exposed[0].domain,
                            cp->exposed[0].volume_id);
        else if (!cp->reconciled)
                health_beat(cp->health, true, "volume secrets not reconciled yet%s%s",
                            cp->reconcile_problem[0] ? ": " : "", cp->reconcile_problem);
        else if (cp->waiting[0])
                health_beat(cp->health, true, "%s", cp->waiting);
        else if (cp->reconcile_problem[0])
                health_beat(cp->health, true, "%s", cp->reconcile_problem);
        else
                health_beat(cp->health, false,
                            "libvirt connected, volume secrets reconciled; %" PRIu64
                            " provisioned, %" PRIu64 " placeholders, %" PRIu64 " restored, %" PRIu64
                            " removed, %" PRIu64 " failed since start",
                            cp->counts.n[OUTCOME_PROVISIONED], cp->counts.n[OUTCOME_PLACEHOLDER],
                            cp->counts.n[OUTCOME_RESTORED], cp->counts.n[OUTCOME_REMOVED],
                            cp->counts.n[OUTCOME_FAILED]);
}

bool compute_sleep_or_stop(struct compute *cp, unsigned ms)
{
        uint64_t until = clock_now_ms() + ms;

        while (!signals_stop_requested && clock_now_ms() < until) {
                refresh_health(cp);
                usleep(50 * 1000);
        }
        return signals_stop_requested;
}

bool compute_record(struct compute *cp, const char *event_type, const char *message_id,
                    const char *volume_id, const struct compute_action *a, uint64_t ms)
{
        enum log_level level = a->outcome == OUTCOME_FAILED || a->outcome == OUTCOME_EXPOSED
                                       ? LOG_LEVEL_ERROR
                                       : LOG_LEVEL_INFO;
        int r;

        log_msg(level, "volume %s: %s in %" PRIu64 " ms (%s): %s", volume_id,
                outcome_to_string(a->outcome), ms, event_type, a->reason);
        outcome_counts_add(&cp->counts, a->outcome);
        /* The checkpoint may not pass an event without its record: a full
         * disk is waited out, loudly. */
        while ((r = results_append(cp->results, volume_id, event_type, message_id, a->outcome,
                                   a->reason, ms)) < 0) {
                log_error("volume %s: cannot write results.jsonl in %s: %s (will retry)",
                          volume_id, cp->config->state_dir, strerror(-r));
                snprintf(cp->waiting, sizeof(cp->waiting), "cannot write results.jsonl in %s: %s",
                         cp->config->state_dir, strerror(-r));
                if (compute_sleep_or_stop(cp, 1000)) {
                        cp->waiting[0] = '\0';
                        return false;
                }
        }
        cp->waiting[0] = '\0';
        return true;
}

/* ---- backup restores ---------------------------------------------------- */

/* A restore names only the backup's source volume, and the volume agent
 * re-binds the volumes it went into (role_volume_jobs.c, restore_sweep) without
 * any event to say so: the reconciles that follow a backup.restore.end, at
 * these times after it, give those volumes their new value. Until then they
 * keep the old one, which opens nothing of the restored header. */
#define RESTORE_RECHECK_FIRST_MS 5000u
#define RESTORE_RECHECK_FACTOR 3u
#define RESTORE_RECHECKS 4u
/* Index entries written this long before the restore was seen here count
 * as written after it (the volume host's clock may be ahead); a value set
 * again that was right costs one libvirt call. */
#define RESTORE_CLOCK_SLACK_S 300

void compute_restore_seen(struct compute *cp, struct compute_action *a)
{
        uint64_t first = RESTORE_RECHECK_FIRST_MS, at = first, step = first;
        char when[64] = "";

        for (unsigned i = 0; i < RESTORE_RECHECKS; i++, step *= RESTORE_RECHECK_FACTOR,
                      at += step)
                snprintf(when + strlen(when), sizeof(when) - strlen(when), "%s%" PRIu64,
                         i == 0 ? "" : i + 1 == RESTORE_RECHECKS ? " and " : ", ", at / 1000);
        if (!cp->restore_rechecks)
                cp->restore_since = (int64_t)time(NULL) - RESTORE_CLOCK_SLACK_S;
        cp->restore_rechecks = RESTORE_RECHECKS;
        cp->restore_step_ms = first;
        cp->next_restore_ms = clock_now_ms() + first;
        compute_set_action(a, OUTCOME_SKIPPED, false,
                           "a backup of this volume was restored: the volume agent re-binds "
                           "the volumes it went into; reconciles in %s s set the values of "
                           "the volumes its index records from now on",
                           when);
}

/* ---- setup and the main loop ------------------------------------------- */

int compute_init(struct compute *cp, const struct config *c, bool once)
{
        const char *why = NULL;
        int r;

        *cp = (struct compute){.config = c, .connect_delay_ms = c->retry_initial_ms,
                               .once = once, .reconcile_delay_ms = c->retry_initial_ms};
        if (c->compute_host && c->compute_host[0])
                snprintf(cp->host, sizeof(cp->host), "%s", c->compute_host);
        else if (gethostname(cp->host, sizeof(cp->host) - 1) < 0)
                return -errno;
        r = results_open(c->state_dir, &cp->results);
        if (r < 0) {
                log_error("cannot open results in %s: %s", c->state_dir, strerror(-r));
                return r;
        }
        r = keys_open(c, &cp->keys, &why);
        if (r < 0)
                log_error("cannot set up the key provider: %s", why);
        return r;
}

void compute_destroy(struct compute *cp)
{
        virt_disconnect(cp->libvirt);
        ceph_cluster_disconnect(cp->cluster);
        keys_close(cp->keys);
        results_close(cp->results);
        free(cp->pending);
}

/* The reconcile when due; a failed one is tried again with backoff. */
static void reconcile_if_due(struct compute *cp)
{
        const struct config *c = cp->config;
        uint64_t now = clock_now_ms();
        bool remove_dead, restore = cp->restore_rechecks && now >= cp->next_restore_ms;
        int r;

        if (!cp->reconcile_due && !restore && now < cp->next_reconcile_ms)
                return;
        cp->reconcile_due = false;
        if (restore) {
                cp->restore_rechecks--;
                cp->restore_step_ms *= RESTORE_RECHECK_FACTOR;
                cp->next_restore_ms = now + cp->restore_step_ms;
        }
        /* While rechecks are due, every reconcile refreshes what the index
         * recorded since the restore. */
        cp->refresh_since = restore || cp->restore_rechecks ? cp->restore_since : 0;
        compute_apply_static_secrets(cp, "reconcile");
        /* The secrets of volumes that are gone: at the first reconcile, then
         * every gc_interval_s (0: never). */
        remove_dead = c->gc_interval_s && now >= cp->next_gc_ms;
        r = compute_reconcile(cp, true, remove_dead, false, false);
        cp->refresh_since = 0;
        if (remove_dead && (r == 0 || r == -EIO))
                cp->next_gc_ms = now + (uint64_t)c->gc_interval_s * 1000u;
        if (r == 0 || r == -EIO) {
                if (!cp->reconciled)
                        log_info("volume secrets reconciled; reporting healthy");
                cp->reconciled = r == 0 || cp->reconciled;
                if (r == -EIO)
                        cp->reconciled = true; /* every volume was tried; failures are recorded */
                cp->reconcile_delay_ms = c->retry_initial_ms;
                cp->next_reconcile_ms = now + (uint64_t)c->reconcile_interval_s * 1000u;
                return;
        }
        log_error("reconcile failed: %s (retrying in %u ms)", cp->reconcile_problem,
                  cp->reconcile_delay_ms);
        cp->next_reconcile_ms = now + cp->reconcile_delay_ms;
        cp->reconcile_delay_ms = backoff_next(cp->reconcile_delay_ms, c->retry_max_ms);
}

/* How long the loop may sleep: no longer than the next waiting value or
 * reconcile (a retry after failure) is due. */
static unsigned next_wait_ms(const struct compute *cp)
{
        uint64_t now = clock_now_ms(), until = now + intake_wait_ms(cp->config);

        /* Away from libvirt only the reconnect can be due: the values
         * waited for and the reconcile need libvirt, and run_timers() leaves
         * them alone, so their times, once past, would end every wait at
         * once (a spin until the reconnect). */
        if (!cp->libvirt) {
                if (cp->next_connect_ms > now && cp->next_connect_ms < until)
                        until = cp->next_connect_ms;
                return (unsigned)(until - now);
        }
        for (size_t i = 0; i < cp->n_pending; i++)
                if (cp->pending[i].next_ms < until)
                        until = cp->pending[i].next_ms;
        if (cp->next_reconcile_ms < until)
                until = cp->next_reconcile_ms;
        if (cp->restore_rechecks && cp->next_restore_ms < until)
                until = cp->next_restore_ms;
        return until <= now ? 0 : (unsigned)(until - now);
}

/* Reconnect, notices, SIGHUP, reconcile and waiting values, between lines. */
static void run_timers(struct compute *cp, bool once)
{
        bool connected = compute_ensure_libvirt(cp) >= 0;

        /* SIGHUP: the reconcile, static secrets included, at once. */
        if (signals_reload_requested) {
                signals_reload_requested = 0;
                if (once && connected)
                        compute_apply_static_secrets(cp, "SIGHUP");
                cp->reconcile_due = true;
        }
        if (!connected) {
                /* What libvirt said before it went away is stale; the
                 * reconcile after the reconnect covers it. Unread, the
                 * notices would keep the wait from waiting. */
                struct virt_notice n;

                while (virt_next_notice(&n, NULL))
                        cp->reconcile_due = true;
                return;
        }
        compute_notices(cp);
        if (once)
                return;
        reconcile_if_due(cp);
        compute_pending_run(cp);
}

static void read_loop(struct compute *cp, struct hookfile *h, struct intake_progress *progress,
                      bool once)
{
        const struct config *c = cp->config;
        struct hookfile_line line;
        enum hookfile_event hev;
        bool effect;
        int r;

        while (!signals_stop_requested) {
                run_timers(cp, once);
                refresh_health(cp);
                hev = HOOKFILE_EVENT_NONE;
                r = hookfile_next(h, &line, &hev);
                intake_log_hookfile_event(c->hook_file, hev);
                if (r < 0) {
                        log_error("%s: cannot read: %s (will retry)", c->hook_file, strerror(-r));
                        hookfile_wait_fd(h, virt_watch_fd(), intake_wait_ms(c));
                        continue;
                }
                if (line.status == HOOKFILE_NONE && once)
                        hookfile_take_unterminated(h, &line);
                if (line.status == HOOKFILE_NONE) {
                        intake_progress_save(progress, c->state_dir, true);
                        if (once)
                                break;
                        hookfile_wait_fd(h, virt_watch_fd(), next_wait_ms(cp));
                        continue;
                }
                if (!compute_handle_line(cp, &line, &effect))
                        break;
                intake_progress_note(progress, &line.next, effect);
                intake_progress_save(progress, c->state_dir, false);
        }
}

int role_compute_run(const struct config *c, bool once)
{
        struct intake_progress progress = {.last_save_ms = clock_now_ms()};
        struct hookfile *h = NULL;
        struct health health;
        struct compute cp;
        int code = 1;

        signals_install();
        if (compute_init(&cp, c, once) < 0 || intake_open(c, &h) < 0)
                goto out;
        if (!once && health_init(&health, c->state_dir, HEALTH_FILE, "compute",
                                 c->health_interval_s) < 0) {
                log_error("%s/%s: path too long", c->state_dir, HEALTH_FILE);
                goto out;
        }
        cp.health = once ? NULL : &health;
        /* A record an earlier process left says nothing of this one: until
         * the first reconcile has ended, volume secrets may be missing. */
        if (cp.health)
                (void)health_write(cp.health, true,
                                   "starting: volume secrets not reconciled yet");
        log_info("compute role %s %s for host %s, libvirt %s, %zu static secrets",
                 once ? "running once over" : "following", c->hook_file, cp.host, c->libvirt_uri,
                 c->n_secrets);
        /* Static secrets and the volume invariant first: they are wanted
         * whether or not events come. */
        (void)compute_ensure_libvirt(&cp);
        if (!once && cp.libvirt)
                reconcile_if_due(&cp);
        read_loop(&cp, h, &progress, once);
        intake_progress_save(&progress, c->state_dir, true);
        log_info("done: %" PRIu64 " provisioned, %" PRIu64 " placeholders, %" PRIu64
                 " restored, %" PRIu64 " removed, %" PRIu64 " kept, %" PRIu64 " skipped, %" PRIu64
                 " failed, %" PRIu64 " exposed, %" PRIu64 " lines rejected, %" PRIu64
                 " lines ignored%s",
                 cp.counts.n[OUTCOME_PROVISIONED], cp.counts.n[OUTCOME_PLACEHOLDER],
                 cp.counts.n[OUTCOME_RESTORED], cp.counts.n[OUTCOME_REMOVED],
                 cp.counts.n[OUTCOME_KEPT], cp.counts.n[OUTCOME_SKIPPED], cp.counts.n[OUTCOME_FAILED],
                 cp.counts.n[OUTCOME_EXPOSED], cp.rejected, cp.ignored,
                 signals_stop_requested ? " (stopped by signal)" : "");
        code = progress.has_pending || (once && (cp.counts.n[OUTCOME_FAILED] || cp.rejected || !cp.libvirt)) ? 1
                                                                                          : 0;
        if (cp.health)
                (void)health_write(cp.health, true, "stopped");
out:
        hookfile_close(h);
        compute_destroy(&cp);
        return code;
}
