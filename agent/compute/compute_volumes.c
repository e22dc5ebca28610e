/* compute_volumes: volume secrets kept in step with the pool's volume
 * index (compute_internal.h).
 *
 * Nova adds <encryption> to a disk only when it finds a `volume` secret
 * at the moment it builds the disk, and deletes that secret itself on
 * detach, rollback, shelve and migration (docs/decisions.md cites where).
 * So the secret must be there all the time, holding a value that opens
 * nothing until the real passphrase is known: then an early attach fails
 * in qemu instead of showing the guest ciphertext.
 *
 * This file: scope, placeholders, real values, removal and libvirt's
 * notices. The volumes waiting for their value are compute_waiting.c's,
 * the raw-disk check compute_raw_disks.c's, the reconcile and `secrets
 * list` compute_reconcile.c's. */
#include "base/clock.h"
#include "compute_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "keys/keys.h"
#include "base/log.h"
#include "base/uuid.h"
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
int compute_compare_ids(const void *a, const void *b)
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
 * (a new volume, one just undefined): virt_ensure() defines it at once. */
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
void compute_placeholder_on(struct compute *cp, struct secrets *conn, const char *volume_id,
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
                compute_placeholder_on(cp, cp->libvirt, volume_id, absent, a);
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

        if (keys_stored_in_image(cp->keys)) {
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
                compute_set_action(a, OUTCOME_FAILED, r == -ENOENT || keys_error_is_transient(r),
                                   "no usable key (%s provider): %s", keys_provider_name(cp->keys),
                                   why ? why : strerror(-r));
        return r;
}

void compute_value_on(struct compute *cp, struct secrets *conn, bool threaded,
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

void compute_set_real_value(struct compute *cp, const char *volume_id, bool absent,
                            struct compute_action *a)
{
        compute_value_on(cp, cp->libvirt, false, volume_id, absent, a);
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
                compute_set_real_value(cp, volume_id, absent, a);
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
        r->until_ms = clock_now_ms() + COMPUTE_RECENT_MS;
        r->own_undefine = true;
        r->deleted = deleted;
        cp->recent_next = (cp->recent_next + 1) % COMPUTE_RECENT_MAX;
}

static struct compute_recent *recent_find(struct compute *cp, const char *volume_id)
{
        uint64_t now = clock_now_ms();

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

bool compute_deleted_lately(struct compute *cp, const char *volume_id)
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

/* ---- libvirt's notices ------------------------------------------------- */

/* A volume secret someone else undefined: put back when the volume is
 * live (waiting for its value, or in the index and not Nova's own). */
static void restore(struct compute *cp, const char *volume_id)
{
        const struct config *c = cp->config;
        uint64_t start = clock_now_ms();
        struct volume_index_entry e;
        struct ceph_cluster *cluster;
        struct compute_action a;
        int r = 0;

        if (own_undefine(cp, volume_id) || compute_deleted_lately(cp, volume_id) ||
            compute_is_static_volume(cp, volume_id))
                return;
        if (!compute_pending_find(cp, volume_id)) {
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
                provision_from(cp, volume_id, compute_pending_find(cp, volume_id) ? NULL : &e,
                               true, &a);
        }
        if (a.outcome == OUTCOME_PROVISIONED || a.outcome == OUTCOME_PLACEHOLDER)
                compute_set_action(&a, OUTCOME_RESTORED, false,
                                   "the volume secret was undefined by someone else (Nova's "
                                   "detach, rollback, shelve or migration); put back: %.400s",
                                   a.reason);
        (void)compute_record(cp, "libvirt.secret.undefined", NULL, volume_id, &a,
                             clock_now_ms() - start);
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
