/* secrets: libvirt secrets through libvirt's C API (secrets.h).
 *
 * The secret XML we define is written here by hand, every string escaped.
 * The XML we read back (virSecretGetXMLDesc) is parsed by bounded string
 * search, which is enough because it is libvirt's own output, never a
 * user's: virSecretDefFormat writes one <secret ...> start tag carrying
 * private='yes|no' and escapes every text, so "<description>" can only be
 * the element itself. Usage type and id come from the API, not the XML.
 *
 * Errors: 0 or a negative errno plus a reason "<what>: <libvirt's message>".
 * Values travel only through virSecretSetValue and virSecretGetValue; what
 * GetValue returns is wiped before it is freed. */
#include "virt.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "base/reason.h"
#include "base/secretfile.h"

#define SECRETS_URI_MAX 1024
#define SECRETS_XML_MAX 2048           /* what we define; the worst case is about 1100 */
#define SECRETS_XML_SEARCH_MAX 65536   /* how far into libvirt's XML we look */
#define SECRETS_CREATED_DIGITS_MAX 18  /* fits int64_t */

#define SECRETS_DOMAIN_XML_MAX (4u * 1024u * 1024u) /* how far into a domain's XML we look */
#define SECRETS_KEEPALIVE_S 5
#define SECRETS_KEEPALIVE_COUNT 3

struct secrets {
        virConnectPtr conn;
        bool watching;
        int secret_callback, domain_callback, device_callback;
        bool close_callback;
};

/* --- libvirt errors -------------------------------------------------- */

static void quiet_error(void *opaque, virErrorPtr error)
{
        (void)opaque;
        (void)error;
}

static pthread_once_t libvirt_once = PTHREAD_ONCE_INIT;

static void libvirt_setup(void)
{
        (void)virInitialize();
        /* libvirt's default handler prints every error to stderr. */
        virSetErrorFunc(NULL, quiet_error);
        /* Embedded drivers refuse to open without one; a failure shows then. */
        (void)virEventRegisterDefaultImpl();
}

static int errno_from_code(struct secrets *s, int code)
{
        switch (code) {
        case VIR_ERR_NO_SECRET:
        case VIR_ERR_NO_DOMAIN:
                return -ENOENT;
        case VIR_ERR_NO_SUPPORT:
                return -EOPNOTSUPP;
        case VIR_ERR_AUTH_FAILED:
        case VIR_ERR_AUTH_CANCELLED:
        case VIR_ERR_AUTH_UNAVAILABLE:
        case VIR_ERR_ACCESS_DENIED:
        case VIR_ERR_OPERATION_DENIED:
                return -EACCES;
        case VIR_ERR_RPC:
        case VIR_ERR_INVALID_CONN:
                return -ENOTCONN;
        default:
                break;
        }
        /* A closed socket shows as a system or internal error. */
        if (s && virConnectIsAlive(s->conn) == 0)
                return -ENOTCONN;
        return -EIO;
}

/* For the libvirt call that just failed: its errno, and the reason
 * "<what>: <libvirt's message>". The message is copied before anything
 * else calls libvirt, which would reset it. */
static int fail(struct secrets *s, const char **ret_reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct secrets *s, const char **ret_reason, const char *fmt, ...)
{
        char what[REASON_MAX], message[REASON_MAX];
        virErrorPtr last = virGetLastError();
        int code = last ? last->code : VIR_ERR_OK;
        va_list ap;

        snprintf(message, sizeof(message), "%s", virGetLastErrorMessage());
        virResetLastError();
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return reason_format(errno_from_code(s, code), ret_reason, "%s: %s", what, message);
}

/* --- specs and names ------------------------------------------------- */

static const char *usage_noun(enum virt_usage usage)
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

static int check_spec(const struct virt_spec *spec, const struct secret *value,
                      const char **ret_reason)
{
        int r = check_usage(spec->usage, spec->usage_id, ret_reason);

        if (r < 0)
                return r;
        if (spec->uuid[0] && !uuid_is_valid(spec->uuid))
                return reason_format(-EINVAL, ret_reason, "secret UUID for %s '%s' is not a UUID",
                                     usage_noun(spec->usage), spec->usage_id);
        if (!value || value->len == 0)
                return reason_format(-EINVAL, ret_reason, "empty secret value for %s '%s'",
                                     usage_noun(spec->usage), spec->usage_id);
        return 0;
}

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

