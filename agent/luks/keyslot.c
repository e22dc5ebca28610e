/* keyslot: LUKS1 key slots from OpenSSL's primitives (keyslot.h).
 *
 * The LUKS1 on-disk format (phdr field offsets, the AF splitter with hash
 * diffusion, key material encrypted with sector IVs counted from the start
 * of the slot's area) is the published specification's; the code is ours.
 *
 * PBKDF2 is where the time goes. OpenSSL's PKCS5_PBKDF2_HMAC makes every
 * iteration a full HMAC through its EVP layer; here the HMAC key's inner
 * and outer states are computed once and each iteration is exactly two
 * SHA-256 compressions (SHA256_Transform, which uses the CPU's SHA
 * extensions where they exist). SHA256_Transform is deprecated since
 * OpenSSL 3.0, but it is still the only public one-block compression
 * function; a libcrypto built without deprecated interfaces stops the
 * build here, and [luks] keyslot_writer = libcryptsetup needs none of it.
 *
 * Why one file over 500 lines: it is one key slot of the LUKS1
 * specification, meant to be checked against it top to bottom: the
 * header's offsets, PBKDF2 (the slot's key), the AF splitter and XTS of
 * the key material, then the write and the open that chain them. The
 * parts share those offsets, the SHA-256 constants and big-endian
 * helpers, and the deprecated-interface guard above covers all of them
 * (SHA256_Init as much as SHA256_Transform); split, each file would repeat
 * the guard, and a reader would follow one slot across files. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "keyslot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#if defined(OPENSSL_NO_DEPRECATED_3_0)
#error "keyslot.c needs SHA256_Transform (libcrypto built without deprecated interfaces)"
#endif

#define SECTOR 512u
#define DIGEST 32u /* SHA-256 */
#define HMAC_BLOCK 64u
#define SALT_BYTES 32u
#define SLOT_ACTIVE 0x00AC71F3u
#define SLOT_DISABLED 0x0000DEADu

/* phdr field offsets (LUKS1 specification) */
enum {
        PHDR_VERSION = 6,
        PHDR_CIPHER_NAME = 8,
        PHDR_CIPHER_MODE = 40,
        PHDR_HASH_SPEC = 72,
        PHDR_KEY_BYTES = 108,
        PHDR_MK_DIGEST = 112,
        PHDR_MK_DIGEST_SALT = 132,
        PHDR_MK_DIGEST_ITER = 164,
        PHDR_KEYBLOCK = 208,
        PHDR_END = 592,
        FIELD_TEXT = 32,
        MK_DIGEST_BYTES = 20,
        KEYBLOCK_SIZE = 48,
        KB_ACTIVE = 0,
        KB_ITERATIONS = 4,
        KB_SALT = 8,
        KB_MATERIAL_OFFSET = 40,
        KB_STRIPES = 44,
};

static uint32_t get_be32(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
        p[0] = (unsigned char)(v >> 24);
        p[1] = (unsigned char)(v >> 16);
        p[2] = (unsigned char)(v >> 8);
        p[3] = (unsigned char)v;
}

bool keyslot_supports(const char *cipher, const char *cipher_mode, const char *hash,
                      unsigned key_bytes)
{
        return cipher && cipher_mode && hash && strcmp(cipher, "aes") == 0 &&
               strcmp(cipher_mode, "xts-plain64") == 0 && strcmp(hash, "sha256") == 0 &&
               (key_bytes == 32 || key_bytes == 64);
}

int keyslot_new_master_key(unsigned key_bytes, struct secret **ret)
{
        struct secret *k;
        int r;

        if (key_bytes == 0 || key_bytes > 64)
                return -EINVAL;
        r = secret_new(key_bytes, &k);
        if (r < 0)
                return r;
        if (RAND_priv_bytes(k->data, (int)key_bytes) != 1) {
                secret_free(k);
                return -EIO;
        }
        k->len = key_bytes;
        *ret = k;
        return 0;
}

/* ---- PBKDF2-HMAC-SHA256 --------------------------------------------------- */

/* One output block's working state: all of it derives from the passphrase.
 * Cache-line aligned: the blocks' threads write theirs every iteration, and
 * two of them sharing a line cost up to 80% more time (measured). */
#define CACHE_LINE 64u
struct pbkdf2_work {
        SHA256_CTX inner, outer, scratch;
        unsigned char key[HMAC_BLOCK]; /* the HMAC key, padded / xor'ed */
        unsigned char block[HMAC_BLOCK];
        unsigned char u[DIGEST], t[DIGEST];
} __attribute__((aligned(CACHE_LINE)));

