/* keys_provider: the interface each key provider implements (one .c file
 * per provider) and what keys.c and the providers share: struct keys and
 * the key-file reader. Only keys/ and the tests of providers include it;
 * callers use keys.h. Providers follow keys.h's error convention. */
#pragma once

#include <stdbool.h>

#include "config/config.h"
#include "keys.h"
#include "keywrap.h"
#include "base/secret.h"

struct keys_provider {
        const char *name;
        int (*lookup)(struct keys *k, const char *volume_id, struct ceph_image *image,
                      struct secret **ret_key, const char **ret_reason);
        /* A new key and its record, in memory; NULL: cannot generate. */
        int (*generate)(struct keys *k, const char *volume_id, struct secret **ret_key,
                        struct keys_record *ret_record, const char **ret_reason);
        /* Stores a record generate made (NULL with generate). */
        int (*store)(struct keys *k, const char *volume_id, struct ceph_image *image,
                     const struct keys_record *record, const char **ret_reason);
        /* What the provider loads once (the metadata provider's KEKs); NULL: nothing. */
        int (*open)(struct keys *k, const char **ret_reason);
        void (*close)(struct keys *k);
};

struct keys {
        const struct keys_provider *provider;
        const struct config *config;
        /* metadata provider: keks[0] wraps, all of them unwrap */
        struct keywrap_kek *keks[1 + CONFIG_MAX_OLD_KEKS];
        size_t n_keks;
};

extern const struct keys_provider keys_provider_file;
extern const struct keys_provider keys_provider_command;
extern const struct keys_provider keys_provider_metadata;

/* Reads one key file into locked memory: regular file, not a symbolic
 * link, no group or other permission bits, KEYS_MIN_BYTES..KEYS_MAX_BYTES
 * bytes. secretfile_read() with "key file": its errors (secretfile.h). */
int keys_read_file(const char *path, struct secret **ret_key, const char **ret_reason);
