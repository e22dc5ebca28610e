/* virt_ensure: a secret made to exist as its spec says (virt.h's
 * virt_ensure() and virt_ensure_present()): defined, redefined when it
 * drifted, its value written, its mark changed in place; a secret someone
 * else defined compared and left as it is.
 *
 * The secret XML we define is written here by hand, every string escaped.
 * Values travel only through virSecretSetValue and virSecretGetValue; what
 * GetValue returns is wiped before it is freed.
 *
 * Errors: 0 or a negative errno plus a reason "<what>: <libvirt's message>". */
#include "virt_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "base/reason.h"

#define SECRETS_XML_MAX 2048           /* what we define; the worst case is about 1100 */

/* --- the XML we define ----------------------------------------------- */

struct xml_buffer {
        char text[SECRETS_XML_MAX];
        size_t len;
        bool overflow;
};

static void xml_append(struct xml_buffer *b, const char *s, size_t n)
{
        if (b->overflow || n >= sizeof(b->text) - b->len) {
                b->overflow = true;
                return;
        }
        memcpy(b->text + b->len, s, n);
        b->len += n;
        b->text[b->len] = '\0';
}

static void xml_raw(struct xml_buffer *b, const char *s)
{
        xml_append(b, s, strlen(s));
}

static void xml_escaped(struct xml_buffer *b, const char *s)
{
        for (; *s; s++) {
                switch (*s) {
                case '&': xml_raw(b, "&amp;"); break;
                case '<': xml_raw(b, "&lt;"); break;
                case '>': xml_raw(b, "&gt;"); break;
                case '\'': xml_raw(b, "&apos;"); break;
                case '"': xml_raw(b, "&quot;"); break;
                default: xml_append(b, s, 1); break;
                }
        }
}

static int definition_build(const struct virt_spec *spec, const char *uuid, int64_t created,
                            struct xml_buffer *b)
{
        char description[sizeof(VIRT_OWNER_MARK) + sizeof(VIRT_PLACEHOLDER_MARK) + 32];

        b->len = 0;
        b->overflow = false;
        b->text[0] = '\0';
        xml_raw(b, "<secret ephemeral='no' private='");
        xml_raw(b, spec->private_value ? "yes" : "no");
        xml_raw(b, "'>");
        if (uuid[0]) {
                xml_raw(b, "<uuid>");
                xml_escaped(b, uuid);
                xml_raw(b, "</uuid>");
        }
        snprintf(description, sizeof(description), "%s; created=%" PRId64 "%s", VIRT_OWNER_MARK,
                 created, spec->placeholder ? "; " VIRT_PLACEHOLDER_MARK : "");
        xml_raw(b, "<description>");
        xml_escaped(b, description);
        xml_raw(b, "</description>");
        if (spec->usage == VIRT_USAGE_CEPH)
                xml_raw(b, "<usage type='ceph'><name>");
        else
                xml_raw(b, "<usage type='volume'><volume>");
        xml_escaped(b, spec->usage_id);
        xml_raw(b, spec->usage == VIRT_USAGE_CEPH ? "</name></usage>" : "</volume></usage>");
        xml_raw(b, "</secret>");
        return b->overflow ? -E2BIG : 0;
}

/* --- lookups --------------------------------------------------------- */

static int lookup_uuid(struct secrets *s, const char *uuid, virSecretPtr *ret,
                       const char **ret_reason)
{
        virSecretPtr secret = virSecretLookupByUUIDString(s->conn, uuid);

        if (!secret)
                return virt_fail(s, ret_reason, "looking up libvirt secret %s", uuid);
        *ret = secret;
        return 0;
}

/* NULL, for `p = release(p)`. */
static virSecretPtr release(virSecretPtr secret)
{
        if (secret)
                virSecretFree(secret);
        return NULL;
}

/* --- ensure ---------------------------------------------------------- */

static bool drifted(const struct virt_info *info, const struct virt_spec *spec)
{
        if (spec->uuid[0] && strcasecmp(info->uuid, spec->uuid) != 0)
                return true;
        return info->private_value != spec->private_value;
}

