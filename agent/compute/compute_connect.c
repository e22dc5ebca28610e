/* compute_connect: the compute role's connections: libvirt's (checked
 * alive, reconnected with backoff, the SASL login, its events watched)
 * and the static [secret:NAME] secrets it is made to hold again, and the
 * Ceph client, made lazily and dropped once blocklisted. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "compute_internal.h"
#include "base/clock.h"
#include "keys/keyring.h"
#include "base/backoff.h"
#include "base/log.h"
#include "ceph/ceph.h"
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
void compute_apply_static_secrets(struct compute *cp, const char *occasion)
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
                compute_apply_static_secrets(cp, "libvirt connected");
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
