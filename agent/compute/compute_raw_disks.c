/* compute_raw_disks: the RBD disks of running domains checked for
 * agent-managed volumes plugged without <encryption> (compute_internal.h):
 * the guest would see ciphertext, so each such disk is reported once while
 * it stays plugged. A volume the agent does not manage is read once for a
 * header the agent made (a clone or copy of one). */
#include "compute_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/uuid.h"
#include "ceph/ceph.h"
#include "luks/luks.h"
#include "records/header_map.h"
#include "records/volume_index.h"

struct scan {
        struct compute *cp;
        const struct compute_live_set *live;
        bool full; /* every running domain: the plain-disk memory is used */
        unsigned found;
};

static bool is_managed(struct scan *s, const char *volume_id)
{
        const struct config *c = s->cp->config;
        struct volume_index_entry e;
        struct ceph_cluster *cluster;
        int r;

        if (compute_pending_find(s->cp, volume_id))
                return true;
        if (s->live)
                return bsearch(volume_id, s->live->ids, s->live->n, EVENT_ID_MAX,
                               compute_compare_ids);
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

void compute_scan_live(struct compute *cp, const char *domain,
                       const struct compute_live_set *live)
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
        compute_scan_live(cp, domain, NULL);
}