static int value_write(struct secrets *s, virSecretPtr secret, const struct virt_spec *spec,
                       const struct secret *value, const char **ret_reason)
{
        if (virSecretSetValue(secret, value->data, value->len, 0) < 0)
                return virt_fail(s, ret_reason, "setting the value of the libvirt secret for %s '%s'",
                                 virt_usage_noun(spec->usage), spec->usage_id);
        return 0;
}

/* Writes the value unless libvirt already holds the same bytes; a private
 * value cannot be read back, so it is always written. */
static int value_update(struct secrets *s, virSecretPtr secret, const struct virt_spec *spec,
                        const struct secret *value, bool *changed, const char **ret_reason)
{
        int r;

        if (!spec->private_value) {
                size_t len = 0;
                unsigned char *current = virSecretGetValue(secret, &len, 0);

                if (current) {
                        const struct secret view = {.len = len, .capacity = len, .data = current};
                        bool same = secret_equal(&view, value);

                        explicit_bzero(current, len);
                        free(current);
                        if (same)
                                return 0;
                } else {
                        r = virt_fail(s, ret_reason, "reading the value of the libvirt secret for %s '%s'",
                                      virt_usage_noun(spec->usage), spec->usage_id);
                        if (r != -ENOENT) /* -ENOENT: defined without a value */
                                return r;
                }
        }
        r = value_write(s, secret, spec, value, ret_reason);
        if (r < 0)
                return r;
        *changed = true;
        return 0;
}

/* Undefines the drifted secret (current) and the one holding spec's UUID
 * for another usage (holder), both ours, then defines the secret anew with
 * its value. */
static int redefine(struct secrets *s, const struct virt_spec *spec, const struct secret *value,
                    virSecretPtr current, const struct virt_info *current_info,
                    virSecretPtr holder, const struct virt_info *holder_info,
                    virSecretPtr *ret, const char **ret_reason)
{
        const char *uuid = spec->uuid[0] ? spec->uuid : current ? current_info->uuid : "";
        int64_t created = current ? current_info->created
                          : holder ? holder_info->created
                                   : (int64_t)time(NULL);
        struct xml_buffer xml;
        virSecretPtr secret;
        int r;

        r = definition_build(spec, uuid, created, &xml);
        if (r < 0)
                return reason_format(r, ret_reason, "secret XML for %s '%s' longer than %d bytes",
                                     virt_usage_noun(spec->usage), spec->usage_id, SECRETS_XML_MAX);
        /* libvirt keeps one UUID per usage id and changes neither a secret's
         * usage nor private='yes' in place. */
        if (holder && virSecretUndefine(holder) < 0)
                return virt_fail(s, ret_reason, "undefining libvirt secret %s to reuse its UUID", uuid);
        if (current && virSecretUndefine(current) < 0)
                return virt_fail(s, ret_reason, "undefining drifted libvirt secret %s", current_info->uuid);
        secret = virSecretDefineXML(s->conn, xml.text, 0);
        if (!secret)
                return virt_fail(s, ret_reason, "defining the libvirt secret for %s '%s'",
                                 virt_usage_noun(spec->usage), spec->usage_id);
        r = value_write(s, secret, spec, value, ret_reason);
        if (r < 0) {
                /* No secret beats one without a value: Nova would use it. */
                (void)virSecretUndefine(secret);
                virSecretFree(secret);
                return r;
        }
        *ret = secret;
        return 0;
}

/* Changes the mark of one of our secrets in place: libvirt replaces the
 * definition of an existing UUID with the same usage and keeps its value,
 * so the secret never goes missing. */
static int remark(struct secrets *s, const struct virt_spec *spec,
                  const struct virt_info *info, const char **ret_reason)
{
        struct xml_buffer xml;
        virSecretPtr secret;
        int r;

        r = definition_build(spec, info->uuid, info->created, &xml);
        if (r < 0)
                return reason_format(r, ret_reason, "secret XML for %s '%s' longer than %d bytes",
                                     virt_usage_noun(spec->usage), spec->usage_id, SECRETS_XML_MAX);
        secret = virSecretDefineXML(s->conn, xml.text, 0);
        if (!secret)
                return virt_fail(s, ret_reason, "updating the definition of libvirt secret %s",
                                 info->uuid);
        virSecretFree(secret);
        return 0;
}

