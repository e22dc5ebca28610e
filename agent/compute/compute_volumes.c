/* compute_volumes: volume secrets kept in step with the pool's volume
 * index (compute_internal.h).
 *
 * Nova adds <encryption> to a disk only when it finds a `volume` secret
 * at the moment it builds the disk, and deletes that secret itself on
 * detach, rollback, shelve and migration (docs/decisions.md cites where).
 * So the secret must be there all the time, holding a value that opens
 * nothing until the real passphrase is known: then an early attach fails
 * in qemu instead of showing the guest ciphertext. */
#include "compute_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/array.h"
#include "runtime/intake.h"
#include "records/header_map.h"
#include "keys/keys.h"
#include "base/log.h"
#include "base/uuid.h"
#include "luks/luks.h"
#include "ceph/ceph.h"
#include "base/secret.h"
#include "records/volume_index.h"

#define PLACEHOLDER_BYTES 32

void compute_set_action(struct compute_action *a, enum outcome o, bool transient,
                        const char *fmt, ...)
{
        char text[COMPUTE_REASON_LEN];
        va_list ap;

        /* Through a copy: an argument may be a->reason itself. */
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        a->outcome = o;
        a->transient = transient;
        memcpy(a->reason, text, sizeof(text));
}

/* Volume ids, or records that start with one, in key order. */
static int compare_ids(const void *a, const void *b)
{
        return strcmp(a, b);
}

/* ---- scope ------------------------------------------------------------- */

/* NULL: absent in the event, judged as the volume side judges it; "":
 * unknown (an index entry made by hand), in scope. */
bool compute_in_scope(const struct compute *cp, const char *type, const char *host,
                      const char *zone, char *why, size_t why_size)
{
        const struct config *c = cp->config;

        if (!(type && !type[0]) && !config_wants_type(c, type)) {
                snprintf(why, why_size, "volume type %s is not in [compute] types",
                         type ? type : "(none)");
                return false;
        }
        if (!(host && !host[0]) && !config_wants_backend(c, host)) {
                snprintf(why, why_size, "volume host %s is not on a backend in [compute] backends",
                         host ? host : "(none)");
                return false;
        }
        if (!config_wants_zone(c, zone)) {
                snprintf(why, why_size, "availability zone %s is not in [compute] "
                         "availability_zones", zone);
                return false;
        }
        return true;
}

/* A volume secret declared in [secret:NAME] is the static reconcile's. */
bool compute_is_static_volume(const struct compute *cp, const char *volume_id)
{
        const struct config *c = cp->config;

        for (size_t i = 0; i < c->n_secrets; i++)
                if (c->secrets[i].usage == CONFIG_SECRET_VOLUME &&
                    strcmp(c->secrets[i].usage_id, volume_id) == 0)
                        return true;
        return false;
}

/* False (with the action set) when nothing may or can be done now. */
static bool ready(struct compute *cp, const char *volume_id, struct compute_action *a)
{
        if (compute_is_static_volume(cp, volume_id)) {
                compute_set_action(a, OUTCOME_SKIPPED, false,
                                   "secret is declared in a [secret:*] section");
                return false;
        }
        if (compute_ensure_libvirt(cp) < 0) {
                compute_set_action(a, OUTCOME_FAILED, true, "libvirt at %s is not reachable",
                                   cp->config->libvirt_uri);
                return false;
        }
        return true;
}

/* absent: the caller expects libvirt to hold no secret for the volume
 * (a new volume, one just undefined): secrets.c defines it at once. */
static struct virt_spec volume_spec(const struct compute *cp, const char *volume_id,
                                       bool placeholder, bool absent)
{
        struct virt_spec spec = {.usage = VIRT_USAGE_VOLUME,
                                    .private_value = cp->config->compute_private,
                                    .placeholder = placeholder,
                                    .absent_likely = absent};

        snprintf(spec.usage_id, sizeof(spec.usage_id), "%s", volume_id);
        return spec;
}

/* ---- placeholder ------------------------------------------------------- */

/* 64 random hex characters: a passphrase no key slot was made with. */
static int placeholder_value(struct secret **ret)
{
        struct secret *raw = NULL;
        int r = secret_new(PLACEHOLDER_BYTES, &raw);

        if (r < 0)
                return r;
        if (getrandom(raw->data, PLACEHOLDER_BYTES, 0) != PLACEHOLDER_BYTES) {
                secret_free(raw);
                return -EIO;
        }
        raw->len = PLACEHOLDER_BYTES;
        r = secret_to_hex(raw, ret);
        secret_free(raw);
        return r;
}

/* On connection conn: cp->libvirt, or a reconcile worker's own. */
static void placeholder_on(struct compute *cp, struct secrets *conn, const char *volume_id,
                           bool absent, struct compute_action *a)
{
        struct virt_spec spec = volume_spec(cp, volume_id, true, absent);
        char uuid[VIRT_UUID_LEN + 1] = "";
        struct virt_info existing = {0};
        struct secret *value = NULL;
        const char *why = NULL;
        bool defined = false;
        int r;

        r = placeholder_value(&value);
        if (r >= 0)
                r = virt_ensure_present(conn, &spec, value, &defined, uuid, &existing, &why);
        secret_free(value);
        if (r == -EEXIST)
                compute_set_action(a, OUTCOME_SKIPPED, false, "%s", why);
        else if (r < 0)
                compute_set_action(a, OUTCOME_FAILED, r == -ENOTCONN || r == -ECONNREFUSED ||
                                                              r == -ENOMEM,
                                   "cannot define the placeholder secret: %s",
                                   why ? why : strerror(-r));
        else if (!defined && !existing.placeholder)
                compute_set_action(a, OUTCOME_PROVISIONED, false,
                                   "secret %s already in place (value set)", uuid);
        else
                compute_set_action(a, OUTCOME_PLACEHOLDER, false,
                                   "secret %s %s with a placeholder that opens nothing, until the "
                                   "volume is formatted", uuid, defined ? "defined" : "in place");
}

