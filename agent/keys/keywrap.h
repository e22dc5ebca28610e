/* keywrap: volume keys wrapped with a key-encryption key (KEK), so a key
 * can travel with its volume in RBD image metadata. In keys/, only
 * keywrap.c and keywrap_record.c include OpenSSL.
 *
 * Algorithm: AES-256-GCM, a fresh random 96-bit nonce per wrap, 128-bit tag.
 * Associated data: "rbd-luks-agent key v1", NUL, kek_id, NUL, volume_id —
 * so a record copied to another volume, or relabelled with another KEK id,
 * does not open. The record is one line of JSON text (image metadata values
 * are strings):
 *   {"v":1,"alg":"AES-256-GCM","kek":"<id>","nonce":"<base64>",
 *    "wrapped":"<base64>","tag":"<base64>","created":"<UTC ISO-8601>"}
 *
 * Functions return 0 or a negative errno and set *ret_reason (reason.h):
 * -EBADMSG malformed record, tag mismatch (tampered, another volume's, or
 * wrong KEK bytes), or KEK file not exactly 32 bytes; -ENOKEY the record's
 * KEK id is not among those given; -EINVAL bad argument (bad id, no KEK
 * file) or KEK file not a regular file; KEK files otherwise fail as
 * secretfile_read() does (secretfile.h: -ENOENT, -ELOOP, -EPERM...). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/secret.h"

#define KEYWRAP_KEK_BYTES 32
#define KEYWRAP_KEY_BYTES 32
#define KEYWRAP_KEK_ID_MAX 32 /* [A-Za-z0-9_.-], 1..32 chars */
#define KEYWRAP_RECORD_MAX 512
#define KEYWRAP_ALGORITHM "AES-256-GCM"

struct keywrap_kek {
        char id[KEYWRAP_KEK_ID_MAX + 1];
        struct secret *key; /* KEYWRAP_KEK_BYTES, locked memory */
};

/* Reads a KEK file: regular file (not a symlink), no group/other
 * permission bits, exactly 32 bytes. secretfile_read() with "KEK file". */
int keywrap_load_kek(const char *id, const char *path, struct keywrap_kek **ret,
                     const char **ret_reason);
void keywrap_kek_free(struct keywrap_kek *kek);

/* A new random volume key of KEYWRAP_KEY_BYTES from OpenSSL's CSPRNG. */
int keywrap_generate_key(struct secret **ret_key);

/* Wraps key for volume_id under kek into record (NUL-terminated). */
int keywrap_seal(const struct keywrap_kek *kek, const char *volume_id, const struct secret *key,
                 char *record, size_t record_size, const char **ret_reason);

struct keywrap_info {
        unsigned version;
        char algorithm[16];
        char kek_id[KEYWRAP_KEK_ID_MAX + 1];
        char created[40];
};

/* Reads a record's public fields; needs no KEK, checks the record's form. */
int keywrap_parse(const char *record, struct keywrap_info *ret_info, const char **ret_reason);

/* Unwraps record for volume_id with the KEK whose id the record names. */
int keywrap_open(struct keywrap_kek *const *keks, size_t n_keks, const char *volume_id,
                 const char *record, struct secret **ret_key, const char **ret_reason);

bool keywrap_is_kek_id(const char *id);

/* Decodes padded standard base64 (length bytes of text) of min..max bytes
 * into locked memory: for keys kept as base64 elsewhere (Ceph keyrings). */
int keywrap_decode_base64_secret(const char *text, size_t length, size_t min, size_t max,
                                 struct secret **ret, const char **ret_reason);
