/* keys: picks the configured provider, dispatches to it, and reads key
 * files (through secretfile.h) for the providers that keep keys in files
 * (keys.h).
 *
 * Returns 0 or a negative errno; reasons are static strings or live in a
 * thread-local buffer until the thread's next keys_* call. */
#include "keys_provider.h"

#include <errno.h>
#include <stdlib.h>

#include "base/reason.h"
#include "base/secretfile.h"

static const struct keys_provider *provider_for(const struct config *c)
{
        switch (c->key_provider) {
        case KEY_PROVIDER_FILE:
                return c->key_directory ? &keys_provider_file : NULL;
        case KEY_PROVIDER_COMMAND:
                /* Absolute: the command runs in "/" and no PATH is searched. */
                if (!c->key_command || c->key_command[0] != '/' || c->key_command_timeout_ms == 0)
                        return NULL;
                return &keys_provider_command;
        case KEY_PROVIDER_METADATA:
                return c->kek_id && c->kek_file ? &keys_provider_metadata : NULL;
        default:
                return NULL;
        }
}

int keys_open(const struct config *c, struct keys **ret, const char **ret_reason)
{
        const struct keys_provider *provider = provider_for(c);
        struct keys *k;
        int r;

        /* config_load() fills these in; a half-filled config is a bug. */
        if (!provider)
                return reason_set(-EINVAL, ret_reason, "key provider settings are incomplete");
        k = calloc(1, sizeof(*k));
        if (!k)
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        k->provider = provider;
        k->config = c;
        if (provider->open) {
                r = provider->open(k, ret_reason);
                if (r < 0) {
                        keys_close(k);
                        return r;
                }
        }
        *ret = k;
        return 0;
}

void keys_close(struct keys *k)
{
        if (!k)
                return;
        if (k->provider->close)
                k->provider->close(k);
        free(k);
}

const char *keys_provider_name(const struct keys *k)
{
        return k->provider->name;
}

int keys_lookup(struct keys *k, const char *volume_id, struct ceph_image *image,
                struct secret **ret_key, const char **ret_reason)
{
        return k->provider->lookup(k, volume_id, image, ret_key, ret_reason);
}

bool keys_error_is_transient(int r)
{
        return r == -ETIMEDOUT || r == -EIO || r == -EAGAIN || r == -ENOMEM || r == -ESHUTDOWN;
}

bool keys_stored_in_image(const struct keys *k)
{
        return k->provider == &keys_provider_metadata;
}

bool keys_can_generate(const struct keys *k)
{
        return k->provider->generate && k->provider->store;
}

int keys_generate(struct keys *k, const char *volume_id, struct secret **ret_key,
                  struct keys_record *ret_record, const char **ret_reason)
{
        if (!keys_can_generate(k))
                return reason_format(-EOPNOTSUPP, ret_reason, "provider %s cannot generate keys",
                                     k->provider->name);
        return k->provider->generate(k, volume_id, ret_key, ret_record, ret_reason);
}

int keys_store(struct keys *k, const char *volume_id, struct ceph_image *image,
               const struct keys_record *record, const char **ret_reason)
{
        if (!keys_can_generate(k))
                return reason_format(-EOPNOTSUPP, ret_reason, "provider %s cannot generate keys",
                                     k->provider->name);
        return k->provider->store(k, volume_id, image, record, ret_reason);
}

int keys_read_file(const char *path, struct secret **ret_key, const char **ret_reason)
{
        return secretfile_read(path, "key file", KEYS_MIN_BYTES, KEYS_MAX_BYTES, ret_key,
                               ret_reason);
}
