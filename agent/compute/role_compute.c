/* role_compute: libvirt secrets for Nova (role_compute.h): the loop,
 * events, static secrets and the commands. The volume secrets themselves
 * are compute_volumes.c's (and compute_waiting.c's, compute_raw_disks.c's,
 * compute_reconcile.c's). */
#include "role_compute.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compute_internal.h"
#include "stream/event.h"
#include "base/uuid.h"
#include "runtime/health.h"
#include "stream/hookfile.h"
#include "runtime/intake.h"
#include "runtime/signals.h"
#include "base/clock.h"
#include "keys/keyring.h"
#include "keys/keys.h"
#include "base/backoff.h"
#include "base/log.h"
#include "ceph/ceph.h"
#include "base/reason.h"
#include "stream/results.h"
#include "base/secretfile.h"
#include "virt.h"

#define LIBVIRT_PING_MS 1000

/* ---- libvirt connection and static secrets ----------------------------- */

static int read_static_value(const struct config_secret *cs, struct secret **ret,
                             const char **ret_reason)
{
        if (cs->keyring)
                return keyring_read_key(cs->keyring, cs->entity, ret, ret_reason);
        return secretfile_read(cs->key_file, "key file", 1, SECRET_MAX_BYTES - 1, ret,
                               ret_reason);
}

/* Makes every [secret:NAME] exist as configured; logs what it changed. */
static void apply_static_secrets(struct compute *cp, const char *occasion)
{
        const struct config *c = cp->config;
        unsigned changed = 0, failed = 0;

        for (size_t i = 0; i < c->n_secrets && cp->libvirt; i++) {
                const struct config_secret *cs = &c->secrets[i];
                struct virt_spec spec = {.private_value = cs->private_value};
                struct secret *value = NULL;
                const char *why = NULL;
                bool did = false;
                int r;

                snprintf(spec.uuid, sizeof(spec.uuid), "%s", cs->uuid);
                snprintf(spec.usage_id, sizeof(spec.usage_id), "%s", cs->usage_id);
                spec.usage = cs->usage == CONFIG_SECRET_CEPH ? VIRT_USAGE_CEPH
                                                             : VIRT_USAGE_VOLUME;
                r = read_static_value(cs, &value, &why);
                if (r >= 0)
                        r = virt_ensure(cp->libvirt, &spec, value, &did, NULL, &why);
                secret_free(value);
                if (r < 0) {
                        log_error("%s:%u: secret %s (%s): %s", c->path, cs->line, cs->name,
                                  cs->uuid, why ? why : strerror(-r));
                        failed++;
                } else if (did) {
                        log_info("secret %s (%s): defined or corrected (%s)", cs->name, cs->uuid,
                                 occasion);
                        changed++;
                }
        }
        log_debug("static secrets checked (%s): %u changed, %u failed", occasion, changed,
                  failed);
}

/* Connected, or -ENOTCONN while libvirt is away (reconnects with backoff). */
struct virt_login compute_libvirt_login(const struct config *c)
{
        return (struct virt_login){.user = c->libvirt_sasl_user,
                                      .password_file = c->libvirt_sasl_password_file};
}