static enum virt_usage usage_from_type(int type)
{
        if (type == VIR_SECRET_USAGE_TYPE_CEPH)
                return VIRT_USAGE_CEPH;
        if (type == VIR_SECRET_USAGE_TYPE_VOLUME)
                return VIRT_USAGE_VOLUME;
        return VIRT_USAGE_OTHER;
}

static int secret_info(struct secrets *s, virSecretPtr secret, struct virt_info *ret,
                       const char **ret_reason)
{
        struct virt_info info = {0};
        const char *usage_id;
        char *xml;
        size_t len;

        if (virSecretGetUUIDString(secret, info.uuid) < 0)
                return fail(s, ret_reason, "reading a libvirt secret's UUID");
        info.usage = usage_from_type(virSecretGetUsageType(secret));
        usage_id = virSecretGetUsageID(secret);
        snprintf(info.usage_id, sizeof(info.usage_id), "%s", usage_id ? usage_id : "");
        xml = virSecretGetXMLDesc(secret, 0);
        if (!xml)
                return fail(s, ret_reason, "reading the definition of libvirt secret %s", info.uuid);
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
static int lookup_usage(struct secrets *s, enum virt_usage usage, const char *usage_id,
                        virSecretPtr *ret, const char **ret_reason)
{
        int type = usage == VIRT_USAGE_CEPH ? VIR_SECRET_USAGE_TYPE_CEPH
                                               : VIR_SECRET_USAGE_TYPE_VOLUME;
        virSecretPtr secret = virSecretLookupByUsage(s->conn, type, usage_id);

        if (!secret)
                return fail(s, ret_reason, "looking up the libvirt secret for %s '%s'",
                            usage_noun(usage), usage_id);
        *ret = secret;
        return 0;
}

static int lookup_uuid(struct secrets *s, const char *uuid, virSecretPtr *ret,
                       const char **ret_reason)
{
        virSecretPtr secret = virSecretLookupByUUIDString(s->conn, uuid);

        if (!secret)
                return fail(s, ret_reason, "looking up libvirt secret %s", uuid);
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

static void unwatch(struct secrets *s);

/* --- connection ------------------------------------------------------ */

/* libvirt writes to its socket without MSG_NOSIGNAL: once the daemon is
 * gone, the next call would kill the process instead of failing. A
 * handler the program installed itself is left alone. */
static void ignore_sigpipe(void)
{
        struct sigaction current;

        if (sigaction(SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_DFL &&
            !(current.sa_flags & SA_SIGINFO))
                signal(SIGPIPE, SIG_IGN);
}

/* What libvirt's SASL client asks for, answered from the login. */
struct login_answer {
        const char *user;
        const struct secret *password; /* NUL-terminated */
        int unanswered;                /* a credential type we do not have */
};

static int answer_credentials(virConnectCredentialPtr cred, unsigned int ncred, void *cbdata)
{
        struct login_answer *a = cbdata;

        for (unsigned int i = 0; i < ncred; i++) {
                const char *value;
                size_t len;

                switch (cred[i].type) {
                case VIR_CRED_AUTHNAME:
                        value = a->user;
                        len = strlen(value);
                        break;
                case VIR_CRED_PASSPHRASE:
                        value = (const char *)a->password->data;
                        len = a->password->len;
                        break;
                default:
                        a->unanswered = cred[i].type;
                        return -1;
                }
                /* libvirt takes this copy and frees it. */
                cred[i].result = malloc(len + 1);
                if (!cred[i].result)
                        return -1;
                memcpy(cred[i].result, value, len + 1);
                cred[i].resultlen = (unsigned int)len;
        }
        return 0;
}

static int open_with_login(const char *uri, const struct virt_login *login,
                           virConnectPtr *ret, const char **ret_reason)
{
        int credtypes[] = {VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE};
        struct login_answer answer = {.user = login->user};
        virConnectAuth auth = {credtypes, 2, answer_credentials, &answer};
        struct secret *password = NULL;
        int r;

        r = secretfile_read_password(login->password_file, &password, ret_reason);
        if (r < 0)
                return r;
        answer.password = password;
        *ret = virConnectOpenAuth(uri, &auth, 0);
        secret_free(password);
        if (*ret)
                return 0;
        if (answer.unanswered)
                r = fail(NULL, ret_reason,
                         "cannot log in to libvirt at %s as %s (it asked for credential type %d, "
                         "which the agent does not have)",
                         uri, login->user, answer.unanswered);
        else
                r = fail(NULL, ret_reason, "cannot log in to libvirt at %s as %s", uri,
                         login->user);
        return r == -EACCES ? r : -ECONNREFUSED;
}

int virt_connect(const char *uri, const struct virt_login *login, struct secrets **ret,
                    const char **ret_reason)
{
        struct secrets *s;
        virConnectPtr conn = NULL;
        int r;

        if (!uri || uri[0] == '\0' || strnlen(uri, SECRETS_URI_MAX) == SECRETS_URI_MAX)
                return reason_format(-EINVAL, ret_reason, "libvirt URI empty or longer than %d bytes",
                                     SECRETS_URI_MAX - 1);
        pthread_once(&libvirt_once, libvirt_setup);
        ignore_sigpipe();
        if (login && login->user) {
                r = open_with_login(uri, login, &conn, ret_reason);
                if (r < 0)
                        return r;
        } else {
                conn = virConnectOpen(uri);
                if (!conn) {
                        const char *message = virGetLastErrorMessage();

                        if (message && strstr(message, "SASL")) {
                                fail(NULL, ret_reason,
                                     "cannot connect to libvirt at %s (it asks for a SASL login: "
                                     "set [compute] sasl_user and sasl_password_file)",
                                     uri);
                                return -EACCES;
                        }
                        r = fail(NULL, ret_reason, "cannot connect to libvirt at %s", uri);
                        return r == -EACCES ? r : -ECONNREFUSED;
                }
        }
        virConnSetErrorFunc(conn, NULL, quiet_error);
        s = calloc(1, sizeof(*s));
        if (!s) {
                virConnectClose(conn);
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        }
        s->conn = conn;
        s->secret_callback = s->domain_callback = s->device_callback = -1;
        *ret = s;
        return 0;
}

void virt_disconnect(struct secrets *s)
{
        if (!s)
                return;
        unwatch(s);
        virConnectClose(s->conn);
        free(s);
}

bool virt_alive(struct secrets *s)
{
        return s && virConnectIsAlive(s->conn) == 1;
}

bool virt_ping(struct secrets *s)
{
        unsigned long version;

        /* A real round trip: without an event loop libvirt keeps no
         * keepalive, and IsAlive stays true after the daemon died. */
        return virt_alive(s) && virConnectGetLibVersion(s->conn, &version) == 0 &&
               virt_alive(s);
}

void *virt_libvirt_connection(struct secrets *s)
{
        return s ? s->conn : NULL;
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
                return fail(s, ret_reason, "setting the value of the libvirt secret for %s '%s'",
                            usage_noun(spec->usage), spec->usage_id);
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
                        r = fail(s, ret_reason, "reading the value of the libvirt secret for %s '%s'",
                                 usage_noun(spec->usage), spec->usage_id);
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
                                     usage_noun(spec->usage), spec->usage_id, SECRETS_XML_MAX);
        /* libvirt keeps one UUID per usage id and changes neither a secret's
         * usage nor private='yes' in place. */
        if (holder && virSecretUndefine(holder) < 0)
                return fail(s, ret_reason, "undefining libvirt secret %s to reuse its UUID", uuid);
        if (current && virSecretUndefine(current) < 0)
                return fail(s, ret_reason, "undefining drifted libvirt secret %s", current_info->uuid);
        secret = virSecretDefineXML(s->conn, xml.text, 0);
        if (!secret)
                return fail(s, ret_reason, "defining the libvirt secret for %s '%s'",
                            usage_noun(spec->usage), spec->usage_id);
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
                                     usage_noun(spec->usage), spec->usage_id, SECRETS_XML_MAX);
        secret = virSecretDefineXML(s->conn, xml.text, 0);
        if (!secret)
                return fail(s, ret_reason, "updating the definition of libvirt secret %s",
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
                             info->uuid, usage_noun(info->usage), info->usage_id,
                             usage_noun(spec->usage), spec->usage_id);
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
                                     info->uuid, usage_noun(info->usage), info->usage_id,
                                     spec->uuid);
        if (info->private_value)
                return reason_format(-EEXIST, ret_reason,
                                     "libvirt secret %s (%s '%s') was defined by someone else "
                                     "as private: its value cannot be compared; not touching it",
                                     info->uuid, usage_noun(info->usage), info->usage_id);
        current = virSecretGetValue(secret, &len, 0);
        if (!current) {
                int r = fail(s, ret_reason, "reading the value of libvirt secret %s (defined by "
                             "someone else)", info->uuid);

                return r == -ENOENT ? reason_format(-EEXIST, ret_reason,
                                                    "libvirt secret %s (%s '%s') was defined by "
                                                    "someone else and has no value; not touching it",
                                                    info->uuid, usage_noun(info->usage),
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
                                     info->uuid, usage_noun(info->usage), info->usage_id);
        return 0;
}

/* The secret holding spec's usage id and what it is: 0, or -ENOENT when
 * there is none (or it was undefined since the lookup; *ret NULL then). */
static int current_secret(struct secrets *s, const struct virt_spec *spec,
                          const struct secret *value, virSecretPtr *ret,
                          struct virt_info *ret_info, const char **ret_reason)
{
        virSecretPtr current = NULL;
        int r = check_spec(spec, value, ret_reason);

        *ret = NULL;
        if (r < 0)
                return r;
        r = lookup_usage(s, spec->usage, spec->usage_id, &current, ret_reason);
        if (r == 0)
                r = secret_info(s, current, ret_info, ret_reason);
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

        if (!spec->absent_likely || spec->uuid[0] || check_spec(spec, value, &why) < 0)
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
                        r = secret_info(s, holder, &holder_info, ret_reason);
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
                r = fail(s, ret_reason, "reading a libvirt secret's UUID");
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
                r = fail(s, ret_reason, "reading a libvirt secret's UUID");
                goto out;
        }
        if (ret_defined)
                *ret_defined = true;
out:
        release(current);
        release(secret);
        return r;
}

