/* luks: LUKS1 headers built with libcryptsetup on an in-memory file.
 *
 * Only this file includes libcryptsetup. A header is built without any
 * block device: memfd of the payload offset's size, crypt_format(LUKS1),
 * one keyslot, bytes read back. PBKDF2 is calibrated once (luks_calibrate)
 * and every header reuses that count (no per-volume benchmark). Key slot 0
 * is written by libcryptsetup or by keyslot.c (own_keyslot). Returns 0
 * or negative errno; never logs (libcryptsetup's own messages go to
 * log_debug through its callback). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"

#define LUKS_SECTOR 512u
#define LUKS_MAGIC_LEN 6
#define LUKS_PBKDF2_MIN_ITERATIONS 1000u

struct luks_params {
        const char *cipher;      /* "aes" */
        const char *cipher_mode; /* "xts-plain64" */
        unsigned key_bytes;      /* master key: 64 for AES-256-XTS */
        const char *hash;        /* "sha256" */
        unsigned iterations;     /* PBKDF2 iterations for keyslot 0 */
        /* Key slot 0 written by keyslot.c rather than libcryptsetup, where
         * keyslot_supports() the parameters ([luks] keyslot_writer). */
        bool own_keyslot;
};

/* Route libcryptsetup's messages to the log; call once at start-up. */
void luks_setup_logging(void);

/* PBKDF2 iterations that take iter_time_ms here, never below the minimum. */
int luks_calibrate(const char *hash, unsigned key_bytes, unsigned iter_time_ms,
                   unsigned *ret_iterations);

/* Known-answer test of keyslot.c against libcryptsetup, at the minimum
 * iteration count (a few ms): a slot libcryptsetup wrote opens with
 * keyslot.c to the same master key, a slot keyslot.c wrote opens with
 * libcryptsetup, and a wrong passphrase opens neither. 0 or -EPROTO (or
 * the error that stopped it). */
int luks_self_test(void);

/* True when keyslot.c can write key slots for p's cipher, mode and hash. */
bool luks_own_keyslot_supported(const struct luks_params *p);

/* Bytes the header occupies before the payload, rounded up to alignment
 * (which must be a multiple of 512 and at least 4096). */
int luks_payload_offset(const struct luks_params *p, uint64_t alignment, uint64_t *ret_offset);

/* Builds a header whose payload starts at payload_offset (from
 * luks_payload_offset) with passphrase in keyslot 0 and a random master key.
 * *ret_header is malloc'ed, payload_offset bytes, of which only the first
 * *ret_used (phdr and keyslot areas, 4 KiB aligned) can be non-zero. It
 * holds no secret in the clear (the master key is stored only AF-split and
 * encrypted under the passphrase). */
int luks_build_header(const struct luks_params *p, uint64_t payload_offset,
                      const struct secret *passphrase, unsigned char **ret_header,
                      size_t *ret_used);

/* Bytes a LUKS1 header (buf holds its first 512 bytes) says precede the
 * payload: what luks_check_passphrase needs to see. -EINVAL if not LUKS1. */
int luks1_payload_offset_of(const unsigned char *buf, size_t len, uint64_t *ret_offset);

/* LUKS magic at the start of buf ("LUKS\xba\xbe"); *ret_version 1 or 2. */
bool luks_has_magic(const unsigned char *buf, size_t len, unsigned *ret_version);

/* Checks that passphrase opens a keyslot of the header in buf (no
 * activation): 0, -EPERM wrong passphrase, -EINVAL not LUKS. */
int luks_check_passphrase(const unsigned char *buf, size_t len, const struct secret *passphrase);

/* The header's UUID (36 chars + NUL), read from its bytes: -EINVAL not
 * LUKS, -EBADMSG no well-formed UUID there. */
int luks_header_uuid(const unsigned char *buf, size_t len, char ret_uuid[40]);