int compute_ensure_libvirt(struct compute *cp)
{
        const struct config *c = cp->config;
        struct virt_login login;
        const char *why = NULL;
        int r;

        /* A restarted libvirtd may have lost its secrets (a recreated
         * container): notice within a second, reconnect, define again. */
        if (cp->libvirt && clock_now_ms() < cp->next_ping_ms && virt_alive(cp->libvirt))
                return 0;
        if (cp->libvirt && virt_ping(cp->libvirt)) {
                cp->next_ping_ms = clock_now_ms() + LIBVIRT_PING_MS;
                return 0;
        }
        if (cp->libvirt) {
                log_warn("libvirt connection to %s lost; reconnecting", c->libvirt_uri);
                snprintf(cp->down_reason, sizeof(cp->down_reason), "connection to %s lost",
                         c->libvirt_uri);
                virt_disconnect(cp->libvirt);
                cp->libvirt = NULL;
                cp->next_connect_ms = 0;
        }
        if (clock_now_ms() < cp->next_connect_ms)
                return -ENOTCONN;
        login = compute_libvirt_login(c);
        r = virt_connect(c->libvirt_uri, &login, &cp->libvirt, &why);
        if (r < 0) {
                snprintf(cp->down_reason, sizeof(cp->down_reason), "%s",
                         why ? why : strerror(-r));
                if (!cp->told_down)
                        log_error("cannot connect to libvirt at %s: %s (retrying with backoff)",
                                  c->libvirt_uri, why ? why : strerror(-r));
                cp->told_down = true;
                cp->next_connect_ms = clock_now_ms() + cp->connect_delay_ms;
                cp->connect_delay_ms = backoff_next(cp->connect_delay_ms, c->retry_max_ms);
                return -ENOTCONN;
        }
        log_info("connected to libvirt at %s", c->libvirt_uri);
        cp->told_down = false;
        cp->connect_delay_ms = c->retry_initial_ms;
        if (!cp->once) {
                r = virt_watch(cp->libvirt, &why);
                if (r < 0)
                        log_warn("cannot watch libvirt's events (%s); secrets undefined by others "
                                 "come back only at the next reconcile", why);
        }
        /* A daemon that came back may have lost every secret: the
         * reconcile due now puts them back, static ones first. Without one
         * (--once, commands) the static ones are put back here. */
        if (cp->once)
                apply_static_secrets(cp, "libvirt connected");
        cp->reconciled = false;
        cp->reconcile_due = true;
        return 0;
}

/* ---- Ceph ---------------------------------------------------------------- */

int compute_cluster(struct compute *cp, struct ceph_cluster **ret)
{
        const struct config *c = cp->config;
        struct ceph_connect_params p = {c->ceph_conf, c->ceph_client, c->ceph_keyring,
                                       c->ceph_timeout_s};
        int r = 0;

        if (!cp->cluster)
                r = ceph_cluster_connect(&p, &cp->cluster);
        *ret = cp->cluster;
        return r;
}

/* Blocklisted: this client is done for; the next call connects anew. */
void compute_cluster_failed(struct compute *cp, int r)
{
        if (r == -ESHUTDOWN && cp->cluster) {
                ceph_cluster_disconnect(cp->cluster);
                cp->cluster = NULL;
        }
}

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

static bool sleep_or_stop(struct compute *cp, unsigned ms)
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
                if (sleep_or_stop(cp, 1000)) {
                        cp->waiting[0] = '\0';
                        return false;
                }
        }
        cp->waiting[0] = '\0';
        return true;
}

/* ---- events ------------------------------------------------------------ */

/* Nova and Cinder record either the short or the full host name. */
static bool same_host(const char *a, const char *b)
{
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");

        return strcmp(a, b) == 0 || (la == lb && strncmp(a, b, la) == 0);
}

static bool attached_here(const struct compute *cp, const struct event *ev)
{
        for (size_t i = 0; i < ev->n_attached_hosts; i++)
                if (same_host(ev->attached_hosts[i], cp->host))
                        return true;
        return false;
}

enum intent { INTENT_NONE, INTENT_PLACEHOLDER, INTENT_PROVISION, INTENT_REMOVE };

/* The event types this role acts on, for intake_classify() and intent_of().
 * create.start (and manage_existing.start): the secret at once, with a
 * placeholder; create.end (manage_existing.end, and a retype of an
 * available volume into a type in scope: the volume agent formats or
 * converts it then): a placeholder if none is there, its
 * real value once the volume agent has recorded the format; attach events
 * naming this host: the same, a hint only (Nova builds the disk before
 * Cinder says so: docs/decisions.md); delete: removed. Detach events
 * change nothing: the secret stays until the volume is deleted. */
static const char *const handled_types[] = {
        "volume.create.start",         "volume.create.end",  "volume.manage_existing.start",
        "volume.manage_existing.end",  "volume.attach.start", "volume.attach.end",
        "volume.delete.start",         "volume.delete.end",  "volume.retype",
        "backup.restore.end",          NULL};