static void placeholder(struct compute *cp, const char *volume_id, bool absent,
                        struct compute_action *a)
{
        if (ready(cp, volume_id, a))
                placeholder_on(cp, cp->libvirt, volume_id, absent, a);
}

/* For volume.create.start: the volume is new, its secret most likely absent. */
void compute_placeholder(struct compute *cp, const char *volume_id, struct compute_action *a)
{
        placeholder(cp, volume_id, true, a);
}

/* ---- the real value ---------------------------------------------------- */

/* The volume's passphrase; the metadata provider reads it from the image. */
/* threaded: from a reconcile worker, on the Ceph client connected before
 * it started, which it must not retire. */
static int volume_passphrase(struct compute *cp, const char *volume_id, bool threaded,
                             struct secret **ret, struct compute_action *a)
{
        const struct config *c = cp->config;
        struct ceph_image *img = NULL;
        struct ceph_cluster *cluster;
        struct secret *key = NULL;
        const char *why = NULL;
        char name[160];
        int r;

        if (c->key_provider == KEY_PROVIDER_METADATA) {
                snprintf(name, sizeof(name), "%s%s", c->image_prefix, volume_id);
                cluster = cp->cluster;
                r = threaded ? (cluster ? 0 : -ENOTCONN) : compute_cluster(cp, &cluster);
                if (r >= 0)
                        r = ceph_image_open(cluster, c->pool, name, &img);
                if (r < 0) {
                        compute_set_action(a, OUTCOME_FAILED, r != -ENOENT,
                                           "cannot open %s/%s: %s", c->pool, name, strerror(-r));
                        if (!threaded)
                                compute_cluster_failed(cp, r);
                        return r;
                }
        }
        r = keys_lookup(cp->keys, volume_id, img, &key, &why);
        ceph_image_close(img);
        if (!threaded)
                compute_cluster_failed(cp, r);
        if (r >= 0)
                r = secret_to_hex(key, ret);
        secret_free(key);
        if (r < 0)
                compute_set_action(a, OUTCOME_FAILED,
                                   r == -ENOENT || r == -ETIMEDOUT || r == -EIO ||
                                           r == -ESHUTDOWN || r == -ENOMEM,
                                   "no usable key (%s provider): %s", keys_provider_name(cp->keys),
                                   why ? why : strerror(-r));
        return r;
}

static void value_on(struct compute *cp, struct secrets *conn, bool threaded,
                     const char *volume_id, bool absent, struct compute_action *a)
{
        struct virt_spec spec = volume_spec(cp, volume_id, false, absent);
        char uuid[VIRT_UUID_LEN + 1] = "";
        struct secret *passphrase = NULL;
        const char *why = NULL;
        bool changed = false;
        int r;

        if (volume_passphrase(cp, volume_id, threaded, &passphrase, a) < 0)
                return;
        r = virt_ensure(conn, &spec, passphrase, &changed, uuid, &why);
        secret_free(passphrase);
        if (r == -EEXIST)
                compute_set_action(a, OUTCOME_SKIPPED, false, "%s", why);
        else if (r < 0)
                compute_set_action(a, OUTCOME_FAILED, r == -ENOTCONN || r == -ECONNREFUSED,
                                   "cannot define the volume secret: %s", why ? why : strerror(-r));
        else
                compute_set_action(a, OUTCOME_PROVISIONED, false, "volume secret %s %s", uuid,
                                   changed ? "holds the passphrase" : "already in place");
}

static void set_real_value(struct compute *cp, const char *volume_id, bool absent,
                           struct compute_action *a)
{
        value_on(cp, cp->libvirt, false, volume_id, absent, a);
}

/* What the index entry e says, made true here (e NULL: no entry yet);
 * absent as for volume_spec(). */
static void provision_from(struct compute *cp, const char *volume_id,
                           const struct volume_index_entry *e, bool absent,
                           struct compute_action *a)
{
        const struct config *c = cp->config;
        const char *state;

        if (!e) {
                /* Not formatted yet (or never will be here): fail closed. */
                placeholder(cp, volume_id, absent, a);
                if (a->outcome == OUTCOME_PLACEHOLDER)
                        compute_set_action(a, OUTCOME_PLACEHOLDER, true,
                                           "the volume agent has not recorded this volume in "
                                           "%s/%s yet; %.300s", c->pool, CEPH_INDEX_OBJECT,
                                           a->reason);
                return;
        }
        state = volume_index_state_name(e->state);
        switch (e->state) {
        case VOLUME_INDEX_FORMATTED:
                set_real_value(cp, volume_id, absent, a);
                return;
        case VOLUME_INDEX_REFUSED:
        case VOLUME_INDEX_FAILED:
                placeholder(cp, volume_id, absent, a);
                if (a->outcome == OUTCOME_PLACEHOLDER)
                        compute_set_action(a, OUTCOME_PLACEHOLDER, false,
                                           "the volume agent recorded '%s': the placeholder "
                                           "stays, so the volume can never be attached raw; "
                                           "%.300s", state, a->reason);
                return;
        case VOLUME_INDEX_FOREIGN:
                compute_remove(cp, volume_id, true, false, false, a);
                if (a->outcome == OUTCOME_REMOVED)
                        compute_set_action(a, OUTCOME_REMOVED, false,
                                           "the volume holds a LUKS header rbd-luks-agent did not "
                                           "write (a Cinder-encrypted type?): placeholder removed "
                                           "so that Nova fetches the key itself; %.300s",
                                           a->reason);
                else if (a->outcome == OUTCOME_SKIPPED)
                        compute_set_action(a, OUTCOME_SKIPPED, false,
                                           "the volume holds a LUKS header rbd-luks-agent did not "
                                           "write: its key is Nova's to fetch; %.300s", a->reason);
                return;
        }
}

