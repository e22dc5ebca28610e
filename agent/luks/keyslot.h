/* keyslot: LUKS1 key slots written and read by the agent itself.
 *
 * libcryptsetup formats the header (phdr, UUID, master-key digest, the key
 * slots' layout); this module fills one key slot, for the combination the
 * agent formats by default: cipher "aes", mode "xts-plain64", hash "sha256",
 * a 256- or 512-bit master key, 4000 stripes. Why the agent does this
 * rather than crypt_keyslot_add_by_volume_key: docs/decisions.md ("The
 * agent writes its own key slot"). In short: the same bytes, about five
 * times sooner, because PBKDF2 is computed with the HMAC states prepared
 * once and each 32-byte block of the derived key on its own thread.
 *
 * Every secret intermediate (derived key, HMAC states, AF stripes, the
 * running diffusion value) lives in struct secret memory (locked, wiped).
 * Functions return 0 or a negative errno and never log:
 *   -EINVAL   not a LUKS1 header this module handles, or a bad argument
 *   -EPERM    (keyslot_open) the passphrase does not open the slot
 *   -EIO      (keyslot_write) the slot written does not read back
 *   -ENOMEM   no (lockable) memory */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"

#define KEYSLOT_LUKS1_SLOTS 8u
#define KEYSLOT_STRIPES 4000u
/* Output blocks of PBKDF2-HMAC-SHA256 this module computes at most
 * (4 x 32 bytes: a 1024-bit output; LUKS1 with AES-256-XTS needs 2). */
#define KEYSLOT_PBKDF2_MAX_BYTES 128u

/* True for the parameters keyslot_write handles. */
bool keyslot_supports(const char *cipher, const char *cipher_mode, const char *hash,
                      unsigned key_bytes);

/* A new random master key of key_bytes (OpenSSL's private DRBG). */
int keyslot_new_master_key(unsigned key_bytes, struct secret **ret);

/* Enables key slot `slot` of the LUKS1 header in header[0..len): the slot
 * must be disabled and laid out (key material offset, 4000 stripes) as
 * crypt_format leaves it, and its key material must lie inside len. Draws
 * a salt, derives the slot key from passphrase at iterations, stores
 * master_key AF-split and encrypted, then decrypts and merges what it
 * stored and compares it with master_key (-EIO if different) before it
 * sets the slot's fields. On failure the header's bytes are unchanged. */
int keyslot_write(unsigned char *header, size_t len, unsigned slot,
                  const struct secret *master_key, const struct secret *passphrase,
                  uint32_t iterations);

/* The master key key slot `slot` holds under passphrase, checked against
 * the header's master-key digest (-EPERM when it does not match, as for a
 * wrong passphrase; -ENOENT when the slot is disabled). */
int keyslot_open(const unsigned char *header, size_t len, unsigned slot,
                 const struct secret *passphrase, struct secret **ret_master_key);

/* PBKDF2-HMAC-SHA256 (RFC 8018): out_len (1..KEYSLOT_PBKDF2_MAX_BYTES)
 * bytes into out, which the caller keeps in secret memory. Each 32-byte
 * block after the first is computed on a thread of its own (on the calling
 * thread if one cannot be started). */
int keyslot_pbkdf2_sha256(const unsigned char *pass, size_t pass_len, const unsigned char *salt,
                          size_t salt_len, uint32_t iterations, unsigned char *out,
                          size_t out_len);
