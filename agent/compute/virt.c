/* virt: libvirt through its C API (virt.h): the connection, with a SASL
 * login through libvirt's credential callback; liveness and ping; libvirt's
 * errors as an errno and a reason (virt_fail(), virt_internal.h). The
 * secrets are in virt_secrets.c and virt_ensure.c, the events in
 * virt_events.c, the disks of running domains in virt_domains.c.
 *
 * Errors: 0 or a negative errno plus a reason "<what>: <libvirt's message>". */
#include "virt_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "base/reason.h"
#include "base/secretfile.h"

#define SECRETS_URI_MAX 1024

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

int virt_fail(struct secrets *s, const char **ret_reason, const char *fmt, ...)
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
                r = virt_fail(NULL, ret_reason,
                              "cannot log in to libvirt at %s as %s (it asked for credential type %d, "
                              "which the agent does not have)",
                              uri, login->user, answer.unanswered);
        else
                r = virt_fail(NULL, ret_reason, "cannot log in to libvirt at %s as %s", uri,
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
                                virt_fail(NULL, ret_reason,
                                          "cannot connect to libvirt at %s (it asks for a SASL login: "
                                          "set [compute] sasl_user and sasl_password_file)",
                                          uri);
                                return -EACCES;
                        }
                        r = virt_fail(NULL, ret_reason, "cannot connect to libvirt at %s", uri);
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
        virt_unwatch(s);
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
