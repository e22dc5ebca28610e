/* provider_file: the "file" provider, one key per volume in
 * <key_directory>/<volume_id>.key, raw key bytes, mode 0600 (keys.h).
 * It only looks keys up; another tool puts them there. */
#include "keys_provider.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "base/uuid.h"
#include "base/reason.h"

static char lowercase(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int file_lookup(struct keys *k, const char *volume_id, struct ceph_image *image,
                       struct secret **ret_key,
                       const char **ret_reason)
{
        char path[PATH_MAX], id[37];
        int n;

        (void)image;
        /* The id becomes part of a path: anything but a UUID could leave
         * the directory ("../x") before the file system is even asked. */
        if (!uuid_is_valid(volume_id)) {
                return reason_set(-EINVAL, ret_reason,
                                  "volume id is not a UUID; no key file looked up");
        }
        /* Cinder's ids are lowercase; so are the file names. */
        for (int i = 0; i < 37; i++)
                id[i] = lowercase(volume_id[i]);
        n = snprintf(path, sizeof(path), "%s/%s.key", k->config->key_directory, id);
        if (n < 0 || (size_t)n >= sizeof(path)) {
                return reason_format(-ENAMETOOLONG, ret_reason,
                                     "key file path for volume %s is longer than %d bytes", id,
                                     PATH_MAX - 1);
        }
        return keys_read_file(path, ret_key, ret_reason);
}

const struct keys_provider keys_provider_file = {
        .name = "file",
        .lookup = file_lookup,
        .generate = NULL,
};