struct pbkdf2_job {
        const unsigned char *pass, *salt;
        size_t pass_len, salt_len, out_len;
        uint32_t iterations, index;
        unsigned char *out;
        struct pbkdf2_work *work; /* in the caller's one locked mapping */
};

/* The chaining value as the digest's bytes (big-endian words); a word
 * swap and a store each, which the byte-by-byte put_be32 is not: this runs
 * twice per PBKDF2 iteration and costs a third of the time otherwise. */
static void state_to_bytes(const SHA256_CTX *c, unsigned char *out)
{
        for (unsigned i = 0; i < 8; i++) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                uint32_t be = __builtin_bswap32(c->h[i]);
#else
                uint32_t be = c->h[i];
#endif
                memcpy(out + 4 * i, &be, sizeof(be));
        }
}

static void hmac_prepare(struct pbkdf2_work *w, const unsigned char *pass, size_t pass_len)
{
        memset(w->key, 0, sizeof(w->key));
        if (pass_len > HMAC_BLOCK) {
                SHA256_Init(&w->scratch);
                SHA256_Update(&w->scratch, pass, pass_len);
                SHA256_Final(w->key, &w->scratch);
        } else if (pass_len) {
                memcpy(w->key, pass, pass_len);
        }
        for (unsigned i = 0; i < HMAC_BLOCK; i++)
                w->block[i] = w->key[i] ^ 0x36;
        SHA256_Init(&w->inner);
        SHA256_Update(&w->inner, w->block, HMAC_BLOCK);
        for (unsigned i = 0; i < HMAC_BLOCK; i++)
                w->block[i] = w->key[i] ^ 0x5c;
        SHA256_Init(&w->outer);
        SHA256_Update(&w->outer, w->block, HMAC_BLOCK);
}

static void pbkdf2_block(struct pbkdf2_work *w, const struct pbkdf2_job *j)
{
        unsigned char index[4];

        hmac_prepare(w, j->pass, j->pass_len);
        /* U1 = HMAC(P, S || INT(i)) */
        put_be32(index, j->index);
        w->scratch = w->inner;
        SHA256_Update(&w->scratch, j->salt, j->salt_len);
        SHA256_Update(&w->scratch, index, sizeof(index));
        SHA256_Final(w->u, &w->scratch);
        w->scratch = w->outer;
        SHA256_Update(&w->scratch, w->u, DIGEST);
        SHA256_Final(w->u, &w->scratch);
        memcpy(w->t, w->u, DIGEST);
        /* Un = HMAC(P, Un-1): a 32-byte message after the key's block is one
         * padded block (0x80, zeros, bit length 768) per compression. */
        memset(w->block, 0, sizeof(w->block));
        w->block[DIGEST] = 0x80;
        w->block[HMAC_BLOCK - 2] = 0x03;
        /* Only the chaining value (h) of scratch is read or written by
         * SHA256_Transform: copying just that keeps the loop at the cost of
         * its two compressions. */
        memcpy(w->block, w->u, DIGEST);
        for (uint32_t n = 1; n < j->iterations; n++) {
                memcpy(w->scratch.h, w->inner.h, sizeof(w->scratch.h));
                SHA256_Transform(&w->scratch, w->block);
                state_to_bytes(&w->scratch, w->block);
                memcpy(w->scratch.h, w->outer.h, sizeof(w->scratch.h));
                SHA256_Transform(&w->scratch, w->block);
                state_to_bytes(&w->scratch, w->block);
                for (unsigned i = 0; i < DIGEST; i++)
                        w->t[i] ^= w->block[i];
        }
        memcpy(j->out, w->t, j->out_len);
}

static void *pbkdf2_thread(void *arg)
{
        struct pbkdf2_job *j = arg;

        pbkdf2_block(j->work, j);
        return NULL;
}

