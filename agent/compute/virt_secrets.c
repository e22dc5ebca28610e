/* virt_secrets: libvirt secrets as the agent reads them (virt.h): specs
 * and usage ids checked, what a secret is (its ownership and placeholder
 * marks), lookups, find, remove and list, and the domains whose XML names
 * a secret.
 *
 * The XML we read back (virSecretGetXMLDesc) is parsed by bounded string
 * search, which is enough because it is libvirt's own output, never a
 * user's: virSecretDefFormat writes one <secret ...> start tag carrying
 * private='yes|no' and escapes every text, so "<description>" can only be
 * the element itself. Usage type and id come from the API, not the XML.
 *
 * Errors: 0 or a negative errno plus a reason "<what>: <libvirt's message>". */
#include "virt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>

#include "base/reason.h"

#define SECRETS_XML_SEARCH_MAX 65536   /* how far into libvirt's XML we look */
#define SECRETS_CREATED_DIGITS_MAX 18  /* fits int64_t */

/* --- specs and names ------------------------------------------------- */

const char *virt_usage_noun(enum virt_usage usage)
{
        switch (usage) {
        case VIRT_USAGE_CEPH:
                return "ceph usage";
        case VIRT_USAGE_VOLUME:
                return "volume";
        default:
                return "usage";
        }
}

static int check_usage(enum virt_usage usage, const char *usage_id, const char **ret_reason)
{
        size_t n;

        if (usage != VIRT_USAGE_CEPH && usage != VIRT_USAGE_VOLUME)
                return reason_set(-EINVAL, ret_reason,
                                  "only ceph and volume secrets are managed by rbd-luks-agent");
        if (!usage_id || usage_id[0] == '\0')
                return reason_set(-EINVAL, ret_reason, "empty secret usage id");
        n = strnlen(usage_id, VIRT_USAGE_ID_MAX);
        if (n == VIRT_USAGE_ID_MAX)
                return reason_format(-EINVAL, ret_reason,
                                     "secret usage id longer than %d bytes", VIRT_USAGE_ID_MAX - 1);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)usage_id[i];

                /* XML 1.0 cannot carry these even escaped. */
                if (c < 0x20 || c == 0x7f)
                        return reason_format(-EINVAL, ret_reason,
                                             "secret usage id has a control character at byte %zu", i);
        }
        return 0;
}

int virt_check_spec(const struct virt_spec *spec, const struct secret *value,
                    const char **ret_reason)
{
        int r = check_usage(spec->usage, spec->usage_id, ret_reason);

        if (r < 0)
                return r;
        if (spec->uuid[0] && !uuid_is_valid(spec->uuid))
                return reason_format(-EINVAL, ret_reason, "secret UUID for %s '%s' is not a UUID",
                                     virt_usage_noun(spec->usage), spec->usage_id);
        if (!value || value->len == 0)
                return reason_format(-EINVAL, ret_reason, "empty secret value for %s '%s'",
                                     virt_usage_noun(spec->usage), spec->usage_id);
        return 0;
}

/* --- the XML libvirt gives back -------------------------------------- */

static bool definition_private(const char *xml, size_t len)
{
        const char *tag = memmem(xml, len, "<secret", strlen("<secret"));
        const char *end;
        size_t n;

        if (!tag)
                return false;
        end = memchr(tag, '>', len - (size_t)(tag - xml));
        if (!end)
                return false;
        n = (size_t)(end - tag);
        return memmem(tag, n, "private='yes'", strlen("private='yes'")) ||
               memmem(tag, n, "private=\"yes\"", strlen("private=\"yes\""));
}

/* created= from our mark, which must be the whole description (with the
 * placeholder word after it or not); 0 when the secret is not ours. */