/* A restore names only the backup's source volume, and the volume agent
 * re-binds the volumes it went into (role_volume.c, restore_sweep) without
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

static void restore_seen(struct compute *cp, struct compute_action *a)
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

static enum intent intent_of(const struct compute *cp, const struct event *ev)
{
        const char *t = ev->event_type;

        if (!ev->is_volume)
                return INTENT_NONE;
        /* An image Cinder manages from now on is a new volume too. */
        if (strcmp(t, "volume.create.start") == 0 || strcmp(t, "volume.manage_existing.start") == 0)
                return INTENT_PLACEHOLDER;
        /* A volume retyped while attached is left as it is by the volume
         * agent: a placeholder would fail its next attach, and the
         * raw-disk check would pause the guest that has its plain data. */
        if (strcmp(t, "volume.retype") == 0 && !event_volume_available(ev))
                return INTENT_NONE;
        if (event_sets_type(t))
                return INTENT_PROVISION;
        if (strncmp(t, "volume.attach.", strlen("volume.attach.")) == 0)
                return attached_here(cp, ev) ? INTENT_PROVISION : INTENT_NONE;
        if (strncmp(t, "volume.delete.", strlen("volume.delete.")) == 0)
                return INTENT_REMOVE;
        return INTENT_NONE;
}

/* One intent with the [retry] policy for failures that may pass; false
 * when stopped first. A value that is not known yet is not retried here
 * but waited for (compute_pending_add), so the events behind it go on. */
static bool act_with_retries(struct compute *cp, enum intent intent, const char *volume_id,
                             struct compute_action *a)
{
        struct intake_retry retry;
        unsigned wait_ms;
        bool stop = false;

        intake_retry_begin(&retry, cp->config);
        for (;;) {
                if (intent == INTENT_PLACEHOLDER)
                        compute_placeholder(cp, volume_id, a);
                else if (intent == INTENT_PROVISION)
                        compute_provision(cp, volume_id, a);
                else
                        compute_remove(cp, volume_id, true, false, true, a);
                if (a->outcome != OUTCOME_FAILED || !a->transient ||
                    !intake_retry_after_failure(&retry, volume_id, a->reason, sizeof(a->reason),
                                                &wait_ms))
                        break;
                snprintf(cp->waiting, sizeof(cp->waiting),
                         "volume %s: attempt %u failed, will retry: %.300s", volume_id,
                         retry.attempt, a->reason);
                stop = sleep_or_stop(cp, wait_ms);
                if (stop)
                        break;
        }
        cp->waiting[0] = '\0';
        if (!stop && intent == INTENT_PROVISION && a->outcome == OUTCOME_PLACEHOLDER &&
            a->transient)
                compute_pending_add(cp, volume_id);
        return !stop;
}

/* Handles one line; true when it has ended (its position may be saved),
 * *ret_effect when something was recorded. */
static bool handle_line(struct compute *cp, const struct hookfile_line *l, bool *ret_effect)
{
        const struct config *c = cp->config;
        struct compute_action a;
        struct event ev;
        enum intent intent;
        uint64_t start = clock_now_ms();

        *ret_effect = false;
        switch (intake_classify(c, cp->results, l, handled_types, &ev)) {
        case INTAKE_UNRECORDED:
                return false;
        case INTAKE_REJECT:
                cp->rejected++;
                return true;
        case INTAKE_IGNORE:
                cp->ignored++;
                return true;
        case INTAKE_EVENT:
                break;
        }
        if (strcmp(ev.event_type, "backup.restore.end") == 0) {
                restore_seen(cp, &a);
                *ret_effect = true;
                return compute_record(cp, ev.event_type, ev.message_id, ev.volume_id, &a,
                                      clock_now_ms() - start);
        }
        intent = intent_of(cp, &ev);
        if (intent == INTENT_NONE) {
                cp->ignored++;
                return true;
        }
        if (intent != INTENT_REMOVE &&
            !compute_in_scope(cp, ev.has_volume_type ? ev.volume_type : NULL,
                              ev.volume_host[0] ? ev.volume_host : NULL,
                              ev.zone_unreadable ? "" : ev.availability_zone, a.reason,
                              sizeof(a.reason))) {
                a.outcome = OUTCOME_SKIPPED;
                a.transient = false;
        } else if (!act_with_retries(cp, intent, ev.volume_id, &a)) {
                return false;
        }
        /* Nothing to remove here: every compute host sees every delete. */
        if (intent == INTENT_REMOVE && a.outcome == OUTCOME_SKIPPED) {
                cp->ignored++;
                return true;
        }
        *ret_effect = true;
        return compute_record(cp, ev.event_type, ev.message_id, ev.volume_id, &a,
                              clock_now_ms() - start);
}

/* ---- setup and the main loop ------------------------------------------- */

static int compute_init(struct compute *cp, const struct config *c, bool once)
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

