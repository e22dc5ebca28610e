/* keyring: the cephx key of one entity from a Ceph keyring file.
 *
 * A keyring is INI-like: "[client.cinder]" then "key = <base64>" (and caps
 * lines). The file is read into locked memory and the key decoded there;
 * the raw key bytes are what a libvirt ceph secret holds (libvirt hands
 * them to qemu as base64 again). Returns 0 or a negative errno with
 * *ret_reason: -ENOENT no file / no such entity / no key line, -EBADMSG
 * not a cephx key, -EFBIG file larger than KEYRING_MAX_BYTES. */
#pragma once

#include "base/secret.h"

#define KEYRING_MAX_BYTES 4000
#define KEYRING_KEY_MIN 16
#define KEYRING_KEY_MAX 64

int keyring_read_key(const char *path, const char *entity, struct secret **ret_key,
                     const char **ret_reason);