void compute_provision(struct compute *cp, const char *volume_id, struct compute_action *a)
{
        const struct config *c = cp->config;
        struct volume_index_entry e;
        struct ceph_cluster *cluster;
        int r;

        if (!ready(cp, volume_id, a))
                return;
        r = compute_cluster(cp, &cluster);
        if (r >= 0)
                r = volume_index_get(cluster, c->pool, volume_id, &e);
        compute_cluster_failed(cp, r);
        if (r < 0 && r != -ENOENT) {
                compute_set_action(a, OUTCOME_FAILED, ceph_error_is_transient(r) || r == -ENOTCONN,
                                   "cannot read the volume index %s/%s: %s", c->pool,
                                   CEPH_INDEX_OBJECT, strerror(-r));
                return;
        }
        provision_from(cp, volume_id, r == -ENOENT ? NULL : &e, false, a);
}

/* ---- removal ----------------------------------------------------------- */

/* What this agent removed itself lately: its own undefine comes back as a
 * notice (not to be undone), and a deleted volume stays in the index until
 * the volume agent handles delete.end (not to be resurrected). */
static void note_recent(struct compute *cp, const char *volume_id, bool deleted)
{
        struct compute_recent *r = &cp->recent[cp->recent_next];

        snprintf(r->volume_id, sizeof(r->volume_id), "%s", volume_id);
        r->until_ms = intake_now_ms() + COMPUTE_RECENT_MS;
        r->own_undefine = true;
        r->deleted = deleted;
        cp->recent_next = (cp->recent_next + 1) % COMPUTE_RECENT_MAX;
}

static struct compute_recent *recent_find(struct compute *cp, const char *volume_id)
{
        uint64_t now = intake_now_ms();

        for (size_t i = 0; i < COMPUTE_RECENT_MAX; i++)
                if (cp->recent[i].until_ms > now &&
                    strcmp(cp->recent[i].volume_id, volume_id) == 0)
                        return &cp->recent[i];
        return NULL;
}

/* True once for the notice of our own undefine of this volume's secret. */
static bool own_undefine(struct compute *cp, const char *volume_id)
{
        struct compute_recent *r = recent_find(cp, volume_id);

        if (!r || !r->own_undefine)
                return false;
        r->own_undefine = false;
        return true;
}

static bool deleted_lately(struct compute *cp, const char *volume_id)
{
        struct compute_recent *r = recent_find(cp, volume_id);

        return r && r->deleted;
}

void compute_remove(struct compute *cp, const char *volume_id, bool running_only, bool dry_run,
                    bool deleted, struct compute_action *a)
{
        struct virt_info info;
        const char *why = NULL;
        unsigned users = 0;
        int r;

        if (!ready(cp, volume_id, a))
                return;
        compute_pending_drop(cp, volume_id);
        r = virt_find(cp->libvirt, VIRT_USAGE_VOLUME, volume_id, &info, &why);
        if (r == -ENOENT) {
                compute_set_action(a, OUTCOME_SKIPPED, false, "no secret for this volume here");
                return;
        }
        if (r >= 0 && !info.owned) {
                compute_set_action(a, OUTCOME_SKIPPED, false,
                                   "secret %s for this volume was not made by this agent; left "
                                   "alone", info.uuid);
                return;
        }
        if (r >= 0)
                r = virt_domains_using(cp->libvirt, info.uuid, running_only, &users, &why);
        if (r >= 0 && users) {
                compute_set_action(a, OUTCOME_KEPT, false, "secret %s is used by %u %s domain(s)",
                                   info.uuid, users, running_only ? "running" : "defined");
                return;
        }
        if (r >= 0 && !dry_run) {
                note_recent(cp, volume_id, deleted);
                r = virt_remove(cp->libvirt, VIRT_USAGE_VOLUME, volume_id, &why);
        }
        if (r < 0)
                compute_set_action(a, OUTCOME_FAILED, r == -ENOTCONN || r == -ECONNREFUSED,
                                   "cannot remove the volume secret: %s", why ? why : strerror(-r));
        else
                compute_set_action(a, OUTCOME_REMOVED, false, "secret %s %s", info.uuid,
                                   dry_run ? "would be removed" : "removed");
}

/* ---- volumes waiting for their value ----------------------------------- */

static struct compute_pending *pending_find(struct compute *cp, const char *volume_id)
{
        for (size_t i = 0; i < cp->n_pending; i++)
                if (strcmp(cp->pending[i].volume_id, volume_id) == 0)
                        return &cp->pending[i];
        return NULL;
}

void compute_pending_add(struct compute *cp, const char *volume_id)
{
        uint64_t now = intake_now_ms();
        struct compute_pending *p = pending_find(cp, volume_id);

        if (p)
                return;
        if (cp->n_pending == COMPUTE_PENDING_MAX) {
                /* The periodic reconcile still finds it. */
                log_warn("volume %s: more than %d volumes wait for their value; this one waits "
                         "for the next reconcile", volume_id, COMPUTE_PENDING_MAX);
                return;
        }
        if (array_grow((void **)&cp->pending, &cp->pending_capacity, cp->n_pending,
                 sizeof(*cp->pending)) < 0) {
                log_warn("volume %s: out of memory; it waits for the next reconcile", volume_id);
                return;
        }
        p = &cp->pending[cp->n_pending++];
        *p = (struct compute_pending){.first_ms = now,
                                      .next_ms = now + cp->config->retry_initial_ms,
                                      .delay_ms = cp->config->retry_initial_ms};
        snprintf(p->volume_id, sizeof(p->volume_id), "%s", volume_id);
}

void compute_pending_drop(struct compute *cp, const char *volume_id)
{
        struct compute_pending *p = pending_find(cp, volume_id);

        if (p)
                *p = cp->pending[--cp->n_pending];
}