static int refuse_foreign(const struct virt_spec *spec, const struct virt_info *info,
                          const char **ret_reason)
{
        return reason_format(-EEXIST, ret_reason,
                             "libvirt secret %s (%s '%s') is not managed by rbd-luks-agent; "
                             "not touching it for %s '%s'",
                             info->uuid, virt_usage_noun(info->usage), info->usage_id,
                             virt_usage_noun(spec->usage), spec->usage_id);
}

/* A secret someone else defined for spec's usage id (Kolla's nova-libvirt
 * start, TripleO's nova_libvirt_init_secret: both define the cephx secret
 * again at every start or deploy). The same UUID and value: 0, it counts
 * as present and is left alone. Anything else: -EEXIST, saying what
 * differs; nothing is changed either way. */
static int foreign_same(struct secrets *s, virSecretPtr secret, const struct virt_spec *spec,
                        const struct virt_info *info, const struct secret *value,
                        const char **ret_reason)
{
        unsigned char *current;
        size_t len = 0;
        bool same;

        if (spec->uuid[0] && strcasecmp(info->uuid, spec->uuid) != 0)
                return reason_format(-EEXIST, ret_reason,
                                     "libvirt secret %s (%s '%s') was defined by someone else "
                                     "with another UUID than the configured %s; not touching it",
                                     info->uuid, virt_usage_noun(info->usage), info->usage_id,
                                     spec->uuid);
        if (info->private_value)
                return reason_format(-EEXIST, ret_reason,
                                     "libvirt secret %s (%s '%s') was defined by someone else "
                                     "as private: its value cannot be compared; not touching it",
                                     info->uuid, virt_usage_noun(info->usage), info->usage_id);
        current = virSecretGetValue(secret, &len, 0);
        if (!current) {
                int r = virt_fail(s, ret_reason, "reading the value of libvirt secret %s (defined by "
                                  "someone else)", info->uuid);

                return r == -ENOENT ? reason_format(-EEXIST, ret_reason,
                                                    "libvirt secret %s (%s '%s') was defined by "
                                                    "someone else and has no value; not touching it",
                                                    info->uuid, virt_usage_noun(info->usage),
                                                    info->usage_id)
                                    : r;
        }
        {
                const struct secret view = {.len = len, .capacity = len, .data = current};

                same = secret_equal(&view, value);
        }
        explicit_bzero(current, len);
        free(current);
        if (!same)
                return reason_format(-EEXIST, ret_reason,
                                     "libvirt secret %s (%s '%s') was defined by someone else "
                                     "with a different value; not touching it",
                                     info->uuid, virt_usage_noun(info->usage), info->usage_id);
        return 0;
}

/* The secret holding spec's usage id and what it is: 0, or -ENOENT when
 * there is none (or it was undefined since the lookup; *ret NULL then). */
static int current_secret(struct secrets *s, const struct virt_spec *spec,
                          const struct secret *value, virSecretPtr *ret,
                          struct virt_info *ret_info, const char **ret_reason)
{
        virSecretPtr current = NULL;
        int r = virt_check_spec(spec, value, ret_reason);

        *ret = NULL;
        if (r < 0)
                return r;
        r = virt_lookup_usage(s, spec->usage, spec->usage_id, &current, ret_reason);
        if (r == 0)
                r = virt_secret_info(s, current, ret_info, ret_reason);
        if (r < 0) {
                release(current);
                return r;
        }
        *ret = current;
        return 0;
}

/* For spec->absent_likely: the secret defined at once, with its value,
 * without a lookup first. false when that is not for this spec or libvirt
 * refused (most often: the usage id is taken); the caller then looks, and
 * reports what it finds. Defining without a UUID cannot take another
 * secret's place: libvirt refuses a second secret for one usage id. */
static bool define_at_once(struct secrets *s, const struct virt_spec *spec,
                           const struct secret *value, char ret_uuid[VIRT_UUID_LEN + 1])
{
        virSecretPtr secret = NULL;
        const char *why = NULL;
        bool done;

        if (!spec->absent_likely || spec->uuid[0] || virt_check_spec(spec, value, &why) < 0)
                return false;
        if (redefine(s, spec, value, NULL, NULL, NULL, NULL, &secret, &why) < 0)
                return false;
        done = virSecretGetUUIDString(secret, ret_uuid) == 0;
        virResetLastError();
        release(secret);
        return done;
}

