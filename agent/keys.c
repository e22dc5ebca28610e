/* keys: picks the configured provider, dispatches to it, and reads key
 * files for the providers that keep keys in files (keys.h).
 *
 * Returns 0 or a negative errno; reasons are static strings or live in a
 * thread-local buffer until the thread's next keys_* call. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "reason.h"

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

/* The current KEK first: it wraps; all of them unwrap. */
static int load_keks(struct keys *k, const struct config *c, const char **ret_reason)
{
        int r = keywrap_load_kek(c->kek_id, c->kek_file, &k->keks[0], ret_reason);

        if (r < 0)
                return r;
        k->n_keks = 1;
        for (size_t i = 0; i < c->n_old_keks; i++) {
                r = keywrap_load_kek(c->old_kek_ids[i], c->old_kek_files[i], &k->keks[i + 1],
                                     ret_reason);
                if (r < 0)
                        return r;
                k->n_keks++;
        }
        return 0;
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
        if (provider == &keys_provider_metadata) {
                r = load_keks(k, c, ret_reason);
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
        for (size_t i = 0; i < k->n_keks; i++)
                keywrap_kek_free(k->keks[i]);
        free(k);
}

const char *keys_provider_name(const struct keys *k)
{
        return k->provider->name;
}

int keys_lookup(struct keys *k, const char *volume_id, struct rbd_image *image,
                struct secret **ret_key, const char **ret_reason)
{
        return k->provider->lookup(k, volume_id, image, ret_key, ret_reason);
}

int keys_create(struct keys *k, const char *volume_id, struct rbd_image *image,
                struct secret **ret_key, const char **ret_reason)
{
        if (!k->provider->create)
                return reason_format(-EOPNOTSUPP, ret_reason, "provider %s cannot generate keys",
                             k->provider->name);
        return k->provider->create(k, volume_id, image, ret_key, ret_reason);
}

static int open_failure(const char *path, int r, const char **ret_reason)
{
        if (r == -ENOENT)
                return reason_format(r, ret_reason, "key file %s not found", path);
        /* O_NOFOLLOW: a link could point a volume at another volume's key. */
        if (r == -ELOOP)
                return reason_format(r, ret_reason, "key file %s is a symbolic link; refusing to follow it",
                             path);
        return reason_format(r, ret_reason, "cannot open key file %s: %s", path, strerror(-r));
}

static int check_key_file(const char *path, const struct stat *st, const char **ret_reason)
{
        if (!S_ISREG(st->st_mode))
                return reason_format(-EINVAL, ret_reason, "key file %s is not a regular file", path);
        if (st->st_mode & 077)
                return reason_format(-EPERM, ret_reason,
                             "key file %s is accessible by group or others (mode %04o); "
                             "chmod 600 it",
                             path, (unsigned)(st->st_mode & 07777));
        if (st->st_size < KEYS_MIN_BYTES || st->st_size > KEYS_MAX_BYTES)
                return reason_format(-EBADMSG, ret_reason,
                             "key file %s has %lld bytes; a key has %d to %d bytes", path,
                             (long long)st->st_size, KEYS_MIN_BYTES, KEYS_MAX_BYTES);
        return 0;
}

/* Reads to end of file or until key is full, whichever comes first. */
static int read_into(int fd, struct secret *key)
{
        ssize_t n;

        while (key->len < key->capacity) {
                n = read(fd, key->data + key->len, key->capacity - key->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                key->len += (size_t)n;
        }
        return 0;
}

int keys_read_file(const char *path, struct secret **ret_key, const char **ret_reason)
{
        struct secret *key = NULL;
        struct stat st;
        int fd, r;

        /* O_NONBLOCK: a FIFO planted at the path must not hang the worker;
         * it is refused as not a regular file right after. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return open_failure(path, -errno, ret_reason);
        if (fstat(fd, &st) < 0) {
                r = reason_format(-errno, ret_reason, "cannot stat key file %s: %s", path, strerror(errno));
                goto out;
        }
        r = check_key_file(path, &st, ret_reason);
        if (r < 0)
                goto out;
        /* One byte of room more than a key may have: a file that grew after
         * fstat() is caught instead of cut short. */
        r = secret_new(KEYS_MAX_BYTES + 1, &key);
        if (r < 0) {
                r = reason_format(r, ret_reason, "cannot get locked memory for key file %s", path);
                goto out;
        }
        r = read_into(fd, key);
        if (r < 0) {
                r = reason_format(r, ret_reason, "cannot read key file %s: %s", path, strerror(-r));
                goto out;
        }
        if (key->len < KEYS_MIN_BYTES || key->len > KEYS_MAX_BYTES) {
                r = reason_format(-EBADMSG, ret_reason,
                          "key file %s changed size while being read (%zu bytes)", path, key->len);
                goto out;
        }
        *ret_key = key;
        key = NULL;
out:
        secret_free(key);
        close(fd);
        return r;
}
