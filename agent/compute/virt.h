/* virt: libvirt through its C API: secrets, the domains that use them and
 * the RBD disks of running domains, libvirt's events, the connection. The
 * one interface to libvirt; only compute/virt*.c and virt_internal.h
 * include libvirt's headers.
 *
 * A struct secrets is one connection (virConnectPtr) to a libvirt URI.
 * Secrets the agent defines carry an ownership mark in <description>:
 *   "rbd-luks-agent managed; created=<unix seconds>"
 * so the agent never changes or removes a secret it did not create, and
 * garbage collection knows a secret's age. Values go to libvirt straight
 * from a struct secret (locked memory) through virSecretSetValue; nothing
 * else ever holds them.
 *
 * Functions return 0 or a negative errno and set *ret_reason (reason.h)
 * when it may be NULL-checked: -ECONNREFUSED/-ENOTCONN libvirt unreachable
 * or the connection died (reconnect), -EEXIST the usage id belongs to a
 * secret the agent does not own, -ENOENT no such secret. Also: -EINVAL a
 * spec or argument out of bounds, -EACCES libvirt refused us (auth, ACL),
 * -EOPNOTSUPP the driver lacks the call (secret:///embed has no domains),
 * -EIO any other libvirt failure. Reasons carry libvirt's own message and
 * never a secret value; nothing is printed (libvirt's stderr printing is
 * switched off process-wide).
 *
 * A struct secrets is used by one thread at a time (libvirt's last-error
 * and the reason buffer are per thread). The first virt_connect()
 * registers libvirt's default event implementation, which embedded drivers
 * require; nothing runs it, so there is no keepalive: a dead daemon shows
 * on the next call as -ENOTCONN (virt_alive() may say true until
 * then). virt_connect() also sets SIGPIPE to SIG_IGN unless the program
 * handles it: libvirt writing to a dead daemon's socket would otherwise
 * kill the process.
 *
 * secret:///embed?root=DIR (libvirt's secret driver in this process) is
 * for tests only: libvirt admits one per process, ever, even after
 * virt_disconnect(), and libvirt 9.0's embedded driver jumps to a NULL
 * callback at the end of every virSecretUndefine (see test_virt.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"
#include "base/uuid.h"

#define VIRT_UUID_LEN UUID_LEN
#define VIRT_USAGE_ID_MAX 128
#define VIRT_OWNER_MARK "rbd-luks-agent managed"
/* After the mark, while the value is a placeholder that opens nothing. */
#define VIRT_PLACEHOLDER_MARK "placeholder"

struct secrets;

/* OTHER: a usage type the agent does not manage (iscsi, tls, vtpm, none);
 * virt_list() reports such secrets, every other call refuses it. */
enum virt_usage { VIRT_USAGE_CEPH, VIRT_USAGE_VOLUME, VIRT_USAGE_OTHER };

struct virt_spec {
        char uuid[VIRT_UUID_LEN + 1]; /* empty: let libvirt choose (volume secrets) */
        enum virt_usage usage;
        char usage_id[VIRT_USAGE_ID_MAX]; /* ceph: usage name; volume: the volume id */
        bool private_value;                  /* private='yes' */
        bool placeholder;                    /* the value opens nothing (yet) */
        /* The caller expects no secret for usage_id (a new volume, one just
         * undefined): define first, and look only if libvirt refuses. At
         * 10,000 secrets libvirt 9.0 walks them all for each lookup by
         * usage and each define: one walk instead of two. */
        bool absent_likely;
};

struct virt_info {
        char uuid[VIRT_UUID_LEN + 1];
        enum virt_usage usage;
        char usage_id[VIRT_USAGE_ID_MAX]; /* a longer foreign one is cut short */
        bool owned;          /* carries our mark */
        bool private_value;
        bool placeholder;    /* owned, marked as holding a placeholder */
        int64_t created;     /* from our mark; 0 when not owned */
};

/* -ECONNREFUSED when libvirt cannot be reached at uri (no daemon, no
 * socket, bad URI), -EACCES when it refuses us. *ret untouched on failure. */
/* A SASL login, for a libvirtd whose auth_tcp, auth_tls or auth_unix_rw
 * is "sasl" (Kolla's libvirt_enable_sasl): the user, and the path of a
 * file holding its password (secretfile_read_password()). The password is
 * read at each connect into locked memory and goes to libvirt only through
 * its credential callback, whose copy libvirt allocates and frees itself;
 * Cyrus SASL keeps its own copy for the connection's life.
 *
 * virt_connect(): login NULL (or its user NULL) logs in with nothing,
 * and a daemon that asks for SASL then refuses us with -EACCES and a
 * reason that says so. A password file that cannot be read fails with its
 * reason (-ENOENT, -EPERM, -EBADMSG...) before libvirt is called. */
struct virt_login {
        const char *user;
        const char *password_file;
};

int virt_connect(const char *uri, const struct virt_login *login, struct secrets **ret,
                    const char **ret_reason);
