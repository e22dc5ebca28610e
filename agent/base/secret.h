/* secret: memory for keys and passphrases.
 *
 * Each secret lives in its own anonymous mapping that is mlock'ed, excluded
 * from core dumps (MADV_DONTDUMP) and wiped before it is unmapped, so key
 * bytes never reach swap, a core file or a recycled heap chunk. Functions
 * return 0 or a negative errno; secret_free(NULL) is a no-op. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SECRET_MAX_BYTES 4096

struct secret {
        size_t len;      /* bytes in use */
        size_t capacity; /* bytes available in data */
        unsigned char *data;
};

/* A zeroed secret with room for capacity bytes (1..SECRET_MAX_BYTES).
 * -ENOMEM also when the memory cannot be locked (RLIMIT_MEMLOCK). */
int secret_new(size_t capacity, struct secret **ret);
void secret_free(struct secret *s);

/* A new secret holding the lowercase hex of s (OpenStack's passphrase form),
 * without a terminating NUL in len but with one after it. */
int secret_to_hex(const struct secret *s, struct secret **ret);

/* Constant time in the length of the buffers. */
bool secret_equal(const struct secret *a, const struct secret *b);

/* Process-wide hardening: no core dumps, not ptrace-attachable by peers;
 * and the soft RLIMIT_MEMLOCK raised to the hard one. */
int secret_harden_process(void);

/* Bytes this process may lock (RLIMIT_MEMLOCK, soft); SIZE_MAX: no limit.
 * Each secret takes at least a page of it. */
size_t secret_lock_limit(void);