void compute_pending_run(struct compute *cp)
{
        const struct config *c = cp->config;
        uint64_t now = intake_now_ms();
        char (*due)[EVENT_ID_MAX];
        size_t n_due = 0;

        if (cp->n_pending == 0)
                return;
        /* The due ones first: an attempt may add to or drop from the list. */
        due = calloc(cp->n_pending, EVENT_ID_MAX);
        if (!due)
                return;
        for (size_t i = 0; i < cp->n_pending; i++)
                if (cp->pending[i].next_ms <= now)
                        memcpy(due[n_due++], cp->pending[i].volume_id, EVENT_ID_MAX);
        for (size_t i = 0; i < n_due && !intake_stop_requested; i++) {
                struct compute_pending *p;
                struct compute_action a;
                bool waiting;

                compute_provision(cp, due[i], &a);
                waiting = a.transient && (a.outcome == OUTCOME_PLACEHOLDER ||
                                          a.outcome == OUTCOME_FAILED);
                p = pending_find(cp, due[i]);
                if (p && waiting && now - p->first_ms < (uint64_t)c->retry_give_up_s * 1000u) {
                        p->delay_ms = p->delay_ms * 2 > c->retry_max_ms ? c->retry_max_ms
                                                                         : p->delay_ms * 2;
                        p->next_ms = now + p->delay_ms;
                        continue;
                }
                if (p && waiting)
                        compute_set_action(&a, a.outcome, false,
                                           "gave up waiting after %u s; the periodic reconcile "
                                           "goes on: %.400s", c->retry_give_up_s, a.reason);
                compute_pending_drop(cp, due[i]);
                (void)compute_record(cp, "rbd-luks-agent.value", NULL, due[i], &a,
                                     intake_now_ms() - now);
        }
        free(due);
}

/* ---- libvirt's notices ------------------------------------------------- */

/* A volume secret someone else undefined: put back when the volume is
 * live (waiting for its value, or in the index and not Nova's own). */
static void restore(struct compute *cp, const char *volume_id)
{
        const struct config *c = cp->config;
        uint64_t start = intake_now_ms();
        struct volume_index_entry e;
        struct ceph_cluster *cluster;
        struct compute_action a;
        int r = 0;

        if (own_undefine(cp, volume_id) || deleted_lately(cp, volume_id) ||
            compute_is_static_volume(cp, volume_id))
                return;
        if (!pending_find(cp, volume_id)) {
                r = compute_cluster(cp, &cluster);
                if (r >= 0)
                        r = volume_index_get(cluster, c->pool, volume_id, &e);
                compute_cluster_failed(cp, r);
                if (r == -ENOENT || (r >= 0 && e.state == VOLUME_INDEX_FOREIGN))
                        return; /* not a volume we keep */
                if (r >= 0 && !compute_in_scope(cp, e.type, e.host, e.zone, a.reason,
                                                sizeof(a.reason)))
                        return;
        }
        if (r < 0) {
                /* Cannot tell: put the placeholder back, the reconcile sorts it out. */
                compute_placeholder(cp, volume_id, &a);
                cp->reconcile_due = true;
        } else if (ready(cp, volume_id, &a)) {
                /* A waiting volume has no entry yet: its placeholder. */
                provision_from(cp, volume_id, pending_find(cp, volume_id) ? NULL : &e, true, &a);
        }
        if (a.outcome == OUTCOME_PROVISIONED || a.outcome == OUTCOME_PLACEHOLDER)
                compute_set_action(&a, OUTCOME_RESTORED, false,
                                   "the volume secret was undefined by someone else (Nova's "
                                   "detach, rollback, shelve or migration); put back: %.400s",
                                   a.reason);
        (void)compute_record(cp, "libvirt.secret.undefined", NULL, volume_id, &a,
                             intake_now_ms() - start);
}

void compute_notices(struct compute *cp)
{
        struct virt_notice n;
        bool overflowed = false;
        char id[EVENT_ID_MAX];

        while (virt_next_notice(&n, &overflowed)) {
                switch (n.kind) {
                case VIRT_NOTICE_SECRET_UNDEFINED:
                        if (n.usage == VIRT_USAGE_VOLUME && uuid_is_valid(n.name)) {
                                uuid_lower(n.name, id);
                                restore(cp, id);
                        } else if (n.usage == VIRT_USAGE_CEPH) {
                                cp->reconcile_due = true; /* static secrets go back too */
                        }
                        break;
                case VIRT_NOTICE_DOMAIN_CHANGED:
                        if (cp->libvirt)
                                compute_scan_domains(cp, n.name);
                        break;
                case VIRT_NOTICE_CONNECTION_CLOSED:
                        cp->next_ping_ms = 0; /* reconnect at the next check */
                        break;
                }
        }
        if (overflowed) {
                log_warn("more libvirt events than could be queued; reconciling everything");
                cp->reconcile_due = true;
        }
}

/* ---- raw disks --------------------------------------------------------- */

/* The live volume ids of the last index walk, sorted (NULL: ask the index). */
struct live_set {
        char (*ids)[EVENT_ID_MAX];
        size_t n;
};

struct scan {
        struct compute *cp;
        const struct live_set *live;
        bool full; /* every running domain: the plain-disk memory is used */
        unsigned found;
};

static bool is_managed(struct scan *s, const char *volume_id)
{
        const struct config *c = s->cp->config;
        struct volume_index_entry e;
        struct ceph_cluster *cluster;
        int r;

        if (pending_find(s->cp, volume_id))
                return true;
        if (s->live)
                return bsearch(volume_id, s->live->ids, s->live->n, EVENT_ID_MAX, compare_ids);
        r = compute_cluster(s->cp, &cluster);
        if (r >= 0)
                r = volume_index_get(cluster, c->pool, volume_id, &e);
        compute_cluster_failed(s->cp, r);
        return r >= 0 && e.state != VOLUME_INDEX_FOREIGN;
}

static struct compute_exposure *exposure_find(struct compute *cp, const char *domain,
                                              const char *volume_id)
{
        for (size_t i = 0; i < cp->n_exposed; i++)
                if (strcmp(cp->exposed[i].domain, domain) == 0 &&
                    strcmp(cp->exposed[i].volume_id, volume_id) == 0)
                        return &cp->exposed[i];
        return NULL;
}