int virt_ensure(struct secrets *s, const struct virt_spec *spec, const struct secret *value,
                   bool *ret_changed, char ret_uuid[VIRT_UUID_LEN + 1],
                   const char **ret_reason)
{
        virSecretPtr current = NULL, holder = NULL, secret = NULL;
        struct virt_info current_info = {0}, holder_info = {0};
        char uuid[VIRT_UUID_LEN + 1];
        bool changed = false;
        int r;

        if (define_at_once(s, spec, value, uuid)) {
                changed = true;
                goto done;
        }
        r = current_secret(s, spec, value, &current, &current_info, ret_reason);
        if (r < 0 && r != -ENOENT)
                goto out;
        if (current && !current_info.owned) {
                r = foreign_same(s, current, spec, &current_info, value, ret_reason);
                if (r < 0)
                        goto out;
                memcpy(uuid, current_info.uuid, sizeof(uuid));
                goto done;
        }
        /* Another secret of ours may hold spec's UUID for an old usage id. */
        if (spec->uuid[0] && (!current || strcasecmp(current_info.uuid, spec->uuid) != 0)) {
                r = lookup_uuid(s, spec->uuid, &holder, ret_reason);
                if (r == 0)
                        r = virt_secret_info(s, holder, &holder_info, ret_reason);
                if (r == -ENOENT)
                        holder = release(holder);
                else if (r < 0)
                        goto out;
                if (holder && !holder_info.owned) {
                        r = refuse_foreign(spec, &holder_info, ret_reason);
                        goto out;
                }
        }
        if (!current || holder || drifted(&current_info, spec)) {
                r = redefine(s, spec, value, current, &current_info, holder, &holder_info, &secret,
                             ret_reason);
                changed = true;
        } else {
                secret = current;
                current = NULL;
                r = value_update(s, secret, spec, value, &changed, ret_reason);
                /* The value first, then the mark that says what it is. */
                if (r >= 0 && current_info.placeholder != spec->placeholder) {
                        r = remark(s, spec, &current_info, ret_reason);
                        changed = true;
                }
        }
        if (r < 0)
                goto out;
        if (virSecretGetUUIDString(secret, uuid) < 0) {
                r = virt_fail(s, ret_reason, "reading a libvirt secret's UUID");
                goto out;
        }
done:
        if (ret_changed)
                *ret_changed = changed;
        if (ret_uuid)
                memcpy(ret_uuid, uuid, sizeof(uuid));
        r = 0;
out:
        release(current);
        release(holder);
        release(secret);
        return r;
}

int virt_ensure_present(struct secrets *s, const struct virt_spec *spec,
                           const struct secret *value, bool *ret_defined,
                           char ret_uuid[VIRT_UUID_LEN + 1], struct virt_info *ret_existing,
                           const char **ret_reason)
{
        struct virt_info info = {0};
        virSecretPtr current = NULL, secret = NULL;
        char uuid[VIRT_UUID_LEN + 1];
        int r;

        if (define_at_once(s, spec, value, uuid)) {
                if (ret_uuid)
                        memcpy(ret_uuid, uuid, sizeof(uuid));
                if (ret_defined)
                        *ret_defined = true;
                return 0;
        }
        r = current_secret(s, spec, value, &current, &info, ret_reason);
        if (r == 0) {
                if (!info.owned)
                        r = refuse_foreign(spec, &info, ret_reason);
                else if (ret_uuid)
                        memcpy(ret_uuid, info.uuid, sizeof(info.uuid));
                if (r == 0 && ret_defined)
                        *ret_defined = false;
                if (r == 0 && ret_existing)
                        *ret_existing = info;
                goto out;
        }
        if (r != -ENOENT)
                goto out;
        r = redefine(s, spec, value, NULL, NULL, NULL, NULL, &secret, ret_reason);
        if (r < 0)
                goto out;
        if (ret_uuid && virSecretGetUUIDString(secret, ret_uuid) < 0) {
                r = virt_fail(s, ret_reason, "reading a libvirt secret's UUID");
                goto out;
        }
        if (ret_defined)
                *ret_defined = true;
out:
        release(current);
        release(secret);
        return r;
}
