/* role_compute: libvirt secrets for Nova (role_compute.h). */
#include "role_compute.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "health.h"
#include "hookfile.h"
#include "intake.h"
#include "keyring.h"
#include "keys.h"
#include "log.h"
#include "rbd.h"
#include "reason.h"
#include "results.h"
#include "secretfile.h"
#include "secrets.h"

#define REASON_LEN 512
#define LIBVIRT_PING_MS 1000

struct compute {
        const struct config *config;
        struct results *results;
        struct keys *keys;
        struct rbd_cluster *cluster; /* lazily, for the metadata provider */
        struct secrets *libvirt;     /* NULL while disconnected */
        char host[EVENT_HOST_MAX];
        unsigned connect_delay_ms;
        uint64_t next_connect_ms, next_reconcile_ms, next_gc_ms, next_ping_ms;
        bool told_down;
        char down_reason[REASON_LEN]; /* why the last libvirt connect failed */
        char waiting[REASON_LEN];     /* what a retry wait is for; "" when none */
        struct health *health;        /* NULL: not a daemon (--once, commands) */
        uint64_t provisioned, removed, kept, skipped, failed, rejected, ignored;
};

/* What one volume action ended as. */
struct action {
        enum outcome outcome;
        bool transient;
        char reason[REASON_LEN];
};