static int64_t definition_created(const char *xml, size_t len, bool *ret_placeholder)
{
        static const char open[] = "<description>", close[] = "</description>";
        static const char prefix[] = VIRT_OWNER_MARK "; created=";
        static const char suffix[] = "; " VIRT_PLACEHOLDER_MARK;
        const char *text = memmem(xml, len, open, strlen(open));
        const char *end, *digits_end;
        int64_t created = 0;
        size_t n;

        *ret_placeholder = false;
        if (!text)
                return 0;
        text += strlen(open);
        end = memmem(text, len - (size_t)(text - xml), close, strlen(close));
        if (!end)
                return 0;
        n = (size_t)(end - text);
        if (n > strlen(suffix) + strlen(prefix) &&
            memcmp(end - strlen(suffix), suffix, strlen(suffix)) == 0) {
                digits_end = end - strlen(suffix);
                *ret_placeholder = true;
        } else {
                digits_end = end;
        }
        n = (size_t)(digits_end - text);
        if (n <= strlen(prefix) || n - strlen(prefix) > SECRETS_CREATED_DIGITS_MAX ||
            memcmp(text, prefix, strlen(prefix)) != 0) {
                *ret_placeholder = false;
                return 0;
        }
        for (const char *p = text + strlen(prefix); p < digits_end; p++) {
                if (*p < '0' || *p > '9') {
                        *ret_placeholder = false;
                        return 0;
                }
                created = created * 10 + (*p - '0');
        }
        return created;
}

enum virt_usage virt_usage_from_type(int type)
{
        if (type == VIR_SECRET_USAGE_TYPE_CEPH)
                return VIRT_USAGE_CEPH;
        if (type == VIR_SECRET_USAGE_TYPE_VOLUME)
                return VIRT_USAGE_VOLUME;
        return VIRT_USAGE_OTHER;
}

int virt_secret_info(struct secrets *s, virSecretPtr secret, struct virt_info *ret,
                     const char **ret_reason)
{
        struct virt_info info = {0};
        const char *usage_id;
        char *xml;
        size_t len;

        if (virSecretGetUUIDString(secret, info.uuid) < 0)
                return virt_fail(s, ret_reason, "reading a libvirt secret's UUID");
        info.usage = virt_usage_from_type(virSecretGetUsageType(secret));
        usage_id = virSecretGetUsageID(secret);
        snprintf(info.usage_id, sizeof(info.usage_id), "%s", usage_id ? usage_id : "");
        xml = virSecretGetXMLDesc(secret, 0);
        if (!xml)
                return virt_fail(s, ret_reason, "reading the definition of libvirt secret %s", info.uuid);
        len = strnlen(xml, SECRETS_XML_SEARCH_MAX);
        info.private_value = definition_private(xml, len);
        info.created = definition_created(xml, len, &info.placeholder);
        info.owned = info.created > 0;
        free(xml);
        *ret = info;
        return 0;
}

/* --- lookups --------------------------------------------------------- */

/* -ENOENT when there is none; the caller decides whether that fails. */
int virt_lookup_usage(struct secrets *s, enum virt_usage usage, const char *usage_id,
                      virSecretPtr *ret, const char **ret_reason)
{
        int type = usage == VIRT_USAGE_CEPH ? VIR_SECRET_USAGE_TYPE_CEPH
                                               : VIR_SECRET_USAGE_TYPE_VOLUME;
        virSecretPtr secret = virSecretLookupByUsage(s->conn, type, usage_id);

        if (!secret)
                return virt_fail(s, ret_reason, "looking up the libvirt secret for %s '%s'",
                                 virt_usage_noun(usage), usage_id);
        *ret = secret;
        return 0;
}

/* --- find, remove, list ---------------------------------------------- */

/* The secret of a usage, checked first, and what its definition says; on
 * success the caller frees *ret_secret. */
static int lookup_info(struct secrets *s, enum virt_usage usage, const char *usage_id,
                       virSecretPtr *ret_secret, struct virt_info *ret, const char **ret_reason)
{
        virSecretPtr secret = NULL;
        int r;

        r = check_usage(usage, usage_id, ret_reason);
        if (r < 0)
                return r;
        r = virt_lookup_usage(s, usage, usage_id, &secret, ret_reason);
        if (r < 0)
                return r;
        r = virt_secret_info(s, secret, ret, ret_reason);
        if (r < 0 || !ret_secret)
                virSecretFree(secret);
        else
                *ret_secret = secret;
        return r;
}

int virt_find(struct secrets *s, enum virt_usage usage, const char *usage_id,
                 struct virt_info *ret, const char **ret_reason)
{
        return lookup_info(s, usage, usage_id, NULL, ret, ret_reason);
}

