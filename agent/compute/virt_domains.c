/* virt_domains: running domains (virt.h): the RBD disks their live XML
 * names, and pausing one.
 *
 * Errors: 0 or a negative errno plus a reason "<what>: <libvirt's message>". */
#include "virt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>

#define SECRETS_DOMAIN_XML_MAX (4u * 1024u * 1024u) /* how far into a domain's XML we look */

/* --- the RBD disks of running domains -------------------------------- */

/* Value of attribute name='...' (or "...") in [tag, tag_end), into out. */
static bool attribute(const char *tag, const char *tag_end, const char *name, char *out,
                      size_t size)
{
        char pattern[64];
        size_t plen;

        for (int quote = 0; quote < 2; quote++) {
                const char *p, *v, *e;

                snprintf(pattern, sizeof(pattern), " %s=%c", name, quote ? '"' : '\'');
                plen = strlen(pattern);
                p = memmem(tag, (size_t)(tag_end - tag), pattern, plen);
                if (!p)
                        continue;
                v = p + plen;
                e = memchr(v, quote ? '"' : '\'', (size_t)(tag_end - v));
                if (!e || (size_t)(e - v) >= size)
                        return false;
                memcpy(out, v, (size_t)(e - v));
                out[e - v] = '\0';
                return true;
        }
        return false;
}

/* One <disk>...</disk> of libvirt's own domain XML: an RBD source, its
 * target and whether an <encryption> element (on the disk or its source)
 * goes with it. */
static bool parse_disk(const char *disk, const char *end, struct virt_disk *ret)
{
        const char *source = memmem(disk, (size_t)(end - disk), "<source ", strlen("<source "));
        const char *target = memmem(disk, (size_t)(end - disk), "<target ", strlen("<target "));
        const char *close;
        char protocol[16];

        if (!source)
                return false;
        close = memchr(source, '>', (size_t)(end - source));
        if (!close || !attribute(source, close, "protocol", protocol, sizeof(protocol)) ||
            strcmp(protocol, "rbd") != 0 ||
            !attribute(source, close, "name", ret->image, sizeof(ret->image)))
                return false;
        ret->target[0] = '\0';
        if (target) {
                close = memchr(target, '>', (size_t)(end - target));
                if (close)
                        (void)attribute(target, close, "dev", ret->target, sizeof(ret->target));
        }
        ret->encrypted = memmem(disk, (size_t)(end - disk), "<encryption",
                                strlen("<encryption")) != NULL;
        return true;
}

static int domain_disks(struct secrets *s, virDomainPtr domain, virt_disk_fn fn, void *opaque,
                        const char **ret_reason)
{
        const char *name = virDomainGetName(domain);
        char *xml = virDomainGetXMLDesc(domain, 0);
        const char *p, *end;
        int r = 0;

        if (!xml)
                return virt_fail(s, ret_reason, "reading the XML of domain %s", name ? name : "?");
        end = xml + strnlen(xml, SECRETS_DOMAIN_XML_MAX);
        for (p = xml; r == 0 && (p = memmem(p, (size_t)(end - p), "<disk ", 6)); ) {
                const char *disk_end = memmem(p, (size_t)(end - p), "</disk>", 7);
                struct virt_disk d = {0};

                if (!disk_end)
                        break;
                snprintf(d.domain, sizeof(d.domain), "%s", name ? name : "");
                if (parse_disk(p, disk_end, &d))
                        r = fn(opaque, &d);
                p = disk_end + 7;
        }
        free(xml);
        return r;
}

int virt_rbd_disks(struct secrets *s, const char *domain_name, virt_disk_fn fn, void *opaque,
                      const char **ret_reason)
{
        virDomainPtr *domains = NULL;
        int n, r = 0;

        if (domain_name) {
                virDomainPtr d = virDomainLookupByName(s->conn, domain_name);

                if (!d)
                        return virt_fail(s, ret_reason, "looking up domain %s", domain_name);
                r = virDomainIsActive(d) == 1 ? domain_disks(s, d, fn, opaque, ret_reason) : 0;
                virDomainFree(d);
                return r;
        }
        n = virConnectListAllDomains(s->conn, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0)
                return virt_fail(s, ret_reason, "listing running libvirt domains");
        for (int i = 0; i < n && r >= 0; i++) {
                r = domain_disks(s, domains[i], fn, opaque, ret_reason);
                if (r == -ENOENT) /* gone since it was listed */
                        r = 0;
        }
        for (int i = 0; i < n; i++)
                virDomainFree(domains[i]);
        free(domains);
        return r;
}

int virt_pause_domain(struct secrets *s, const char *domain_name, const char **ret_reason)
{
        virDomainPtr d = virDomainLookupByName(s->conn, domain_name);
        int r = 0;

        if (!d)
                return virt_fail(s, ret_reason, "looking up domain %s", domain_name);
        if (virDomainSuspend(d) < 0)
                r = virt_fail(s, ret_reason, "pausing domain %s", domain_name);
        virDomainFree(d);
        return r;
}
