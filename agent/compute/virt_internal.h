/* virt_internal: what the files of compute/virt*.c share: struct secrets
 * (the handle behind virt.h) and the helpers below. Not an interface for
 * anyone else; only these files include libvirt's headers. Each helper
 * returns 0 or a negative errno with *ret_reason set, as virt.h says. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>

#include "base/secret.h"
#include "virt.h"

struct secrets {
        virConnectPtr conn;
        bool watching;
        int secret_callback, domain_callback, device_callback;
        bool close_callback;
};

/* virt.c. For the libvirt call that just failed: its errno, and the reason
 * "<what>: <libvirt's message>". The message is copied before anything
 * else calls libvirt, which would reset it. s may be NULL (no connection
 * yet). */
int virt_fail(struct secrets *s, const char **ret_reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* virt_secrets.c. The noun a reason names a usage by ("ceph usage",
 * "volume"). */
const char *virt_usage_noun(enum virt_usage usage);
/* spec's usage and usage id, its UUID (when set) and a non-empty value:
 * -EINVAL saying which is wrong. */
int virt_check_spec(const struct virt_spec *spec, const struct secret *value,
                    const char **ret_reason);
enum virt_usage virt_usage_from_type(int type);
/* What the secret is: UUID, usage, private flag, our marks. */
int virt_secret_info(struct secrets *s, virSecretPtr secret, struct virt_info *ret,
                     const char **ret_reason);
/* The secret with this usage; -ENOENT when there is none. */
int virt_lookup_usage(struct secrets *s, enum virt_usage usage, const char *usage_id,
                      virSecretPtr *ret, const char **ret_reason);

/* virt_events.c. The callbacks virt_watch() registered on s deregistered
 * (none: no-op). */
void virt_unwatch(struct secrets *s);