int keyslot_pbkdf2_sha256(const unsigned char *pass, size_t pass_len, const unsigned char *salt,
                          size_t salt_len, uint32_t iterations, unsigned char *out,
                          size_t out_len)
{
        enum { MAX_BLOCKS = KEYSLOT_PBKDF2_MAX_BYTES / DIGEST };
        struct pbkdf2_job jobs[MAX_BLOCKS];
        pthread_t threads[MAX_BLOCKS];
        bool started[MAX_BLOCKS] = {false};
        struct secret *work = NULL;
        struct pbkdf2_work *states;
        pthread_attr_t attr;
        size_t blocks;
        int r;

        if (!out || out_len == 0 || out_len > KEYSLOT_PBKDF2_MAX_BYTES || iterations == 0 ||
            (pass_len && !pass) || (salt_len && !salt))
                return -EINVAL;
        blocks = (out_len + DIGEST - 1) / DIGEST;
        /* One locked page for every block's state (locked memory is a
         * per-process budget, RLIMIT_MEMLOCK, shared by all workers). */
        _Static_assert(MAX_BLOCKS * sizeof(struct pbkdf2_work) + CACHE_LINE <= SECRET_MAX_BYTES,
                       "PBKDF2 work must fit one secret");
        r = secret_new(blocks * sizeof(struct pbkdf2_work) + CACHE_LINE, &work);
        if (r < 0)
                return r;
        states = (struct pbkdf2_work *)(((uintptr_t)work->data + CACHE_LINE - 1) &
                                        ~(uintptr_t)(CACHE_LINE - 1));
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        for (size_t b = 0; b < blocks; b++) {
                jobs[b] = (struct pbkdf2_job){
                        .pass = pass,
                        .pass_len = pass_len,
                        .salt = salt,
                        .salt_len = salt_len,
                        .iterations = iterations,
                        .index = (uint32_t)b + 1,
                        .out = out + b * DIGEST,
                        .out_len = b + 1 < blocks ? DIGEST : out_len - b * DIGEST,
                        .work = states + b,
                };
                if (b > 0)
                        started[b] = pthread_create(&threads[b], &attr, pbkdf2_thread,
                                                    &jobs[b]) == 0;
        }
        pthread_attr_destroy(&attr);
        for (size_t b = 0; b < blocks; b++) {
                if (!started[b])
                        pbkdf2_thread(&jobs[b]);
        }
        for (size_t b = 0; b < blocks; b++)
                if (started[b])
                        pthread_join(threads[b], NULL);
        secret_free(work);
        return 0;
}

/* ---- key slots ------------------------------------------------------------ */

/* Where a slot's fields and key material are, once the header is checked. */
struct slot_view {
        unsigned key_bytes;
        uint32_t stripes;
        size_t material_offset, material_len;
        size_t keyblock; /* offset of the slot's 48-byte descriptor */
};

/* Everything secret a slot operation holds. */
struct slot_work {
        SHA256_CTX sha;
        unsigned char derived[64];     /* the slot's XTS key */
        unsigned char d[64];           /* the AF splitter's running value */
        unsigned char sector[SECTOR];  /* stripes of one sector in the clear */
        unsigned char digest[DIGEST];
        unsigned char master_key[64];  /* as merged from the slot */
};

static bool text_field_is(const unsigned char *h, size_t offset, const char *want)
{
        const unsigned char *f = h + offset;

        return memchr(f, '\0', FIELD_TEXT) && strcmp((const char *)f, want) == 0;
}

static int view_slot(const unsigned char *h, size_t len, unsigned slot, struct slot_view *v)
{
        static const unsigned char magic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
        uint64_t end;

        if (!h || len < PHDR_END || slot >= KEYSLOT_LUKS1_SLOTS || memcmp(h, magic, 6) != 0 ||
            h[PHDR_VERSION] != 0 || h[PHDR_VERSION + 1] != 1 ||
            !text_field_is(h, PHDR_CIPHER_NAME, "aes") ||
            !text_field_is(h, PHDR_CIPHER_MODE, "xts-plain64") ||
            !text_field_is(h, PHDR_HASH_SPEC, "sha256"))
                return -EINVAL;
        v->key_bytes = get_be32(h + PHDR_KEY_BYTES);
        v->keyblock = PHDR_KEYBLOCK + (size_t)slot * KEYBLOCK_SIZE;
        v->stripes = get_be32(h + v->keyblock + KB_STRIPES);
        if ((v->key_bytes != 32 && v->key_bytes != 64) || v->stripes != KEYSLOT_STRIPES)
                return -EINVAL;
        v->material_offset = (size_t)get_be32(h + v->keyblock + KB_MATERIAL_OFFSET) * SECTOR;
        v->material_len = (size_t)v->key_bytes * v->stripes;
        end = (uint64_t)v->material_offset + v->material_len;
        if (v->material_offset < PHDR_END || end > len)
                return -EINVAL;
        return 0;
}

/* LUKS1's diffusion: each 32-byte block of d becomes SHA-256(be32(i) || block). */
static void diffuse(struct slot_work *w, unsigned key_bytes)
{
        unsigned char index[4];

        for (unsigned i = 0; i < key_bytes / DIGEST; i++) {
                put_be32(index, i);
                SHA256_Init(&w->sha);
                SHA256_Update(&w->sha, index, sizeof(index));
                SHA256_Update(&w->sha, w->d + i * DIGEST, DIGEST);
                SHA256_Final(w->digest, &w->sha);
                memcpy(w->d + i * DIGEST, w->digest, DIGEST);
        }
}