static void set_action(struct action *a, enum outcome o, bool transient, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void set_action(struct action *a, enum outcome o, bool transient, const char *fmt, ...)
{
        va_list ap;

        a->outcome = o;
        a->transient = transient;
        va_start(ap, fmt);
        vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
        va_end(ap);
}

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
                struct secrets_spec spec = {.private_value = cs->private_value};
                struct secret *value = NULL;
                const char *why = NULL;
                bool did = false;
                int r;

                snprintf(spec.uuid, sizeof(spec.uuid), "%s", cs->uuid);
                snprintf(spec.usage_id, sizeof(spec.usage_id), "%s", cs->usage_id);
                spec.usage = cs->usage == CONFIG_SECRET_CEPH ? SECRETS_USAGE_CEPH
                                                             : SECRETS_USAGE_VOLUME;
                r = read_static_value(cs, &value, &why);
                if (r >= 0)
                        r = secrets_ensure(cp->libvirt, &spec, value, &did, NULL, &why);
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
static int ensure_libvirt(struct compute *cp)
{
        const struct config *c = cp->config;
        const char *why = NULL;
        int r;

        /* A restarted libvirtd may have lost its secrets (a recreated
         * container): notice within a second, reconnect, define again. */
        if (cp->libvirt && intake_now_ms() < cp->next_ping_ms && secrets_alive(cp->libvirt))
                return 0;
        if (cp->libvirt && secrets_ping(cp->libvirt)) {
                cp->next_ping_ms = intake_now_ms() + LIBVIRT_PING_MS;
                return 0;
        }
        if (cp->libvirt) {
                log_warn("libvirt connection to %s lost; reconnecting", c->libvirt_uri);
                snprintf(cp->down_reason, sizeof(cp->down_reason), "connection to %s lost",
                         c->libvirt_uri);
                secrets_disconnect(cp->libvirt);
                cp->libvirt = NULL;
                cp->next_connect_ms = 0;
        }
        if (intake_now_ms() < cp->next_connect_ms)
                return -ENOTCONN;
        r = secrets_connect(c->libvirt_uri, &cp->libvirt, &why);
        if (r < 0) {
                snprintf(cp->down_reason, sizeof(cp->down_reason), "%s",
                         why ? why : strerror(-r));
                if (!cp->told_down)
                        log_error("cannot connect to libvirt at %s: %s (retrying with backoff)",
                                  c->libvirt_uri, why ? why : strerror(-r));
                cp->told_down = true;
                cp->next_connect_ms = intake_now_ms() + cp->connect_delay_ms;
                cp->connect_delay_ms = cp->connect_delay_ms * 2 > c->retry_max_ms
                                               ? c->retry_max_ms
                                               : cp->connect_delay_ms * 2;
                return -ENOTCONN;
        }
        log_info("connected to libvirt at %s", c->libvirt_uri);
        cp->told_down = false;
        cp->connect_delay_ms = c->retry_initial_ms;
        apply_static_secrets(cp, "libvirt connected");
        cp->next_reconcile_ms = intake_now_ms() + (uint64_t)c->reconcile_interval_s * 1000u;
        return 0;
}

/* ---- volume secrets ---------------------------------------------------- */

/* A volume secret declared in [secret:NAME] is the reconcile's to manage;
 * events and gc leave it alone. */
static bool is_static_volume(const struct compute *cp, const char *volume_id)
{
        const struct config *c = cp->config;

        for (size_t i = 0; i < c->n_secrets; i++)
                if (c->secrets[i].usage == CONFIG_SECRET_VOLUME &&
                    strcmp(c->secrets[i].usage_id, volume_id) == 0)
                        return true;
        return false;
}

/* False (with the action set) when events must not or cannot act now. */
static bool ready_for_volume(struct compute *cp, const char *volume_id, struct action *a)
{
        if (is_static_volume(cp, volume_id)) {
                set_action(a, OUTCOME_SKIPPED, false, "secret is declared in a [secret:*] section");
                return false;
        }
        if (ensure_libvirt(cp) < 0) {
                set_action(a, OUTCOME_FAILED, true, "libvirt at %s is not reachable",
                           cp->config->libvirt_uri);
                return false;
        }
        return true;
}

static int get_cluster(struct compute *cp, struct rbd_cluster **ret)
{
        const struct config *c = cp->config;
        struct rbd_connect_params p = {c->ceph_conf, c->ceph_client, c->ceph_keyring,
                                       c->ceph_timeout_s};
        int r = 0;

        if (!cp->cluster)
                r = rbd_cluster_connect(&p, &cp->cluster);
        *ret = cp->cluster;
        return r;
}

/* The volume's passphrase; the metadata provider reads it from the image. */
static int volume_passphrase(struct compute *cp, const char *volume_id, struct secret **ret,
                             struct action *a)
{
        const struct config *c = cp->config;
        struct rbd_image *img = NULL;
        struct rbd_cluster *cluster;
        struct secret *key = NULL;
        const char *why = NULL;
        char name[160];
        int r;

        if (c->key_provider == KEY_PROVIDER_METADATA) {
                snprintf(name, sizeof(name), "%s%s", c->image_prefix, volume_id);
                r = get_cluster(cp, &cluster);
                if (r >= 0)
                        r = rbd_image_open(cluster, c->pool, name, &img);
                if (r < 0) {
                        set_action(a, OUTCOME_FAILED, r != -ENOENT, "cannot open %s/%s: %s",
                                   c->pool, name, strerror(-r));
                        if (r == -ESHUTDOWN) {
                                rbd_cluster_disconnect(cp->cluster);
                                cp->cluster = NULL;
                        }
                        return r;
                }
        }
        r = keys_lookup(cp->keys, volume_id, img, &key, &why);
        rbd_image_close(img);
        /* Blocklisted: this client is done for; the retry connects anew. */
        if (r == -ESHUTDOWN) {
                rbd_cluster_disconnect(cp->cluster);
                cp->cluster = NULL;
        }
        if (r >= 0)
                r = secret_to_hex(key, ret);
        secret_free(key);
        if (r < 0)
                set_action(a, OUTCOME_FAILED,
                           r == -ENOENT || r == -ETIMEDOUT || r == -EIO || r == -ESHUTDOWN,
                           "no usable key (%s provider): %s", keys_provider_name(cp->keys),
                           why ? why : strerror(-r));
        return r;
}

static void provision(struct compute *cp, const char *volume_id, struct action *a)
{
        struct secrets_spec spec = {.usage = SECRETS_USAGE_VOLUME,
                                    .private_value = cp->config->compute_private};
        char uuid[SECRETS_UUID_LEN + 1] = "";
        struct secret *passphrase = NULL;
        const char *why = NULL;
        bool changed = false;
        int r;

        if (!ready_for_volume(cp, volume_id, a))
                return;
        if (volume_passphrase(cp, volume_id, &passphrase, a) < 0)
                return;
        snprintf(spec.usage_id, sizeof(spec.usage_id), "%s", volume_id);
        r = secrets_ensure(cp->libvirt, &spec, passphrase, &changed, uuid, &why);
        secret_free(passphrase);
        if (r == -EEXIST)
                set_action(a, OUTCOME_SKIPPED, false, "%s", why);
        else if (r < 0)
                set_action(a, OUTCOME_FAILED, r == -ENOTCONN || r == -ECONNREFUSED,
                           "cannot define the volume secret: %s", why ? why : strerror(-r));
        else
                set_action(a, OUTCOME_PROVISIONED, false, "volume secret %s %s", uuid,
                           changed ? "defined" : "already in place");
}

/* Removes our volume secret unless a domain uses it (running ones only,
 * or any defined one for garbage collection). */
static void unprovision(struct compute *cp, const char *volume_id, bool running_only,
                        bool dry_run, struct action *a)
{
        struct secrets_info info;
        const char *why = NULL;
        unsigned users = 0;
        int r;

        if (!ready_for_volume(cp, volume_id, a))
                return;
        r = secrets_find(cp->libvirt, SECRETS_USAGE_VOLUME, volume_id, &info, &why);
        if (r == -ENOENT) {
                set_action(a, OUTCOME_SKIPPED, false, "no secret for this volume here");
                return;
        }
        if (r >= 0 && !info.owned) {
                set_action(a, OUTCOME_SKIPPED, false,
                           "secret %s for this volume was not made by this agent; left alone",
                           info.uuid);
                return;
        }
        if (r >= 0)
                r = secrets_domains_using(cp->libvirt, info.uuid, running_only, &users, &why);
        if (r >= 0 && users) {
                set_action(a, OUTCOME_KEPT, false, "secret %s is used by %u %s domain(s)",
                           info.uuid, users, running_only ? "running" : "defined");
                return;
        }
        if (r >= 0 && !dry_run)
                r = secrets_remove(cp->libvirt, SECRETS_USAGE_VOLUME, volume_id, &why);
        if (r < 0)
                set_action(a, OUTCOME_FAILED, r == -ENOTCONN || r == -ECONNREFUSED,
                           "cannot remove the volume secret: %s", why ? why : strerror(-r));
        else
                set_action(a, OUTCOME_REMOVED, false, "secret %s %s", info.uuid,
                           dry_run ? "would be removed" : "removed");
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

enum intent { INTENT_NONE, INTENT_PROVISION, INTENT_REMOVE };

/* The event types this role acts on, for intake_classify() and intent_of().
 * Attach events arrive before Nova builds the disk (see docs/decisions.md);
 * detach and delete events end a volume's use on this host. */
static const char *const handled_types[] = {"volume.attach.start", "volume.attach.end",
                                            "volume.detach.end",   "volume.delete.start",
                                            "volume.delete.end",   NULL};

static bool is_handled(const char *type)
{
        for (size_t i = 0; handled_types[i]; i++)
                if (strcmp(type, handled_types[i]) == 0)
                        return true;
        return false;
}

static enum intent intent_of(const struct compute *cp, const struct event *ev)
{
        const char *t = ev->event_type;

        if (!ev->is_volume || !is_handled(t))
                return INTENT_NONE;
        if (strncmp(t, "volume.attach.", strlen("volume.attach.")) == 0) {
                if (attached_here(cp, ev))
                        return INTENT_PROVISION;
                if (ev->more_attachments)
                        log_warn("volume %s: %s lists more than %d attachments; hosts past those "
                                 "were not examined (run: secrets provision %s if it is "
                                 "attached here)",
                                 ev->volume_id, t, EVENT_MAX_ATTACHMENTS, ev->volume_id);
                return INTENT_NONE;
        }
        return INTENT_REMOVE;
}

/* From the one loop, and from its retry waits: a retry wait is the loop
 * alive but waiting on libvirt or Ceph (degraded), a hung call is the loop
 * stuck (the file goes stale). */
static void refresh_health(struct compute *cp)
{
        if (!cp->health || !health_due(cp->health))
                return;
        if (!cp->libvirt)
                health_beat(cp->health, true, "libvirt not connected: %s",
                            cp->down_reason[0] ? cp->down_reason : "not yet tried");
        else if (cp->waiting[0])
                health_beat(cp->health, true, "%s", cp->waiting);
        else
                health_beat(cp->health, false,
                            "libvirt connected; %" PRIu64 " provisioned, %" PRIu64
                            " removed, %" PRIu64 " failed since start",
                            cp->provisioned, cp->removed, cp->failed);
}

static bool sleep_or_stop(struct compute *cp, unsigned ms)
{
        uint64_t until = intake_now_ms() + ms;

        while (!intake_stop_requested && intake_now_ms() < until) {
                refresh_health(cp);
                usleep(50 * 1000);
        }
        return intake_stop_requested;
}

/* One intent with the [retry] policy; false when stopped first. */
static bool act_with_retries(struct compute *cp, enum intent intent, const char *volume_id,
                             struct action *a)
{
        struct intake_retry retry;
        unsigned wait_ms;

        bool stop = false;

        intake_retry_begin(&retry, cp->config);
        for (;;) {
                if (intent == INTENT_PROVISION)
                        provision(cp, volume_id, a);
                else
                        unprovision(cp, volume_id, true, false, a);
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
        return !stop;
}

static void count(struct compute *cp, enum outcome o)
{
        switch (o) {
        case OUTCOME_PROVISIONED: cp->provisioned++; break;
        case OUTCOME_REMOVED: cp->removed++; break;
        case OUTCOME_KEPT: cp->kept++; break;
        case OUTCOME_SKIPPED: cp->skipped++; break;
        default: cp->failed++; break;
        }
}

/* Records the ending; false only when stopped before it could. */
static bool record(struct compute *cp, const struct event *ev, const char *volume_id,
                   const struct action *a, uint64_t ms)
{
        enum log_level level = a->outcome == OUTCOME_FAILED ? LOG_LEVEL_ERROR : LOG_LEVEL_INFO;
        int r;

        log_msg(level, "volume %s: %s in %" PRIu64 " ms: %s", volume_id,
                outcome_to_string(a->outcome), ms, a->reason);
        count(cp, a->outcome);
        /* The checkpoint may not pass an event without its record: a full
         * disk is waited out, loudly. */
        while ((r = results_append(cp->results, volume_id, ev->event_type, ev->message_id,
                                   a->outcome, a->reason, ms)) < 0) {
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

/* Handles one line; true when it has ended (its position may be saved),
 * *ret_effect when something was recorded. */
static bool handle_line(struct compute *cp, const struct hookfile_line *l, bool *ret_effect)
{
        const struct config *c = cp->config;
        struct action a;
        struct event ev;
        enum intent intent;
        uint64_t start = intake_now_ms();

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
        intent = intent_of(cp, &ev);
        if (intent == INTENT_NONE) {
                cp->ignored++;
                return true;
        }
        if (intent == INTENT_PROVISION &&
            !config_wants_type(c, ev.has_volume_type ? ev.volume_type : NULL)) {
                set_action(&a, OUTCOME_SKIPPED, false, "volume type %s is not in [compute] types",
                           ev.has_volume_type ? ev.volume_type : "(none)");
        } else if (!act_with_retries(cp, intent, ev.volume_id, &a)) {
                return false;
        }
        /* Nothing to remove here: every compute host sees every delete. */
        if (intent == INTENT_REMOVE && a.outcome == OUTCOME_SKIPPED) {
                cp->ignored++;
                return true;
        }
        *ret_effect = true;
        return record(cp, &ev, ev.volume_id, &a, intake_now_ms() - start);
}

/* ---- garbage collection ------------------------------------------------ */

/* Our volume secrets older than gc_grace_s that no defined domain names. */
static int collect_garbage(struct compute *cp, bool dry_run, bool print)
{
        struct secrets_info *all = NULL;
        const char *why = NULL;
        int64_t now = (int64_t)time(NULL);
        unsigned removed = 0, failed = 0;
        size_t n = 0;
        int r;

        if (ensure_libvirt(cp) < 0)
                return -ENOTCONN;
        r = secrets_list(cp->libvirt, &all, &n, &why);
        if (r < 0) {
                log_error("secrets gc: cannot list libvirt secrets: %s", why);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                struct action a;

                if (!all[i].owned || all[i].usage != SECRETS_USAGE_VOLUME ||
                    now - all[i].created < (int64_t)cp->config->gc_grace_s)
                        continue;
                unprovision(cp, all[i].usage_id, false, dry_run, &a);
                if (a.outcome == OUTCOME_REMOVED) {
                        removed++;
                        log_info("secrets gc: volume %s: %s", all[i].usage_id, a.reason);
                        if (print) {
                                printf("volume %s: %s\n", all[i].usage_id, a.reason);
                                fflush(stdout); /* exact record if killed half-way */
                        }
                } else if (a.outcome == OUTCOME_FAILED) {
                        failed++;
                        log_error("secrets gc: volume %s: %s", all[i].usage_id, a.reason);
                }
        }
        free(all);
        log_info("secrets gc: %u %s, %u failed", removed, dry_run ? "would be removed" : "removed",
                 failed);
        return failed ? -EIO : 0;
}

/* ---- setup and the main loop ------------------------------------------- */

static int compute_init(struct compute *cp, const struct config *c)
{
        const char *why = NULL;
        int r;

        *cp = (struct compute){.config = c, .connect_delay_ms = c->retry_initial_ms};
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
        secrets_disconnect(cp->libvirt);
        rbd_cluster_disconnect(cp->cluster);
        keys_close(cp->keys);
        results_close(cp->results);
}

/* Reconnect, SIGHUP, reconcile and gc, between lines. */
static void run_timers(struct compute *cp, bool once)
{
        const struct config *c = cp->config;
        bool connected = ensure_libvirt(cp) >= 0;

        if (intake_reload_requested) {
                intake_reload_requested = 0;
                if (connected)
                        apply_static_secrets(cp, "SIGHUP");
        }
        if (once || !connected)
                return;
        if (intake_now_ms() >= cp->next_reconcile_ms) {
                apply_static_secrets(cp, "reconcile");
                cp->next_reconcile_ms = intake_now_ms() + (uint64_t)c->reconcile_interval_s * 1000u;
        }
        if (c->gc_interval_s && intake_now_ms() >= cp->next_gc_ms) {
                collect_garbage(cp, false, false);
                cp->next_gc_ms = intake_now_ms() + (uint64_t)c->gc_interval_s * 1000u;
        }
}

static void read_loop(struct compute *cp, struct hookfile *h, struct intake_progress *progress,
                      bool once)
{
        const struct config *c = cp->config;
        struct hookfile_line line;
        enum hookfile_event hev;
        bool effect;
        int r;

        while (!intake_stop_requested) {
                run_timers(cp, once);
                refresh_health(cp);
                hev = HOOKFILE_EVENT_NONE;
                r = hookfile_next(h, &line, &hev);
                intake_log_hookfile_event(c->hook_file, hev);
                if (r < 0) {
                        log_error("%s: cannot read: %s (will retry)", c->hook_file, strerror(-r));
                        hookfile_wait(h, intake_wait_ms(c));
                        continue;
                }
                if (line.status == HOOKFILE_NONE) {
                        intake_progress_save(progress, c->state_dir, true);
                        if (once)
                                break;
                        hookfile_wait(h, intake_wait_ms(c));
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
        struct intake_progress progress = {.last_save_ms = intake_now_ms()};
        struct hookfile *h = NULL;
        struct health health;
        struct compute cp;
        int code = 1;

        intake_install_signals();
        if (compute_init(&cp, c) < 0 || intake_open(c, &h) < 0)
                goto out;
        if (!once && health_init(&health, c->state_dir, HEALTH_FILE, "compute",
                                 c->health_interval_s) < 0) {
                log_error("%s/%s: path too long", c->state_dir, HEALTH_FILE);
                goto out;
        }
        cp.health = once ? NULL : &health;
        log_info("compute role %s %s for host %s, libvirt %s, %zu static secrets",
                 once ? "running once over" : "following", c->hook_file, cp.host, c->libvirt_uri,
                 c->n_secrets);
        /* Static secrets first: they are wanted whether or not events come. */
        (void)ensure_libvirt(&cp);
        cp.next_gc_ms = intake_now_ms() + (uint64_t)c->gc_interval_s * 1000u;
        read_loop(&cp, h, &progress, once);
        intake_progress_save(&progress, c->state_dir, true);
        log_info("done: %" PRIu64 " provisioned, %" PRIu64 " removed, %" PRIu64 " kept, %" PRIu64
                 " skipped, %" PRIu64 " failed, %" PRIu64 " lines rejected, %" PRIu64
                 " lines ignored%s",
                 cp.provisioned, cp.removed, cp.kept, cp.skipped, cp.failed, cp.rejected,
                 cp.ignored, intake_stop_requested ? " (stopped by signal)" : "");
        code = progress.has_pending || (once && (cp.failed || cp.rejected || !cp.libvirt)) ? 1
                                                                                          : 0;
out:
        hookfile_close(h);
        compute_destroy(&cp);
        return code;
}

/* ---- secrets commands -------------------------------------------------- */

const char role_compute_secrets_usage[] =
        "Usage: rbd-luks-agent -c FILE secrets COMMAND   (role = compute)\n"
        "\n"
        "  list                  every libvirt secret: UUID, usage, owner, private,\n"
        "                        created; never values\n"
        "  provision VOLUME_ID   define the volume's passphrase secret now\n"
        "  remove VOLUME_ID      remove it, unless a running domain uses it\n"
        "  gc [--dry-run]        remove this agent's volume secrets that no defined\n"
        "                        domain references and that are older than gc_grace_s\n";

static int secrets_list_command(struct compute *cp)
{
        struct secrets_info *all = NULL;
        const char *why = NULL;
        size_t n = 0;

        if (ensure_libvirt(cp) < 0)
                return 1;
        if (secrets_list(cp->libvirt, &all, &n, &why) < 0) {
                log_error("cannot list libvirt secrets: %s", why);
                return 1;
        }
        printf("%-36s  %-6s  %-36s  %-5s  %-7s  %s\n", "UUID", "USAGE", "USAGE ID", "OWNER",
               "PRIVATE", "CREATED");
        for (size_t i = 0; i < n; i++) {
                char created[32] = "-";
                time_t t = (time_t)all[i].created;
                struct tm tm;

                if (all[i].owned && gmtime_r(&t, &tm))
                        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
                printf("%-36s  %-6s  %-36s  %-5s  %-7s  %s\n", all[i].uuid,
                       all[i].usage == SECRETS_USAGE_CEPH     ? "ceph"
                       : all[i].usage == SECRETS_USAGE_VOLUME ? "volume"
                                                              : "other",
                       all[i].usage_id, all[i].owned ? "agent" : "-",
                       all[i].private_value ? "yes" : "no", created);
        }
        free(all);
        return 0;
}

static int volume_command(struct compute *cp, enum intent intent, const char *volume_id)
{
        struct event ev = {.is_volume = true};
        struct action a;

        snprintf(ev.event_type, sizeof(ev.event_type), "%s",
                 intent == INTENT_PROVISION ? "manual.provision" : "manual.remove");
        if (intent == INTENT_PROVISION)
                provision(cp, volume_id, &a);
        else
                unprovision(cp, volume_id, true, false, &a);
        if (!record(cp, &ev, volume_id, &a, 0))
                return 1;
        printf("%s %s: %s\n", volume_id, outcome_to_string(a.outcome), a.reason);
        return a.outcome == OUTCOME_FAILED ? 1 : 0;
}

static int secrets_usage(const char *what)
{
        fprintf(stderr, "rbd-luks-agent secrets: %s\n\n%s", what, role_compute_secrets_usage);
        return 2;
}

static int check_secrets_arguments(int argc, char **argv)
{
        const char *cmd = argv[0];

        if (strcmp(cmd, "list") == 0)
                return argc == 1 ? 0 : secrets_usage("list takes no argument");
        if (strcmp(cmd, "gc") == 0)
                return argc == 1 || (argc == 2 && strcmp(argv[1], "--dry-run") == 0)
                               ? 0
                               : secrets_usage("gc takes only --dry-run");
        if (strcmp(cmd, "provision") == 0 || strcmp(cmd, "remove") == 0)
                return argc == 2 && event_is_uuid(argv[1])
                               ? 0
                               : secrets_usage("give one VOLUME_ID (a UUID)");
        return secrets_usage("unknown secrets command");
}

int role_compute_secrets_command(const struct config *c, int argc, char **argv)
{
        struct compute cp;
        char id[40];
        int code;

        /* argv[0] is "secrets". */
        if (argc < 2)
                return secrets_usage("no secrets command given");
        code = check_secrets_arguments(argc - 1, argv + 1);
        if (code)
                return code;
        if (c->role != ROLE_COMPUTE) {
                log_error("secrets commands need [agent] role = compute");
                return 1;
        }
        intake_install_signals();
        if (compute_init(&cp, c) < 0) {
                compute_destroy(&cp);
                return 1;
        }
        if (strcmp(argv[1], "list") == 0) {
                code = secrets_list_command(&cp);
        } else if (strcmp(argv[1], "gc") == 0) {
                code = collect_garbage(&cp, argc == 3, true) < 0 ? 1 : 0;
        } else {
                /* Lowercase, as event ids are: one spelling per usage id. */
                for (size_t i = 0; i <= 36; i++)
                        id[i] = (char)(argv[2][i] >= 'A' && argv[2][i] <= 'F' ? argv[2][i] + 32
                                                                               : argv[2][i]);
                code = volume_command(&cp, strcmp(argv[1], "provision") == 0 ? INTENT_PROVISION
                                                                             : INTENT_REMOVE,
                                      id);
        }
        compute_destroy(&cp);
        return code;
}