static void compute_destroy(struct compute *cp)
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
        apply_static_secrets(cp, "reconcile");
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
                        apply_static_secrets(cp, "SIGHUP");
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
                if (!handle_line(cp, &line, &effect))
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

/* ---- secrets commands -------------------------------------------------- */

const char role_compute_secrets_usage[] =
        "Usage: rbd-luks-agent -c FILE secrets COMMAND   (role = compute)\n"
        "\n"
        "  list                  every libvirt secret (UUID, usage, owner, private,\n"
        "                        created, state: placeholder / value set / foreign), then\n"
        "                        every live volume in scope with none here (missing);\n"
        "                        never values\n"
        "  provision VOLUME_ID   give the volume's secret what the volume index says now\n"
        "                        (the passphrase, or a placeholder)\n"
        "  remove VOLUME_ID      remove it, unless a running domain uses it\n"
        "  reconcile             put every live volume's secret in step with the volume\n"
        "                        index now, and remove those of volumes that are gone\n"
        "  gc [--dry-run]        remove only this agent's secrets of volumes that are gone\n"
        "                        (no index entry, no image) and older than gc_grace_s\n";

static int volume_command(struct compute *cp, enum intent intent, const char *volume_id)
{
        struct compute_action a;

        if (intent == INTENT_PROVISION)
                compute_provision(cp, volume_id, &a);
        else
                compute_remove(cp, volume_id, true, false, false, &a);
        if (!compute_record(cp, intent == INTENT_PROVISION ? "manual.provision" : "manual.remove",
                            NULL, volume_id, &a, 0))
                return 1;
        printf("%s %s: %s\n", volume_id, outcome_to_string(a.outcome), a.reason);
        return a.outcome == OUTCOME_FAILED ? 1 : 0;
}

static int virt_usage(const char *what)
{
        fprintf(stderr, "rbd-luks-agent secrets: %s\n\n%s", what, role_compute_secrets_usage);
        return 2;
}

static int check_secrets_arguments(int argc, char **argv)
{
        const char *cmd = argv[0];

        if (strcmp(cmd, "list") == 0 || strcmp(cmd, "reconcile") == 0)
                return argc == 1 ? 0 : virt_usage("list and reconcile take no argument");
        if (strcmp(cmd, "gc") == 0)
                return argc == 1 || (argc == 2 && strcmp(argv[1], "--dry-run") == 0)
                               ? 0
                               : virt_usage("gc takes only --dry-run");
        if (strcmp(cmd, "provision") == 0 || strcmp(cmd, "remove") == 0)
                return argc == 2 && uuid_is_valid(argv[1])
                               ? 0
                               : virt_usage("give one VOLUME_ID (a UUID)");
        return virt_usage("unknown secrets command");
}

/* gc: the reconcile's removal half only. */
static int gc_command(struct compute *cp, bool dry_run)
{
        int r = compute_reconcile(cp, false, true, dry_run, true);

        if (r < 0 && r != -EIO)
                log_error("secrets gc: %s", cp->reconcile_problem);
        return r < 0 ? 1 : 0;
}

int role_compute_secrets_command(const struct config *c, int argc, char **argv)
{
        struct compute cp;
        char id[EVENT_ID_MAX];
        int code;

        /* argv[0] is "secrets". */
        if (argc < 2)
                return virt_usage("no secrets command given");
        code = check_secrets_arguments(argc - 1, argv + 1);
        if (code)
                return code;
        if (c->role != ROLE_COMPUTE) {
                log_error("secrets commands need [agent] role = compute");
                return 1;
        }
        signals_install();
        if (compute_init(&cp, c, true) < 0) {
                compute_destroy(&cp);
                return 1;
        }
        if (strcmp(argv[1], "list") == 0) {
                code = compute_list_volumes(&cp);
        } else if (strcmp(argv[1], "gc") == 0) {
                code = gc_command(&cp, argc == 3);
        } else if (strcmp(argv[1], "reconcile") == 0) {
                int r = compute_reconcile(&cp, true, true, false, true);

                if (r < 0)
                        log_error("secrets reconcile: %s", cp.reconcile_problem);
                code = r < 0 ? 1 : 0;
        } else {
                uuid_lower(argv[2], id);
                code = volume_command(&cp, strcmp(argv[1], "provision") == 0 ? INTENT_PROVISION
                                                                             : INTENT_REMOVE,
                                      id);
        }
        compute_destroy(&cp);
        return code;
}