/* what: how the guest sees ciphertext, for the result line. */
static void report_exposure(struct compute *cp, const struct virt_disk *d, const char *volume_id,
                            const char *what)
{
        struct compute_exposure *x = exposure_find(cp, d->domain, volume_id);
        const char *why = NULL;
        struct compute_action a;
        char action[300];
        int r;

        if (x) {
                x->seen = true;
                return;
        }
        if (cp->n_exposed < COMPUTE_EXPOSED_MAX) {
                x = &cp->exposed[cp->n_exposed++];
                snprintf(x->domain, sizeof(x->domain), "%s", d->domain);
                snprintf(x->volume_id, sizeof(x->volume_id), "%s", volume_id);
                x->seen = true;
        }
        if (cp->config->raw_disk_alert_only) {
                snprintf(action, sizeof(action), "on_raw_disk = alert: left running");
        } else {
                r = virt_pause_domain(cp->libvirt, d->domain, &why);
                snprintf(action, sizeof(action), r < 0 ? "could not pause it: %s"
                                                       : "domain paused (on_raw_disk = pause)%s",
                         r < 0 ? why : "");
        }
        compute_set_action(&a, OUTCOME_EXPOSED, false,
                           "domain %s has volume %s as disk %s without <encryption>: %s; %s",
                           d->domain, volume_id, d->target[0] ? d->target : "?", what, action);
        (void)compute_record(cp, "libvirt.domain.disk", NULL, volume_id, &a, 0);
}

static struct compute_plain *plain_find(struct compute *cp, const char *volume_id)
{
        for (size_t i = 0; i < cp->n_plain; i++)
                if (strcmp(cp->plain[i].volume_id, volume_id) == 0)
                        return &cp->plain[i];
        return NULL;
}

static int first_volume(void *opaque, const char *key, const struct header_map_entry *e)
{
        (void)key;
        if (!e)
                return 0;
        snprintf(opaque, EVENT_ID_MAX, "%s", e->volume_id);
        return 1;
}

/* True when the image of a volume the agent does not manage starts with a
 * header the agent made (the header map knows its UUID): a restore, an
 * image or a clone of an agent volume in a type the agent does not manage,
 * which Nova plugs raw. ret_source: the volume the header was made for. A
 * LUKS header the map does not know is the guest's own (LUKS inside the
 * guest) or Cinder's, plugged as Nova decided. What cannot be read is
 * passed over until the next scan. */
static bool holds_agent_header(struct scan *s, const char *image, const char *volume_id,
                               char ret_source[EVENT_ID_MAX])
{
        struct compute *cp = s->cp;
        struct compute_plain *known = plain_find(cp, volume_id);
        unsigned char head[4096];
        struct ceph_cluster *cluster;
        struct ceph_image *img;
        char uuid[40];
        int r;

        if (known && s->full) {
                known->seen = true;
                return false;
        }
        r = compute_cluster(cp, &cluster);
        if (r < 0)
                goto out;
        r = ceph_image_open(cluster, cp->config->pool, image, &img);
        if (r < 0)
                goto out;
        r = ceph_image_read(img, 0, sizeof(head), head);
        ceph_image_close(img);
        if (r >= 0 && luks_has_magic(head, sizeof(head), NULL) &&
            luks_header_uuid(head, sizeof(head), uuid) == 0)
                r = header_map_each(cluster, cp->config->pool, uuid, first_volume, ret_source);
out:
        if (r < 0) {
                compute_cluster_failed(cp, r);
                return false;
        }
        if (r == 1)
                return true;
        if (!known && cp->n_plain < COMPUTE_PLAIN_MAX) {
                known = &cp->plain[cp->n_plain++];
                snprintf(known->volume_id, sizeof(known->volume_id), "%s", volume_id);
        }
        if (known)
                known->seen = true;
        return false;
}

static int scan_disk(void *opaque, const struct virt_disk *d)
{
        struct scan *s = opaque;
        const struct config *c = s->cp->config;
        size_t pool_len = strlen(c->pool), prefix_len = strlen(c->image_prefix);
        char volume_id[EVENT_ID_MAX], source[EVENT_ID_MAX];
        const char *image;

        if (strncmp(d->image, c->pool, pool_len) != 0 || d->image[pool_len] != '/')
                return 0;
        image = d->image + pool_len + 1;
        if (strncmp(image, c->image_prefix, prefix_len) != 0 || !uuid_is_valid(image + prefix_len))
                return 0;
        uuid_lower(image + prefix_len, volume_id);
        if (d->encrypted)
                return 0;
        if (is_managed(s, volume_id)) {
                s->found++;
                report_exposure(s->cp, d, volume_id, "its guest sees the raw LUKS image");
        } else if (holds_agent_header(s, image, volume_id, source)) {
                char what[256];

                snprintf(what, sizeof(what), "not a volume rbd-luks-agent manages, but its image "
                         "starts with the header rbd-luks-agent made for volume %s: its guest "
                         "sees that ciphertext raw", source);
                s->found++;
                report_exposure(s->cp, d, volume_id, what);
        }
        return 0;
}

static void scan_domains(struct compute *cp, const char *domain, const struct live_set *live)
{
        struct scan s = {.cp = cp, .live = live, .full = !domain};
        const char *why = NULL;
        size_t kept = 0;
        int r;

        if (!domain) {
                for (size_t i = 0; i < cp->n_exposed; i++)
                        cp->exposed[i].seen = false;
                for (size_t i = 0; i < cp->n_plain; i++)
                        cp->plain[i].seen = false;
        }
        r = virt_rbd_disks(cp->libvirt, domain, scan_disk, &s, &why);
        if (r < 0 && r != -ENOENT && r != -EOPNOTSUPP) {
                log_warn("cannot check the disks of %s: %s", domain ? domain : "running domains",
                         why ? why : strerror(-r));
                return;
        }
        if (domain || r < 0)
                return;
        /* A full scan: disks no longer plugged are forgotten. */
        for (size_t i = 0, n = cp->n_plain; i < n; i++)
                if (cp->plain[i].seen)
                        cp->plain[kept++] = cp->plain[i];
        cp->n_plain = kept;
        kept = 0;
        /* A full scan: exposures no longer there are over. */
        for (size_t i = 0; i < cp->n_exposed; i++)
                if (cp->exposed[i].seen)
                        cp->exposed[kept++] = cp->exposed[i];
                else
                        log_info("domain %s no longer has volume %s without <encryption>",
                                 cp->exposed[i].domain, cp->exposed[i].volume_id);
        cp->n_exposed = kept;
}

