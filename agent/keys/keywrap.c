/* keywrap: volume keys wrapped under a KEK (keywrap.h): KEK files
 * loaded, keys generated, AES-256-GCM wrap and unwrap with the associated
 * data that binds a record to its volume and KEK id. The record's text
 * (base64, JSON) is keywrap_record.c's.
 *
 * Returns 0 or a negative errno with a reason (reason.h); never logs. Key
 * bytes, KEKs and every buffer OpenSSL decrypts into are struct secret.
 * Only bounded, plain-ASCII text from a record reaches a reason. */
#include "keywrap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "keywrap_internal.h"
#include "base/reason.h"
#include "base/secretfile.h"

/* Ours are UUIDs; the bound only keeps the associated data finite. */
#define VOLUME_ID_MAX 255

/* sizeof includes the NUL that separates it from the KEK id. */
static const char aad_label[] = "rbd-luks-agent key v1";

#define AAD_MAX (sizeof(aad_label) + KEYWRAP_KEK_ID_MAX + 1 + VOLUME_ID_MAX)

static bool is_id_char(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
}

bool keywrap_is_kek_id(const char *id)
{
        size_t length;

        if (!id)
                return false;
        length = strnlen(id, KEYWRAP_KEK_ID_MAX + 1);
        if (length == 0 || length > KEYWRAP_KEK_ID_MAX)
                return false;
        for (size_t i = 0; i < length; i++)
                if (!is_id_char((unsigned char)id[i]))
                        return false;
        return true;
}

static bool is_volume_id(const char *volume_id)
{
        size_t length;

        if (!volume_id)
                return false;
        length = strnlen(volume_id, VOLUME_ID_MAX + 1);
        return length > 0 && length <= VOLUME_ID_MAX;
}

/* ---- KEK files ---- */

int keywrap_load_kek(const char *id, const char *path, struct keywrap_kek **ret,
                     const char **ret_reason)
{
        struct keywrap_kek *kek;
        int r;

        if (!keywrap_is_kek_id(id))
                return reason_set(-EINVAL, ret_reason,
                                  "KEK id must be 1 to 32 characters of A-Z a-z 0-9 _ . -");
        kek = calloc(1, sizeof(*kek));
        if (!kek)
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        r = secretfile_read(path, "KEK file", KEYWRAP_KEK_BYTES, KEYWRAP_KEK_BYTES, &kek->key,
                            ret_reason);
        if (r < 0) {
                keywrap_kek_free(kek);
                return r;
        }
        memcpy(kek->id, id, strlen(id) + 1);
        *ret = kek;
        return 0;
}

void keywrap_kek_free(struct keywrap_kek *kek)
{
        if (!kek)
                return;
        secret_free(kek->key);
        free(kek);
}

int keywrap_generate_key(struct secret **ret_key)
{
        struct secret *key = NULL;
        int r;

        r = secret_new(KEYWRAP_KEY_BYTES, &key);
        if (r < 0)
                return r;
        if (RAND_priv_bytes(key->data, KEYWRAP_KEY_BYTES) != 1) {
                ERR_clear_error();
                secret_free(key);
                return -EIO;
        }
        key->len = KEYWRAP_KEY_BYTES;
        *ret_key = key;
        return 0;
}

/* ---- AES-256-GCM ---- */

static bool kek_usable(const struct keywrap_kek *kek)
{
        return kek && kek->key && kek->key->len == KEYWRAP_KEK_BYTES && keywrap_is_kek_id(kek->id);
}

/* label NUL kek_id NUL volume_id: binds the record to its KEK id and volume. */
static size_t build_aad(const char *kek_id, const char *volume_id, unsigned char aad[AAD_MAX])
{
        size_t id_len = strlen(kek_id), volume_len = strlen(volume_id);
        size_t n = 0;

        memcpy(aad, aad_label, sizeof(aad_label));
        n += sizeof(aad_label);
        memcpy(aad + n, kek_id, id_len + 1);
        n += id_len + 1;
        memcpy(aad + n, volume_id, volume_len);
        return n + volume_len;
}

/* The end of one wrap or unwrap: the context freed (OpenSSL wipes the key
 * schedule with it) and, on failure, OpenSSL's error queue emptied. */
static int cipher_end(EVP_CIPHER_CTX *ctx, int r)
{
        EVP_CIPHER_CTX_free(ctx);
        if (r < 0)
                ERR_clear_error();
        return r;
}

/* Sets ctx up for one wrap (encrypt 1) or unwrap (0) and feeds it the AAD.
 * The callers bound the id and volume id. */
static int cipher_start(EVP_CIPHER_CTX *ctx, int encrypt, const struct keywrap_kek *kek,
                        const unsigned char nonce[KEYWRAP_NONCE_BYTES], const char *volume_id)
{
        unsigned char aad[AAD_MAX];
        size_t aad_len = build_aad(kek->id, volume_id, aad);
        int n;

        if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KEYWRAP_NONCE_BYTES, NULL) != 1 ||
            EVP_CipherInit_ex(ctx, NULL, NULL, kek->key->data, nonce, encrypt) != 1 ||
            EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
                return -EIO;
        return 0;
}