void virt_disconnect(struct secrets *s); /* NULL: no-op */
bool virt_alive(struct secrets *s);      /* NULL: false */
/* One round trip to the daemon: false when it is gone (NULL: false). */
bool virt_ping(struct secrets *s);

/* Makes the secret exist as spec says with value: defines it (owned) when
 * missing, redefines an owned one whose definition drifted (UUID, usage,
 * private flag), and sets the value when it differs or cannot be read back
 * (private). A secret with the same usage id that is not ours (Kolla or
 * TripleO define the cephx secret themselves) is left as it is: present
 * (0, unchanged) when its UUID and readable value are spec's, else
 * -EEXIST saying what differs; -EEXIST too when spec->uuid belongs to a
 * foreign secret of another usage.
 * A redefinition keeps the old created= time, and the old UUID when
 * spec->uuid is empty. A private value cannot be read back, so it is
 * written on every call and *ret_changed is then always true. When the
 * value cannot be written to a secret defined by this call, that secret
 * is undefined again. *ret_changed (may be NULL) says whether anything was
 * written; *ret_uuid (may be NULL) gets the secret's UUID (lowercase); both
 * only on success. */
int virt_ensure(struct secrets *s, const struct virt_spec *spec, const struct secret *value,
                   bool *ret_changed, char ret_uuid[VIRT_UUID_LEN + 1],
                   const char **ret_reason);

/* Defines the secret as spec says with value only when no secret has its
 * usage id (*ret_defined true); one that exists and is ours is left as it
 * is, whatever its value (*ret_defined false, *ret_existing (may be NULL)
 * says what it is), a foreign one: -EEXIST. *ret_uuid (may be NULL) gets
 * the UUID either way. */
int virt_ensure_present(struct secrets *s, const struct virt_spec *spec,
                           const struct secret *value, bool *ret_defined,
                           char ret_uuid[VIRT_UUID_LEN + 1], struct virt_info *ret_existing,
                           const char **ret_reason);

/* The secret with this usage, if any. */
int virt_find(struct secrets *s, enum virt_usage usage, const char *usage_id,
                 struct virt_info *ret, const char **ret_reason);

/* Undefines the secret with this usage; an unowned one: -EEXIST. */
int virt_remove(struct secrets *s, enum virt_usage usage, const char *usage_id,
                   const char **ret_reason);

/* Every secret libvirt has (owned or not); free with free(). */
int virt_list(struct secrets *s, struct virt_info **ret, size_t *ret_count,
                 const char **ret_reason);

/* Number of domains whose XML names this secret UUID (case-insensitive):
 * running ones only (their live XML), or all defined, running or not (the
 * persistent XML, and for a running domain also its live XML, so a disk
 * attached live only still counts). */
int virt_domains_using(struct secrets *s, const char *uuid, bool running_only,
                          unsigned *ret_count, const char **ret_reason);

/* The virConnectPtr behind s, as void * so this header stays free of
 * libvirt's. Only for tests, which must change libvirt behind this module's
 * back on the one connection an embedded driver allows. */
void *virt_libvirt_connection(struct secrets *s);

/* Watching. virt_watch() starts libvirt's default event loop on a
 * thread of its own (once per process), registers for secret lifecycle
 * events, domain lifecycle and device-added events (where the driver has
 * domains) and the connection's close, and turns on keepalive. Each event
 * becomes a notice in one process-wide queue (at most 4096; past that the
 * oldest are kept and *ret_overflowed says some were lost, so the caller
 * reconciles everything). virt_watch_fd() is readable while notices
 * wait (-1 before the first watch); virt_next_notice() pops one. The
 * callbacks never call libvirt; virt_disconnect() deregisters them. */
enum virt_notice_kind {
        VIRT_NOTICE_SECRET_UNDEFINED,
        VIRT_NOTICE_DOMAIN_CHANGED,   /* started, resumed, defined, or a device added */
        VIRT_NOTICE_CONNECTION_CLOSED,
};

struct virt_notice {
        enum virt_notice_kind kind;
        enum virt_usage usage;              /* secret notices */
        char uuid[VIRT_UUID_LEN + 1];       /* secret notices */
        char name[VIRT_USAGE_ID_MAX * 2];   /* usage id, or domain name */
};

int virt_watch(struct secrets *s, const char **ret_reason);
int virt_watch_fd(void);
bool virt_next_notice(struct virt_notice *ret, bool *ret_overflowed);

/* The RBD disks of running domains (all, or the one named), from their
 * live XML: image is the source name ("pool/image"), encrypted whether an
 * <encryption> element goes with the disk. fn's non-zero return stops the
 * walk and is returned. A named domain that is not running has none. */
struct virt_disk {
        char domain[256];
        char target[64];
        char image[512];
        bool encrypted;
};
typedef int (*virt_disk_fn)(void *opaque, const struct virt_disk *disk);
int virt_rbd_disks(struct secrets *s, const char *domain_name, virt_disk_fn fn, void *opaque,
                      const char **ret_reason);
int virt_pause_domain(struct secrets *s, const char *domain_name, const char **ret_reason);