/* Every stripe but the last: d = diffuse(d XOR stripe). */
static void fold_stripe(struct slot_work *w, const unsigned char *stripe, unsigned key_bytes)
{
        for (unsigned i = 0; i < key_bytes; i++)
                w->d[i] ^= stripe[i];
        diffuse(w, key_bytes);
}

static void xor_bytes(unsigned char *out, const unsigned char *a, const unsigned char *b,
                      size_t n)
{
        for (size_t i = 0; i < n; i++)
                out[i] = a[i] ^ b[i];
}

/* Sets up ctx for aes-xts with the derived key; plain64 IVs come per sector. */
static int xts_init(EVP_CIPHER_CTX *ctx, const struct slot_work *w, unsigned key_bytes, int enc)
{
        const EVP_CIPHER *cipher = key_bytes == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts();

        return EVP_CipherInit_ex(ctx, cipher, NULL, w->derived, NULL, enc) == 1 ? 0 : -EIO;
}

static int xts_sector(EVP_CIPHER_CTX *ctx, uint64_t sector, const unsigned char *in,
                      unsigned char *out)
{
        unsigned char iv[16] = {0};
        int n = 0;

        for (unsigned i = 0; i < 8; i++)
                iv[i] = (unsigned char)(sector >> (8 * i));
        if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1 ||
            EVP_CipherUpdate(ctx, out, &n, in, SECTOR) != 1 || n != (int)SECTOR)
                return -EIO;
        return 0;
}

/* AF-splits master_key into v->stripes stripes and encrypts them, one
 * sector at a time so no more than a sector of stripes is in the clear. */
static int split_and_encrypt(struct slot_work *w, EVP_CIPHER_CTX *ctx, const struct slot_view *v,
                             const unsigned char *master_key, unsigned char *out)
{
        unsigned per_sector = SECTOR / v->key_bytes;
        size_t sectors = v->material_len / SECTOR;

        memset(w->d, 0, sizeof(w->d));
        for (size_t s = 0; s < sectors; s++) {
                if (RAND_priv_bytes(w->sector, SECTOR) != 1)
                        return -EIO;
                for (unsigned k = 0; k < per_sector; k++) {
                        unsigned char *stripe = w->sector + k * v->key_bytes;

                        if (s * per_sector + k + 1 < v->stripes)
                                fold_stripe(w, stripe, v->key_bytes);
                        else
                                xor_bytes(stripe, w->d, master_key, v->key_bytes);
                }
                if (xts_sector(ctx, s, w->sector, out + s * SECTOR) < 0)
                        return -EIO;
        }
        return 0;
}

/* The inverse: decrypts the key material and merges it into w->master_key. */
static int decrypt_and_merge(struct slot_work *w, EVP_CIPHER_CTX *ctx, const struct slot_view *v,
                             const unsigned char *in)
{
        unsigned per_sector = SECTOR / v->key_bytes;
        size_t sectors = v->material_len / SECTOR;

        memset(w->d, 0, sizeof(w->d));
        for (size_t s = 0; s < sectors; s++) {
                if (xts_sector(ctx, s, in + s * SECTOR, w->sector) < 0)
                        return -EIO;
                for (unsigned k = 0; k < per_sector; k++) {
                        const unsigned char *stripe = w->sector + k * v->key_bytes;

                        if (s * per_sector + k + 1 < v->stripes)
                                fold_stripe(w, stripe, v->key_bytes);
                        else
                                xor_bytes(w->master_key, w->d, stripe, v->key_bytes);
                }
        }
        return 0;
}

/* 0 when key matches the header's master-key digest, -EPERM otherwise. */
static int check_digest(struct slot_work *w, const unsigned char *h, const unsigned char *key,
                        unsigned key_bytes)
{
        uint32_t iterations = get_be32(h + PHDR_MK_DIGEST_ITER);
        int r;

        if (iterations == 0)
                return -EINVAL;
        r = keyslot_pbkdf2_sha256(key, key_bytes, h + PHDR_MK_DIGEST_SALT, SALT_BYTES, iterations,
                                  w->digest, MK_DIGEST_BYTES);
        if (r < 0)
                return r;
        return CRYPTO_memcmp(w->digest, h + PHDR_MK_DIGEST, MK_DIGEST_BYTES) == 0 ? 0 : -EPERM;
}

/* Key material for slot v from passphrase into out (material_len bytes),
 * read back and compared with master_key. */