static int encrypt_key(const struct keywrap_kek *kek, const char *volume_id,
                       const struct secret *key, struct keywrap_record *rec)
{
        EVP_CIPHER_CTX *ctx = NULL;
        int n, final, r = -EIO;

        if (RAND_bytes(rec->nonce, KEYWRAP_NONCE_BYTES) != 1)
                goto out;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx) {
                r = -ENOMEM;
                goto out;
        }
        if (cipher_start(ctx, 1, kek, rec->nonce, volume_id) < 0 ||
            EVP_EncryptUpdate(ctx, rec->wrapped, &n, key->data, (int)key->len) != 1 ||
            EVP_EncryptFinal_ex(ctx, rec->wrapped + n, &final) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KEYWRAP_TAG_BYTES, rec->tag) != 1)
                goto out;
        rec->wrapped_len = (size_t)n + (size_t)final;
        r = 0;
out:
        return cipher_end(ctx, r);
}

/* Plaintext goes straight into locked memory; on a tag mismatch the caller
 * frees (and so wipes) it unread. */
static int decrypt_key(const struct keywrap_kek *kek, const char *volume_id,
                       const struct keywrap_record *rec, struct secret *key)
{
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n, final, r = -EIO;

        if (!ctx)
                return -ENOMEM;
        if (cipher_start(ctx, 0, kek, rec->nonce, volume_id) < 0 ||
            EVP_DecryptUpdate(ctx, key->data, &n, rec->wrapped, (int)rec->wrapped_len) != 1 ||
            (size_t)n != rec->wrapped_len ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KEYWRAP_TAG_BYTES,
                                (void *)rec->tag) != 1)
                goto out;
        /* The tag comparison inside is constant time (CRYPTO_memcmp). */
        if (EVP_DecryptFinal_ex(ctx, key->data + n, &final) != 1) {
                r = -EBADMSG;
                goto out;
        }
        key->len = rec->wrapped_len;
        r = 0;
out:
        return cipher_end(ctx, r);
}


static int utc_now(char created[KEYWRAP_CREATED_MAX + 1])
{
        time_t now = time(NULL);
        struct tm tm;

        if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
            strftime(created, KEYWRAP_CREATED_MAX + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EIO;
        return 0;
}

/* The fields in the header's order; 0 or -ENOMEM. */

int keywrap_seal(const struct keywrap_kek *kek, const char *volume_id, const struct secret *key,
                 char *record, size_t record_size, const char **ret_reason)
{
        struct keywrap_record rec;
        int r;

        if (!kek_usable(kek))
                return reason_set(-EINVAL, ret_reason, "KEK is not loaded");
        if (!is_volume_id(volume_id))
                return reason_format(-EINVAL, ret_reason,
                                     "volume id must be 1 to %d characters", VOLUME_ID_MAX);
        if (!key || key->len < KEYWRAP_WRAPPED_MIN || key->len > KEYWRAP_WRAPPED_MAX)
                return reason_format(-EINVAL, ret_reason, "a wrapped key has %d to %d bytes",
                                     KEYWRAP_WRAPPED_MIN, KEYWRAP_WRAPPED_MAX);
        if (!record)
                return reason_set(-EINVAL, ret_reason, "no buffer for the key record");
        memset(&rec, 0, sizeof(rec));
        memcpy(rec.info.kek_id, kek->id, strlen(kek->id) + 1);
        r = utc_now(rec.info.created);
        if (r < 0)
                return reason_set(r, ret_reason, "cannot read the clock");
        r = encrypt_key(kek, volume_id, key, &rec);
        if (r < 0)
                return reason_format(r, ret_reason, "cannot wrap the key with KEK '%s'", kek->id);
        return keywrap_record_write(&rec, record, record_size, ret_reason);
}

static const struct keywrap_kek *find_kek(struct keywrap_kek *const *keks, size_t n_keks,
                                          const char *id)
{
        for (size_t i = 0; keks && i < n_keks; i++)
                if (keks[i] && strcmp(keks[i]->id, id) == 0)
                        return keks[i];
        return NULL;
}

int keywrap_open(struct keywrap_kek *const *keks, size_t n_keks, const char *volume_id,
                 const char *record, struct secret **ret_key, const char **ret_reason)
{
        const struct keywrap_kek *kek;
        struct secret *key = NULL;
        struct keywrap_record rec;
        int r;

        if (!is_volume_id(volume_id))
                return reason_format(-EINVAL, ret_reason,
                                     "volume id must be 1 to %d characters", VOLUME_ID_MAX);
        r = keywrap_record_read(record, &rec, ret_reason);
        if (r < 0)
                return r;
        kek = find_kek(keks, n_keks, rec.info.kek_id);
        if (!kek)
                return reason_format(-ENOKEY, ret_reason,
                                     "key was wrapped with KEK '%s', which is not configured",
                                     rec.info.kek_id);
        if (!kek_usable(kek))
                return reason_format(-EINVAL, ret_reason, "KEK '%s' is not loaded", kek->id);
        r = secret_new(rec.wrapped_len, &key);
        if (r < 0)
                return reason_set(r, ret_reason, "cannot get locked memory for the key");
        r = decrypt_key(kek, volume_id, &rec, key);
        if (r == -EBADMSG)
                r = reason_format(r, ret_reason,
                                  "wrapped key does not authenticate with KEK '%s' (record "
                                  "tampered with, copied from another volume, or wrong KEK file)",
                                  kek->id);
        else if (r < 0)
                r = reason_format(r, ret_reason, "cannot unwrap the key with KEK '%s'", kek->id);
        if (r < 0) {
                secret_free(key);
                return r;
        }
        *ret_key = key;
        return 0;
}