void compute_scan_domains(struct compute *cp, const char *domain)
{
        scan_domains(cp, domain, NULL);
}

/* ---- the reconcile ----------------------------------------------------- */

/* What the reconcile keeps of an in-scope index entry: 10,000 of them
 * cost 0.7 MB, not the 7 MB of whole entries. */
struct live_entry {
        char volume_id[EVENT_ID_MAX];
        enum volume_index_state state;
        /* Formatted again since cp->refresh_since (a re-bind after a
         * restore): its value is set again even where one is in place. */
        bool refresh;
};

struct walk {
        struct compute *cp;
        struct live_entry *entries; /* in scope, in key order */
        size_t n, capacity;
        char (*out_of_scope)[EVENT_ID_MAX];
        size_t n_out, capacity_out;
        size_t undecodable;
};

static int walk_entry(void *opaque, const char *volume_id, const struct volume_index_entry *e)
{
        struct walk *w = opaque;
        char why[COMPUTE_REASON_LEN];

        if (!e) {
                if (w->undecodable++ == 0)
                        log_warn("volume index entry %s does not parse; it is left out", volume_id);
                return 0;
        }
        if (!compute_in_scope(w->cp, e->type, e->host, e->zone, why, sizeof(why))) {
                if (array_grow((void **)&w->out_of_scope, &w->capacity_out, w->n_out,
                         sizeof(*w->out_of_scope)) < 0)
                        return -ENOMEM;
                snprintf(w->out_of_scope[w->n_out++], EVENT_ID_MAX, "%s", volume_id);
                return 0;
        }
        if (array_grow((void **)&w->entries, &w->capacity, w->n, sizeof(*w->entries)) < 0)
                return -ENOMEM;
        memcpy(w->entries[w->n].volume_id, e->volume_id, EVENT_ID_MAX);
        w->entries[w->n].refresh = w->cp->refresh_since && e->time >= w->cp->refresh_since;
        w->entries[w->n++].state = e->state;
        return 0;
}

static int compare_secret_usage(const void *a, const void *b)
{
        const struct virt_info *x = a, *y = b;

        if (x->usage != y->usage)
                return x->usage < y->usage ? -1 : 1;
        return strcmp(x->usage_id, y->usage_id);
}

static const struct virt_info *find_secret(const struct virt_info *all, size_t n,
                                              const char *volume_id)
{
        struct virt_info key = {.usage = VIRT_USAGE_VOLUME};

        snprintf(key.usage_id, sizeof(key.usage_id), "%s", volume_id);
        return bsearch(&key, all, n, sizeof(*all), compare_secret_usage);
}

/* Entries are in key order, as the omap gives them; the id comes first. */
static bool in_entries(const struct walk *w, const char *volume_id)
{
        return w->n && bsearch(volume_id, w->entries, w->n, sizeof(*w->entries), compare_ids);
}

/* Both lists are in key order, as the omap gives them. */
static bool in_out_of_scope(const struct walk *w, const char *volume_id)
{
        return w->n_out &&
               bsearch(volume_id, w->out_of_scope, w->n_out, EVENT_ID_MAX, compare_ids) != NULL;
}

struct tally {
        unsigned changed, failed, foreign, removed, kept;
};

static void note(struct compute *cp, struct tally *t, const char *volume_id,
                 const struct compute_action *a, bool print)
{
        if (a->outcome == OUTCOME_FAILED)
                t->failed++;
        else
                t->changed++;
        (void)compute_record(cp, "rbd-luks-agent.reconcile", NULL, volume_id, a, 0);
        if (print) {
                printf("volume %s: %s: %s\n", volume_id, outcome_to_string(a->outcome), a->reason);
                fflush(stdout);
        }
}

/* Secrets the reconcile defines or gives their value: in parallel, on
 * connections of their own, when there are many (a wiped libvirtd's
 * store: its fsync per secret is the floor, and libvirtd serves clients
 * on several threads). */
struct batch_item {
        char volume_id[EVENT_ID_MAX];
        bool value;  /* the real value; else a placeholder */
        bool absent; /* libvirt listed no secret for it */
        struct compute_action a;
};

/* At most COMPUTE_BATCH_MAX items wait at once: 10,000 volumes to define
 * are done a chunk at a time, so the reconcile's memory does not grow with
 * the number of secrets it writes. */
struct batch {
        struct compute *cp;
        struct tally *t;
        bool print;
        struct batch_item *items;
        size_t n, capacity;
        size_t next; /* atomic: the next item a worker takes */
};

static void batch_flush(struct batch *b);

static int batch_add(struct batch *b, const char *volume_id, bool value, bool absent)
{
        if (array_grow((void **)&b->items, &b->capacity, b->n, sizeof(*b->items)) < 0)
                return -ENOMEM;
        b->items[b->n] = (struct batch_item){.value = value, .absent = absent};
        snprintf(b->items[b->n].volume_id, EVENT_ID_MAX, "%s", volume_id);
        if (++b->n >= COMPUTE_BATCH_MAX)
                batch_flush(b);
        return 0;
}

static void batch_one(struct batch *b, struct secrets *conn, bool threaded, struct batch_item *it)
{
        if (it->value)
                value_on(b->cp, conn, threaded, it->volume_id, it->absent, &it->a);
        else
                placeholder_on(b->cp, conn, it->volume_id, true, &it->a);
}