static int build_material(struct slot_work *w, const struct slot_view *v,
                          const struct secret *master_key, const struct secret *passphrase,
                          const unsigned char *salt, uint32_t iterations, unsigned char *out)
{
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int r;

        if (!ctx)
                return -ENOMEM;
        r = keyslot_pbkdf2_sha256(passphrase->data, passphrase->len, salt, SALT_BYTES, iterations,
                                  w->derived, v->key_bytes);
        if (r >= 0)
                r = xts_init(ctx, w, v->key_bytes, 1);
        if (r >= 0)
                r = split_and_encrypt(w, ctx, v, master_key->data, out);
        if (r >= 0)
                r = xts_init(ctx, w, v->key_bytes, 0);
        if (r >= 0)
                r = decrypt_and_merge(w, ctx, v, out);
        if (r >= 0 && CRYPTO_memcmp(w->master_key, master_key->data, v->key_bytes) != 0)
                r = -EIO;
        EVP_CIPHER_CTX_free(ctx);
        return r;
}

int keyslot_write(unsigned char *header, size_t len, unsigned slot,
                  const struct secret *master_key, const struct secret *passphrase,
                  uint32_t iterations)
{
        unsigned char salt[SALT_BYTES], *material = NULL;
        struct secret *work = NULL;
        struct slot_view v;
        int r;

        r = view_slot(header, len, slot, &v);
        if (r < 0)
                return r;
        if (!master_key || master_key->len != v.key_bytes || !passphrase || iterations == 0 ||
            get_be32(header + v.keyblock + KB_ACTIVE) != SLOT_DISABLED)
                return -EINVAL;
        r = secret_new(sizeof(struct slot_work), &work);
        if (r < 0)
                return r;
        /* The header must be the one made for this master key (a key that
         * is not is a bad argument; running out of memory is not). */
        r = check_digest((struct slot_work *)work->data, header, master_key->data, v.key_bytes);
        if (r == -EPERM)
                r = -EINVAL;
        if (r < 0)
                goto out;
        material = malloc(v.material_len);
        if (!material) {
                r = -ENOMEM;
                goto out;
        }
        if (RAND_bytes(salt, sizeof(salt)) != 1) {
                r = -EIO;
                goto out;
        }
        r = build_material((struct slot_work *)work->data, &v, master_key, passphrase, salt,
                           iterations, material);
        if (r < 0)
                goto out;
        memcpy(header + v.material_offset, material, v.material_len);
        put_be32(header + v.keyblock + KB_ITERATIONS, iterations);
        memcpy(header + v.keyblock + KB_SALT, salt, sizeof(salt));
        put_be32(header + v.keyblock + KB_ACTIVE, SLOT_ACTIVE);
out:
        free(material);
        secret_free(work);
        return r;
}

int keyslot_open(const unsigned char *header, size_t len, unsigned slot,
                 const struct secret *passphrase, struct secret **ret_master_key)
{
        EVP_CIPHER_CTX *ctx = NULL;
        struct secret *work = NULL, *key = NULL;
        struct slot_work *w;
        struct slot_view v;
        uint32_t iterations;
        int r;

        r = view_slot(header, len, slot, &v);
        if (r < 0)
                return r;
        if (!passphrase || !ret_master_key)
                return -EINVAL;
        if (get_be32(header + v.keyblock + KB_ACTIVE) != SLOT_ACTIVE)
                return -ENOENT;
        iterations = get_be32(header + v.keyblock + KB_ITERATIONS);
        if (iterations == 0)
                return -EINVAL;
        r = secret_new(sizeof(struct slot_work), &work);
        if (r < 0)
                return r;
        w = (struct slot_work *)work->data;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx) {
                r = -ENOMEM;
                goto out;
        }
        r = keyslot_pbkdf2_sha256(passphrase->data, passphrase->len,
                                  header + v.keyblock + KB_SALT, SALT_BYTES, iterations,
                                  w->derived, v.key_bytes);
        if (r >= 0)
                r = xts_init(ctx, w, v.key_bytes, 0);
        if (r >= 0)
                r = decrypt_and_merge(w, ctx, &v, header + v.material_offset);
        if (r >= 0)
                r = check_digest(w, header, w->master_key, v.key_bytes);
        if (r >= 0)
                r = secret_new(v.key_bytes, &key);
        if (r < 0)
                goto out;
        memcpy(key->data, w->master_key, v.key_bytes);
        key->len = v.key_bytes;
        *ret_master_key = key;
out:
        EVP_CIPHER_CTX_free(ctx);
        secret_free(work);
        return r;
}