/* --- find, remove, list ---------------------------------------------- */

int virt_find(struct secrets *s, enum virt_usage usage, const char *usage_id,
                 struct virt_info *ret, const char **ret_reason)
{
        virSecretPtr secret = NULL;
        int r;

        r = check_usage(usage, usage_id, ret_reason);
        if (r < 0)
                return r;
        r = lookup_usage(s, usage, usage_id, &secret, ret_reason);
        if (r < 0)
                return r;
        r = secret_info(s, secret, ret, ret_reason);
        virSecretFree(secret);
        return r;
}

int virt_remove(struct secrets *s, enum virt_usage usage, const char *usage_id,
                   const char **ret_reason)
{
        struct virt_info info;
        virSecretPtr secret = NULL;
        int r;

        r = check_usage(usage, usage_id, ret_reason);
        if (r < 0)
                return r;
        r = lookup_usage(s, usage, usage_id, &secret, ret_reason);
        if (r < 0)
                return r;
        r = secret_info(s, secret, &info, ret_reason);
        if (r < 0)
                goto out;
        if (!info.owned) {
                r = reason_format(-EEXIST, ret_reason,
                                  "libvirt secret %s (%s '%s') is not managed by rbd-luks-agent; "
                                  "not removing it", info.uuid, usage_noun(usage), usage_id);
                goto out;
        }
        if (virSecretUndefine(secret) < 0)
                r = fail(s, ret_reason, "undefining libvirt secret %s", info.uuid);
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
                return fail(s, ret_reason, "listing libvirt secrets");
        infos = calloc(n > 0 ? (size_t)n : 1, sizeof(*infos));
        if (!infos) {
                r = reason_set(-ENOMEM, ret_reason, "out of memory");
                goto out;
        }
        for (int i = 0; i < n; i++) {
                r = secret_info(s, secrets[i], &infos[count], ret_reason);
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
                return fail(s, ret_reason, "reading the XML of domain %s", name ? name : "?");
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
                return fail(s, ret_reason, "listing libvirt domains to find users of secret %s",
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

/* --- watching: libvirt's events -------------------------------------- */

/* One queue per process: libvirt's default event loop is process-wide
 * too, and the compute role has one connection. Callbacks run on the
 * event-loop thread; they only copy what the event carries (no call back
 * into libvirt) and wake the reader through an eventfd. */
/* A ring touches all of its pages over time: 1024 notices (300 KiB). More
 * waiting at once (an undefine storm) overflow, and a full reconcile
 * follows, which puts back whatever the lost notices said. */
#define WATCH_QUEUE_MAX 1024

static struct virt_notice watch_queue[WATCH_QUEUE_MAX]; /* zeroed: .bss, not the binary */

static struct {
        pthread_mutex_t lock;
        size_t head, count;
        bool overflowed;
        int wake_fd;
        bool loop_started;
} watch = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1};

static void watch_push(const struct virt_notice *n)
{
        uint64_t one = 1;

        pthread_mutex_lock(&watch.lock);
        if (watch.count == WATCH_QUEUE_MAX) {
                watch.overflowed = true;
        } else {
                watch_queue[(watch.head + watch.count) % WATCH_QUEUE_MAX] = *n;
                watch.count++;
        }
        pthread_mutex_unlock(&watch.lock);
        if (watch.wake_fd >= 0)
                (void)!write(watch.wake_fd, &one, sizeof(one));
}

static void on_secret_lifecycle(virConnectPtr conn, virSecretPtr secret, int event, int detail,
                                void *opaque)
{
        struct virt_notice n = {0};
        const char *usage_id = virSecretGetUsageID(secret);

        (void)conn;
        (void)detail;
        (void)opaque;
        /* Only an undefine calls for action: the queue does not carry the
         * agent's own defines (10,000 of them in a start-up reconcile). */
        if (event != VIR_SECRET_EVENT_UNDEFINED)
                return;
        n.kind = VIRT_NOTICE_SECRET_UNDEFINED;
        n.usage = usage_from_type(virSecretGetUsageType(secret));
        snprintf(n.name, sizeof(n.name), "%s", usage_id ? usage_id : "");
        (void)virSecretGetUUIDString(secret, n.uuid);
        watch_push(&n);
}

static void on_domain_lifecycle(virConnectPtr conn, virDomainPtr domain, int event, int detail,
                                void *opaque)
{
        struct virt_notice n = {.kind = VIRT_NOTICE_DOMAIN_CHANGED};
        const char *name = virDomainGetName(domain);

        (void)conn;
        (void)detail;
        (void)opaque;
        if (event != VIR_DOMAIN_EVENT_STARTED && event != VIR_DOMAIN_EVENT_RESUMED &&
            event != VIR_DOMAIN_EVENT_DEFINED)
                return;
        snprintf(n.name, sizeof(n.name), "%s", name ? name : "");
        watch_push(&n);
}

static void on_device_added(virConnectPtr conn, virDomainPtr domain, const char *alias,
                            void *opaque)
{
        struct virt_notice n = {.kind = VIRT_NOTICE_DOMAIN_CHANGED};
        const char *name = virDomainGetName(domain);

        (void)conn;
        (void)alias;
        (void)opaque;
        snprintf(n.name, sizeof(n.name), "%s", name ? name : "");
        watch_push(&n);
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
        struct virt_notice n = {.kind = VIRT_NOTICE_CONNECTION_CLOSED};

        (void)conn;
        (void)reason;
        (void)opaque;
        watch_push(&n);
}

static void *event_loop_main(void *arg)
{
        (void)arg;
        for (;;)
                if (virEventRunDefaultImpl() < 0)
                        usleep(100 * 1000); /* never spin on a broken loop */
        return NULL;
}

static int start_event_loop(const char **ret_reason)
{
        pthread_attr_t attr;
        pthread_t thread;
        sigset_t all, old;
        int r;

        if (watch.loop_started)
                return 0;
        watch.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (watch.wake_fd < 0)
                return reason_format(-errno, ret_reason, "cannot make an eventfd: %s",
                                     strerror(errno));
        /* The loop thread takes no signal: the reader's handlers stay the
         * only ones that run. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&thread, &attr, event_loop_main, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                return reason_format(-r, ret_reason, "cannot start libvirt's event loop: %s",
                                     strerror(r));
        watch.loop_started = true;
        return 0;
}

int virt_watch(struct secrets *s, const char **ret_reason)
{
        int r;

        if (s->watching)
                return 0;
        r = start_event_loop(ret_reason);
        if (r < 0)
                return r;
        s->secret_callback = virConnectSecretEventRegisterAny(
                s->conn, NULL, VIR_SECRET_EVENT_ID_LIFECYCLE,
                VIR_SECRET_EVENT_CALLBACK(on_secret_lifecycle), NULL, NULL);
        if (s->secret_callback < 0)
                return fail(s, ret_reason, "registering for libvirt secret events");
        /* Domains: best effort, the embedded secret driver has none. */
        s->domain_callback = virConnectDomainEventRegisterAny(
                s->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                VIR_DOMAIN_EVENT_CALLBACK(on_domain_lifecycle), NULL, NULL);
        if (s->domain_callback < 0)
                virResetLastError();
        s->device_callback = virConnectDomainEventRegisterAny(
                s->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                VIR_DOMAIN_EVENT_CALLBACK(on_device_added), NULL, NULL);
        if (s->device_callback < 0)
                virResetLastError();
        if (virConnectRegisterCloseCallback(s->conn, on_close, NULL, NULL) == 0)
                s->close_callback = true;
        else
                virResetLastError();
        /* With the loop running, libvirt can keep the connection alive and
         * notice a dead daemon by itself. */
        if (virConnectSetKeepAlive(s->conn, SECRETS_KEEPALIVE_S, SECRETS_KEEPALIVE_COUNT) < 0)
                virResetLastError();
        s->watching = true;
        return 0;
}

int virt_watch_fd(void)
{
        return watch.wake_fd;
}

bool virt_next_notice(struct virt_notice *ret, bool *ret_overflowed)
{
        uint64_t drained;
        bool got = false;

        if (watch.wake_fd >= 0)
                (void)!read(watch.wake_fd, &drained, sizeof(drained));
        pthread_mutex_lock(&watch.lock);
        if (ret_overflowed) {
                *ret_overflowed = watch.overflowed;
                watch.overflowed = false;
        }
        if (watch.count) {
                *ret = watch_queue[watch.head];
                watch.head = (watch.head + 1) % WATCH_QUEUE_MAX;
                watch.count--;
                got = true;
        }
        pthread_mutex_unlock(&watch.lock);
        /* More left: keep the fd readable for the next poll. */
        if (got && watch.count && watch.wake_fd >= 0) {
                uint64_t one = 1;

                (void)!write(watch.wake_fd, &one, sizeof(one));
        }
        return got;
}

static void unwatch(struct secrets *s)
{
        if (!s->watching)
                return;
        if (s->secret_callback >= 0)
                (void)virConnectSecretEventDeregisterAny(s->conn, s->secret_callback);
        if (s->domain_callback >= 0)
                (void)virConnectDomainEventDeregisterAny(s->conn, s->domain_callback);
        if (s->device_callback >= 0)
                (void)virConnectDomainEventDeregisterAny(s->conn, s->device_callback);
        if (s->close_callback)
                (void)virConnectUnregisterCloseCallback(s->conn, on_close);
        virResetLastError();
        s->watching = false;
}

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
                return fail(s, ret_reason, "reading the XML of domain %s", name ? name : "?");
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
                        return fail(s, ret_reason, "looking up domain %s", domain_name);
                r = virDomainIsActive(d) == 1 ? domain_disks(s, d, fn, opaque, ret_reason) : 0;
                virDomainFree(d);
                return r;
        }
        n = virConnectListAllDomains(s->conn, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0)
                return fail(s, ret_reason, "listing running libvirt domains");
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
                return fail(s, ret_reason, "looking up domain %s", domain_name);
        if (virDomainSuspend(d) < 0)
                r = fail(s, ret_reason, "pausing domain %s", domain_name);
        virDomainFree(d);
        return r;
}
