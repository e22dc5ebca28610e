/* The musl build of the core (make musl-check) leaves out librbd, and with
 * it the metadata key provider. This stands in for it there, and only there:
 * a config asking for it gets a clear error instead of a link failure. */
#include <errno.h>

#include "keys/keys_provider.h"
#include "base/reason.h"

static int unavailable(struct keys *k, const char *volume_id, struct ceph_image *image,
                       struct secret **ret_key, const char **ret_reason)
{
        (void)k, (void)volume_id, (void)image, (void)ret_key;
        return reason_set(-EOPNOTSUPP, ret_reason, "metadata provider is not in the musl core build");
}

const struct keys_provider keys_provider_metadata = {
        .name = "metadata",
        .lookup = unavailable,
};