static void *batch_worker(void *arg)
{
        struct batch *b = arg;
        struct secrets *conn = NULL;
        struct virt_login login = compute_libvirt_login(b->cp->config);
        const char *why = NULL;
        size_t i;

        if (virt_connect(b->cp->config->libvirt_uri, &login, &conn, &why) < 0)
                return NULL; /* the main thread does the rest */
        while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->n) {
                if (intake_stop_requested) {
                        compute_set_action(&b->items[i].a, OUTCOME_FAILED, true, "stopped");
                        continue;
                }
                batch_one(b, conn, true, &b->items[i]);
        }
        virt_disconnect(conn);
        return NULL;
}

static void batch_run(struct batch *b)
{
        pthread_t threads[COMPUTE_RECONCILE_THREADS];
        unsigned started = 0;
        struct ceph_cluster *cluster;
        size_t i;

        for (i = 0; i < b->n; i++)
                compute_set_action(&b->items[i].a, OUTCOME_FAILED, true, "not tried");
        /* The workers share the one Ceph client: connected here, first. */
        if (b->n >= COMPUTE_RECONCILE_PARALLEL_MIN && compute_cluster(b->cp, &cluster) >= 0)
                for (; started < COMPUTE_RECONCILE_THREADS; started++)
                        if (pthread_create(&threads[started], NULL, batch_worker, b) != 0)
                                break;
        for (unsigned k = 0; k < started; k++)
                pthread_join(threads[k], NULL);
        /* Whatever no worker took (few items, no thread, no connection). */
        while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->n)
                if (b->cp->libvirt)
                        batch_one(b, b->cp->libvirt, false, &b->items[i]);
}

/* Runs what waits, records each outcome, and empties the batch. */
static void batch_flush(struct batch *b)
{
        batch_run(b);
        for (size_t i = 0; i < b->n; i++) {
                if (b->items[i].a.outcome == OUTCOME_PLACEHOLDER && b->items[i].a.transient)
                        compute_pending_add(b->cp, b->items[i].volume_id);
                note(b->cp, b->t, b->items[i].volume_id, &b->items[i].a, b->print);
        }
        b->n = 0;
        b->next = 0;
}

/* One in-scope index entry against what libvirt holds. */
static void reconcile_entry(struct compute *cp, const struct live_entry *e,
                            const struct virt_info *s, struct tally *t, bool dry_run, bool print,
                            struct batch *b)
{
        struct compute_action a;

        if (compute_is_static_volume(cp, e->volume_id) || deleted_lately(cp, e->volume_id))
                return;
        if (s && !s->owned) {
                if (e->state != VOLUME_INDEX_FOREIGN && t->foreign++ < 16)
                        log_warn("volume %s: libvirt secret %s is not rbd-luks-agent's; left alone "
                                 "(Nova would use its value)", e->volume_id, s->uuid);
                return;
        }
        if (e->state == VOLUME_INDEX_FOREIGN) {
                if (!s)
                        return;
                compute_remove(cp, e->volume_id, true, dry_run, false, &a);
        } else if (e->state == VOLUME_INDEX_FORMATTED) {
                if (s && !s->placeholder && !e->refresh)
                        return;
                if (dry_run)
                        compute_set_action(&a, OUTCOME_PROVISIONED, false, "would set the value");
                else if (batch_add(b, e->volume_id, true, !s) == 0)
                        return;
                else
                        set_real_value(cp, e->volume_id, !s, &a);
        } else {
                if (s)
                        return;
                if (dry_run)
                        compute_set_action(&a, OUTCOME_PLACEHOLDER, false,
                                           "would define a placeholder");
                else if (batch_add(b, e->volume_id, false, true) == 0)
                        return;
                else
                        placeholder_on(cp, cp->libvirt, e->volume_id, true, &a);
        }
        note(cp, t, e->volume_id, &a, print);
}

/* One of our volume secrets whose volume is not in the index: gone (its
 * image too, and older than gc_grace_s: removed), out of scope (removed),
 * or not recorded yet (kept, and its value awaited). */
static void reconcile_unlisted(struct compute *cp, const struct walk *w,
                               const struct virt_info *s, struct tally *t, bool remove_dead,
                               bool dry_run, bool print)
{
        const struct config *c = cp->config;
        int64_t age = (int64_t)time(NULL) - s->created;
        struct ceph_cluster *cluster;
        struct ceph_image *img = NULL;
        struct compute_action a;
        char name[160];
        int r;

        if (compute_is_static_volume(cp, s->usage_id) || pending_find(cp, s->usage_id))
                return;
        if (!in_out_of_scope(w, s->usage_id)) {
                snprintf(name, sizeof(name), "%s%s", c->image_prefix, s->usage_id);
                r = compute_cluster(cp, &cluster);
                if (r >= 0)
                        r = ceph_image_open(cluster, c->pool, name, &img);
                ceph_image_close(img);
                compute_cluster_failed(cp, r);
                if (r >= 0 || (r != -ENOENT) || age < (int64_t)c->gc_grace_s) {
                        /* Being made, being formatted, or Ceph cannot say: keep. */
                        if (r >= 0 && s->placeholder && !dry_run)
                                compute_pending_add(cp, s->usage_id);
                        t->kept++;
                        return;
                }
        }
        if (!remove_dead)
                return;
        compute_remove(cp, s->usage_id, false, dry_run, false, &a);
        if (a.outcome == OUTCOME_REMOVED) {
                t->removed++;
                (void)compute_record(cp, "rbd-luks-agent.reconcile", NULL, s->usage_id, &a, 0);
                if (print) {
                        printf("volume %s: %s\n", s->usage_id, a.reason);
                        fflush(stdout);
                }
        } else if (a.outcome == OUTCOME_FAILED) {
                t->failed++;
                log_error("volume %s: %s", s->usage_id, a.reason);
        }
}