int virt_remove(struct secrets *s, enum virt_usage usage, const char *usage_id,
                   const char **ret_reason)
{
        struct virt_info info;
        virSecretPtr secret = NULL;
        int r;

        r = lookup_info(s, usage, usage_id, &secret, &info, ret_reason);
        if (r < 0)
                return r;
        if (!info.owned) {
                r = reason_format(-EEXIST, ret_reason,
                                  "libvirt secret %s (%s '%s') is not managed by rbd-luks-agent; "
                                  "not removing it", info.uuid, virt_usage_noun(usage), usage_id);
                goto out;
        }
        if (virSecretUndefine(secret) < 0)
                r = virt_fail(s, ret_reason, "undefining libvirt secret %s", info.uuid);
out:
        virSecretFree(secret);
        return r;
}

int virt_list(struct secrets *s, struct virt_info **ret, size_t *ret_count,
                 const char **ret_reason)
{
        virSecretPtr *secrets = NULL;
        struct virt_info *infos = NULL;
        size_t count = 0;
        int n, r = 0;

        n = virConnectListAllSecrets(s->conn, &secrets, 0);
        if (n < 0)
                return virt_fail(s, ret_reason, "listing libvirt secrets");
        infos = calloc(n > 0 ? (size_t)n : 1, sizeof(*infos));
        if (!infos) {
                r = reason_set(-ENOMEM, ret_reason, "out of memory");
                goto out;
        }
        for (int i = 0; i < n; i++) {
                r = virt_secret_info(s, secrets[i], &infos[count], ret_reason);
                if (r == -ENOENT) /* undefined since it was listed */
                        continue;
                if (r < 0)
                        goto out;
                count++;
        }
        *ret = infos;
        *ret_count = count;
        infos = NULL;
        r = 0;
out:
        for (int i = 0; i < n; i++)
                virSecretFree(secrets[i]);
        free(secrets);
        free(infos);
        return r;
}

/* --- domains --------------------------------------------------------- */

/* Whether this domain's XML (of the kind flags asks) names uuid; -ENOENT
 * when the domain went away meanwhile. */
static int domain_names(struct secrets *s, virDomainPtr domain, unsigned flags, const char *uuid,
                        bool *ret, const char **ret_reason)
{
        char *xml = virDomainGetXMLDesc(domain, flags);
        const char *name;

        if (!xml) {
                name = virDomainGetName(domain);
                return virt_fail(s, ret_reason, "reading the XML of domain %s", name ? name : "?");
        }
        *ret = strcasestr(xml, uuid) != NULL;
        free(xml);
        return 0;
}

static int domain_uses(struct secrets *s, virDomainPtr domain, const char *uuid,
                       bool running_only, bool *ret, const char **ret_reason)
{
        int r;

        if (running_only)
                return domain_names(s, domain, 0, uuid, ret, ret_reason);
        r = domain_names(s, domain, VIR_DOMAIN_XML_INACTIVE, uuid, ret, ret_reason);
        if (r < 0 || *ret || virDomainIsActive(domain) != 1)
                return r;
        return domain_names(s, domain, 0, uuid, ret, ret_reason);
}

int virt_domains_using(struct secrets *s, const char *uuid, bool running_only,
                          unsigned *ret_count, const char **ret_reason)
{
        unsigned flags = running_only ? VIR_CONNECT_LIST_DOMAINS_ACTIVE : 0;
        virDomainPtr *domains = NULL;
        unsigned count = 0;
        int n, r = 0;

        if (!uuid_is_valid(uuid))
                return reason_set(-EINVAL, ret_reason, "not a secret UUID");
        n = virConnectListAllDomains(s->conn, &domains, flags);
        if (n < 0)
                return virt_fail(s, ret_reason, "listing libvirt domains to find users of secret %s",
                                 uuid);
        for (int i = 0; i < n; i++) {
                bool uses = false;

                r = domain_uses(s, domains[i], uuid, running_only, &uses, ret_reason);
                if (r == -ENOENT) { /* undefined since it was listed */
                        r = 0;
                        continue;
                }
                if (r < 0)
                        goto out;
                count += uses;
        }
        *ret_count = count;
out:
        for (int i = 0; i < n; i++)
                virDomainFree(domains[i]);
        free(domains);
        return r;
}