int compute_reconcile(struct compute *cp, bool fix_live, bool remove_dead, bool dry_run,
                      bool print)
{
        const struct config *c = cp->config;
        uint64_t start = intake_now_ms();
        struct walk w = {.cp = cp};
        struct virt_info *all = NULL;
        struct live_set live = {0};
        struct ceph_cluster *cluster;
        struct tally t = {0};
        struct batch b = {.cp = cp, .t = &t, .print = print};
        const char *why = NULL;
        size_t n_all = 0, reads = 0;
        int r;

        if (compute_ensure_libvirt(cp) < 0) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "libvirt at %s is not reachable", c->libvirt_uri);
                return -ENOTCONN;
        }
        r = compute_cluster(cp, &cluster);
        if (r >= 0)
                r = volume_index_each(cluster, c->pool, walk_entry, &w, &reads);
        compute_cluster_failed(cp, r);
        if (r < 0) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "cannot read the volume index %s/%s: %s", c->pool, CEPH_INDEX_OBJECT,
                         strerror(-r));
                goto out;
        }
        r = virt_list(cp->libvirt, &all, &n_all, &why);
        if (r < 0) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "cannot list libvirt secrets: %s", why);
                goto out;
        }
        qsort(all, n_all, sizeof(*all), compare_secret_usage);
        for (size_t i = 0; i < w.n && fix_live && cp->libvirt && !intake_stop_requested; i++)
                reconcile_entry(cp, &w.entries[i], find_secret(all, n_all, w.entries[i].volume_id),
                                &t, dry_run, print, &b);
        batch_flush(&b);
        for (size_t i = 0; i < n_all && cp->libvirt && !intake_stop_requested; i++)
                if (all[i].usage == VIRT_USAGE_VOLUME && all[i].owned &&
                    !in_entries(&w, all[i].usage_id))
                        reconcile_unlisted(cp, &w, &all[i], &t, remove_dead, dry_run, print);
        /* A libvirtd that died meanwhile: this reconcile did not finish. */
        if (!cp->libvirt) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "libvirt at %s went away during the reconcile", c->libvirt_uri);
                r = -ENOTCONN;
                goto out;
        }
        /* The raw-disk check against the same picture of what is live. */
        live.ids = fix_live ? calloc(w.n ? w.n : 1, EVENT_ID_MAX) : NULL;
        if (live.ids) {
                for (size_t i = 0; i < w.n; i++)
                        if (w.entries[i].state != VOLUME_INDEX_FOREIGN)
                                memcpy(live.ids[live.n++], w.entries[i].volume_id, EVENT_ID_MAX);
                scan_domains(cp, NULL, &live);
        }
        log_info("reconcile: %zu volumes in scope in %s/%s (%zu RADOS reads), %zu libvirt "
                 "secrets; %u changed, %u removed, %u kept unlisted, %u failed, in %" PRIu64 " ms",
                 w.n, c->pool, CEPH_INDEX_OBJECT, reads, n_all, t.changed, t.removed, t.kept,
                 t.failed, intake_now_ms() - start);
        cp->reconcile_problem[0] = '\0';
        r = t.failed ? -EIO : 0;
        if (t.failed)
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "the last reconcile could not fix %u volume(s); see results.jsonl",
                         t.failed);
out:
        free(live.ids);
        free(b.items);
        free(all);
        free(w.entries);
        free(w.out_of_scope);
        /* A reconcile of many volumes leaves its peak in the heap: give it
         * back, the daemon idles long between two. */
        malloc_trim(0);
        return r;
}

/* ---- secrets list ------------------------------------------------------ */

static const char *state_here(const struct virt_info *s)
{
        if (s->usage != VIRT_USAGE_VOLUME)
                return "-";
        if (!s->owned)
                return "foreign";
        return s->placeholder ? "placeholder" : "value set";
}

int compute_list_volumes(struct compute *cp)
{
        const struct config *c = cp->config;
        struct virt_info *all = NULL;
        struct ceph_cluster *cluster;
        struct walk w = {.cp = cp};
        const char *why = NULL;
        size_t n = 0;
        int r, code = 0;

        if (compute_ensure_libvirt(cp) < 0)
                return 1;
        if (virt_list(cp->libvirt, &all, &n, &why) < 0) {
                log_error("cannot list libvirt secrets: %s", why);
                return 1;
        }
        qsort(all, n, sizeof(*all), compare_secret_usage);
        printf("%-36s  %-6s  %-36s  %-5s  %-7s  %-20s  %s\n", "UUID", "USAGE", "USAGE ID", "OWNER",
               "PRIVATE", "CREATED", "STATE");
        for (size_t i = 0; i < n; i++) {
                char created[32] = "-";
                time_t t = (time_t)all[i].created;
                struct tm tm;

                if (all[i].owned && gmtime_r(&t, &tm))
                        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
                printf("%-36s  %-6s  %-36s  %-5s  %-7s  %-20s  %s\n", all[i].uuid,
                       all[i].usage == VIRT_USAGE_CEPH     ? "ceph"
                       : all[i].usage == VIRT_USAGE_VOLUME ? "volume"
                                                              : "other",
                       all[i].usage_id, all[i].owned ? "agent" : "-",
                       all[i].private_value ? "yes" : "no", created, state_here(&all[i]));
        }
        /* Live volumes in scope with no secret here: the ones at risk. */
        r = compute_cluster(cp, &cluster);
        if (r >= 0)
                r = volume_index_each(cluster, c->pool, walk_entry, &w, NULL);
        compute_cluster_failed(cp, r);
        if (r < 0) {
                log_error("cannot read the volume index %s/%s: %s; volumes without a secret here "
                          "are not shown", c->pool, CEPH_INDEX_OBJECT, strerror(-r));
                code = 1;
        }
        for (size_t i = 0; i < w.n; i++)
                if (w.entries[i].state != VOLUME_INDEX_FOREIGN &&
                    !find_secret(all, n, w.entries[i].volume_id))
                        printf("%-36s  %-6s  %-36s  %-5s  %-7s  %-20s  %s\n", "-", "volume",
                               w.entries[i].volume_id, "-", "-", "-", "missing");
        free(w.entries);
        free(w.out_of_scope);
        free(all);
        return code;
}
