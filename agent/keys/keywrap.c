/* keywrap: AES-256-GCM wrapping of volume keys under a KEK, and the JSON
 * record that carries a wrapped key (keywrap.h). The only file that
 * includes OpenSSL.
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

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/json.h"
#include "base/reason.h"
#include "base/secretfile.h"

#define RECORD_VERSION 1
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define WRAPPED_MIN 16
#define WRAPPED_MAX 64
#define BASE64_TEXT(bytes) (((bytes) + 2) / 3 * 4)
#define BASE64_TEXT_MAX BASE64_TEXT(WRAPPED_MAX)
#define CREATED_MAX 39
/* Ours are UUIDs; the bound only keeps the associated data finite. */
#define VOLUME_ID_MAX 255
/* The record is one flat object; nesting is refused as a wrong type. */
#define RECORD_JSON_DEPTH 2
/* Characters of an unknown field's name that a reason shows. */
#define FIELD_NAME_SHOWN 32

/* sizeof includes the NUL that separates it from the KEK id. */
static const char aad_label[] = "rbd-luks-agent key v1";

#define AAD_MAX (sizeof(aad_label) + KEYWRAP_KEK_ID_MAX + 1 + VOLUME_ID_MAX)

static const char *const record_fields[] = {"v", "alg", "kek", "nonce", "wrapped", "tag", "created"};

/* A parsed record: public fields and the decoded binary ones. */
struct record {
        struct keywrap_info info;
        unsigned char nonce[NONCE_BYTES];
        unsigned char wrapped[WRAPPED_MAX];
        size_t wrapped_len;
        unsigned char tag[TAG_BYTES];
};

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

/* Sets ctx up for one wrap (encrypt 1) or unwrap (0) and feeds it the AAD.
 * The callers bound the id and volume id. */
static int cipher_start(EVP_CIPHER_CTX *ctx, int encrypt, const struct keywrap_kek *kek,
                        const unsigned char nonce[NONCE_BYTES], const char *volume_id)
{
        unsigned char aad[AAD_MAX];
        size_t aad_len = build_aad(kek->id, volume_id, aad);
        int n;

        if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) != 1 ||
            EVP_CipherInit_ex(ctx, NULL, NULL, kek->key->data, nonce, encrypt) != 1 ||
            EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
                return -EIO;
        return 0;
}

static int encrypt_key(const struct keywrap_kek *kek, const char *volume_id,
                       const struct secret *key, struct record *rec)
{
        EVP_CIPHER_CTX *ctx = NULL;
        int n, final, r = -EIO;

        if (RAND_bytes(rec->nonce, NONCE_BYTES) != 1)
                goto out;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx) {
                r = -ENOMEM;
                goto out;
        }
        if (cipher_start(ctx, 1, kek, rec->nonce, volume_id) < 0 ||
            EVP_EncryptUpdate(ctx, rec->wrapped, &n, key->data, (int)key->len) != 1 ||
            EVP_EncryptFinal_ex(ctx, rec->wrapped + n, &final) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, rec->tag) != 1)
                goto out;
        rec->wrapped_len = (size_t)n + (size_t)final;
        r = 0;
out:
        /* OpenSSL wipes the key schedule when it frees the context. */
        EVP_CIPHER_CTX_free(ctx);
        if (r < 0)
                ERR_clear_error();
        return r;
}

/* Plaintext goes straight into locked memory; on a tag mismatch the caller
 * frees (and so wipes) it unread. */
static int decrypt_key(const struct keywrap_kek *kek, const char *volume_id,
                       const struct record *rec, struct secret *key)
{
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n, final, r = -EIO;

        if (!ctx)
                return -ENOMEM;
        if (cipher_start(ctx, 0, kek, rec->nonce, volume_id) < 0 ||
            EVP_DecryptUpdate(ctx, key->data, &n, rec->wrapped, (int)rec->wrapped_len) != 1 ||
            (size_t)n != rec->wrapped_len ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)rec->tag) != 1)
                goto out;
        /* The tag comparison inside is constant time (CRYPTO_memcmp). */
        if (EVP_DecryptFinal_ex(ctx, key->data + n, &final) != 1) {
                r = -EBADMSG;
                goto out;
        }
        key->len = rec->wrapped_len;
        r = 0;
out:
        EVP_CIPHER_CTX_free(ctx);
        if (r < 0)
                ERR_clear_error();
        return r;
}

/* ---- base64 ---- */

static bool is_base64_char(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
}

static int base64_failure(const char *field, size_t min, size_t max, const char **ret_reason)
{
        if (min == max)
                return reason_format(-EBADMSG, ret_reason,
                                     "record field '%s' is not canonical base64 of %zu bytes",
                                     field, min);
        return reason_format(-EBADMSG, ret_reason,
                             "record field '%s' is not canonical base64 of %zu to %zu bytes",
                             field, min, max);
}

/* Strict: padded, only the standard alphabet, min..max bytes, and the one
 * spelling EVP_EncodeBlock gives (so no two texts carry the same bytes).
 * EVP_DecodeBlock counts '=' padding as zero bytes; the real length is
 * worked out here. out has room for max bytes. */
static int base64_decode(const char *field, const char *text, size_t length, size_t min,
                         size_t max, unsigned char *out, size_t *ret_len, const char **ret_reason)
{
        unsigned char bytes[BASE64_TEXT_MAX / 4 * 3];
        char again[BASE64_TEXT_MAX + 1];
        size_t padding = 0, n;

        if (length == 0 || length % 4 != 0 || length > BASE64_TEXT(max))
                return base64_failure(field, min, max, ret_reason);
        while (padding < 2 && text[length - 1 - padding] == '=')
                padding++;
        for (size_t i = 0; i < length - padding; i++)
                if (!is_base64_char((unsigned char)text[i]))
                        return base64_failure(field, min, max, ret_reason);
        n = length / 4 * 3 - padding;
        if (n < min || n > max)
                return base64_failure(field, min, max, ret_reason);
        if (EVP_DecodeBlock(bytes, (const unsigned char *)text, (int)length) != (int)(length / 4 * 3))
                return base64_failure(field, min, max, ret_reason);
        EVP_EncodeBlock((unsigned char *)again, bytes, (int)n);
        if (memcmp(again, text, length) != 0)
                return base64_failure(field, min, max, ret_reason);
        memcpy(out, bytes, n);
        *ret_len = n;
        return 0;
}

int keywrap_decode_base64_secret(const char *text, size_t length, size_t min, size_t max,
                                 struct secret **ret, const char **ret_reason)
{
        struct secret *out = NULL;
        size_t padding = 0;
        int r;

        if (length == 0 || length % 4 != 0 || length / 4 * 3 > SECRET_MAX_BYTES)
                return reason_set(-EBADMSG, ret_reason, "not base64 of a usable length");
        while (padding < 2 && text[length - 1 - padding] == '=')
                padding++;
        for (size_t i = 0; i < length - padding; i++)
                if (!is_base64_char((unsigned char)text[i]))
                        return reason_set(-EBADMSG, ret_reason, "not base64");
        if (length / 4 * 3 - padding < min || length / 4 * 3 - padding > max)
                return reason_format(-EBADMSG, ret_reason,
                                     "base64 of %zu bytes; expected %zu to %zu",
                                     length / 4 * 3 - padding, min, max);
        /* Straight into locked memory: this is key material. */
        r = secret_new(length / 4 * 3, &out);
        if (r < 0)
                return reason_set(r, ret_reason, "cannot get locked memory");
        if (EVP_DecodeBlock(out->data, (const unsigned char *)text, (int)length) !=
            (int)(length / 4 * 3)) {
                secret_free(out);
                return reason_set(-EBADMSG, ret_reason, "not base64");
        }
        out->len = length / 4 * 3 - padding;
        *ret = out;
        return 0;
}

/* ---- the record, JSON ---- */

static int add_field(struct json_object *object, const char *name, struct json_object *value)
{
        if (!value || json_object_object_add(object, name, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

static int add_base64(struct json_object *object, const char *name, const unsigned char *bytes,
                      size_t n)
{
        char text[BASE64_TEXT_MAX + 1];

        EVP_EncodeBlock((unsigned char *)text, bytes, (int)n);
        return add_field(object, name, json_object_new_string(text));
}

static int utc_now(char created[CREATED_MAX + 1])
{
        time_t now = time(NULL);
        struct tm tm;

        if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
            strftime(created, CREATED_MAX + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EIO;
        return 0;
}

/* The fields in the header's order; 0 or -ENOMEM. */
static int record_to_json(const struct record *rec, struct json_object *object)
{
        int r = add_field(object, "v", json_object_new_int(RECORD_VERSION));

        if (r >= 0)
                r = add_field(object, "alg", json_object_new_string(KEYWRAP_ALGORITHM));
        if (r >= 0)
                r = add_field(object, "kek", json_object_new_string(rec->info.kek_id));
        if (r >= 0)
                r = add_base64(object, "nonce", rec->nonce, NONCE_BYTES);
        if (r >= 0)
                r = add_base64(object, "wrapped", rec->wrapped, rec->wrapped_len);
        if (r >= 0)
                r = add_base64(object, "tag", rec->tag, TAG_BYTES);
        if (r >= 0)
                r = add_field(object, "created", json_object_new_string(rec->info.created));
        return r;
}

static int write_record(const struct record *rec, char *record, size_t record_size,
                        const char **ret_reason)
{
        struct json_object *object = json_object_new_object();
        const char *text;
        size_t length;
        int r;

        if (!object)
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        r = record_to_json(rec, object);
        if (r < 0) {
                r = reason_set(r, ret_reason, "out of memory");
                goto out;
        }
        /* Base64 has '/', which json-c would otherwise write as "\/". */
        text = json_object_to_json_string_ext(object, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        length = text ? strlen(text) : 0;
        if (!text)
                r = reason_set(-ENOMEM, ret_reason, "out of memory");
        else if (length >= record_size || length >= KEYWRAP_RECORD_MAX)
                r = reason_format(-EINVAL, ret_reason,
                                  "key record of %zu characters does not fit its buffer", length);
        else
                memcpy(record, text, length + 1);
out:
        json_object_put(object);
        return r;
}

int keywrap_seal(const struct keywrap_kek *kek, const char *volume_id, const struct secret *key,
                 char *record, size_t record_size, const char **ret_reason)
{
        struct record rec;
        int r;

        if (!kek_usable(kek))
                return reason_set(-EINVAL, ret_reason, "KEK is not loaded");
        if (!is_volume_id(volume_id))
                return reason_format(-EINVAL, ret_reason,
                                     "volume id must be 1 to %d characters", VOLUME_ID_MAX);
        if (!key || key->len < WRAPPED_MIN || key->len > WRAPPED_MAX)
                return reason_format(-EINVAL, ret_reason, "a wrapped key has %d to %d bytes",
                                     WRAPPED_MIN, WRAPPED_MAX);
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
        return write_record(&rec, record, record_size, ret_reason);
}

/* ---- reading a record ---- */

/* Exactly one JSON object, nothing after it. */
static int parse_json(const char *text, size_t length, struct json_object **ret,
                      const char **ret_reason)
{
        struct json_doc_status st;

        if (json_doc_parse(NULL, text, length, RECORD_JSON_DEPTH,
                           JSON_DOC_OBJECT | JSON_DOC_INPUT_ENDS, ret, &st) == 0)
                return 0;
        switch (st.error) {
        case JSON_DOC_NO_MEMORY:
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        case JSON_DOC_INCOMPLETE:
                return reason_set(-EBADMSG, ret_reason, "record is cut short");
        case JSON_DOC_TRAILING:
                return reason_set(-EBADMSG, ret_reason, "record has text after its JSON object");
        case JSON_DOC_NOT_OBJECT:
                return reason_set(-EBADMSG, ret_reason, "record is not a JSON object");
        default: /* JSON_DOC_INVALID, JSON_DOC_DEPTH: json-c's error */
                return reason_format(-EBADMSG, ret_reason,
                                     "record is not valid JSON (error at character %zu)",
                                     st.offset);
        }
}

/* A field name from the record, cut and made printable for a reason. */
static const char *printable_name(const char *name, char buf[FIELD_NAME_SHOWN + 4])
{
        size_t i;

        for (i = 0; name[i] && i < FIELD_NAME_SHOWN; i++)
                buf[i] = (name[i] >= 0x20 && name[i] < 0x7f && name[i] != '\'') ? name[i] : '?';
        if (name[i]) {
                memcpy(buf + i, "...", 3);
                i += 3;
        }
        buf[i] = '\0';
        return buf;
}

static int check_field_names(struct json_object *root, const char **ret_reason)
{
        struct json_object_iterator it = json_object_iter_begin(root);
        struct json_object_iterator end = json_object_iter_end(root);
        char name[FIELD_NAME_SHOWN + 4];

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
                const char *field = json_object_iter_peek_name(&it);
                bool known = false;

                for (size_t i = 0; i < sizeof(record_fields) / sizeof(record_fields[0]); i++)
                        known = known || strcmp(field, record_fields[i]) == 0;
                if (!known)
                        return reason_format(-EBADMSG, ret_reason,
                                             "record has an unknown field '%s'",
                                             printable_name(field, name));
        }
        for (size_t i = 0; i < sizeof(record_fields) / sizeof(record_fields[0]); i++)
                if (!json_object_object_get_ex(root, record_fields[i], NULL))
                        return reason_format(-EBADMSG, ret_reason, "record has no field '%s'",
                                             record_fields[i]);
        return 0;
}

/* The string value of field, at most max bytes; text is json-c's. */
static int field_string(struct json_object *root, const char *field, size_t max,
                        const char **ret_text, size_t *ret_len, const char **ret_reason)
{
        struct json_object *v = NULL;
        size_t length;

        json_object_object_get_ex(root, field, &v);
        if (!json_object_is_type(v, json_type_string))
                return reason_format(-EBADMSG, ret_reason, "record field '%s' is not a string",
                                     field);
        length = (size_t)json_object_get_string_len(v);
        if (length > max)
                return reason_format(-EBADMSG, ret_reason,
                                     "record field '%s' is longer than %zu characters", field, max);
        *ret_text = json_object_get_string(v);
        *ret_len = length;
        return 0;
}

/* A printable-ASCII string field copied into buf (max + 1 bytes). */
static int field_printable(struct json_object *root, const char *field, size_t max, char *buf,
                           const char **ret_reason)
{
        const char *s;
        size_t length;
        int r = field_string(root, field, max, &s, &length, ret_reason);

        if (r < 0)
                return r;
        for (size_t i = 0; i < length; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
                        return reason_format(-EBADMSG, ret_reason,
                                             "record field '%s' has a character that is not "
                                             "printable ASCII",
                                             field);
        memcpy(buf, s, length);
        buf[length] = '\0';
        return 0;
}

static int read_version(struct json_object *root, struct keywrap_info *info,
                        const char **ret_reason)
{
        struct json_object *v = NULL;
        int64_t version;

        json_object_object_get_ex(root, "v", &v);
        if (!json_object_is_type(v, json_type_int))
                return reason_set(-EBADMSG, ret_reason, "record field 'v' is not an integer");
        version = json_object_get_int64(v);
        if (version != RECORD_VERSION)
                return reason_format(-EBADMSG, ret_reason,
                                     "record has version %lld; only version %d is known",
                                     (long long)version, RECORD_VERSION);
        info->version = RECORD_VERSION;
        return 0;
}

static int read_public_fields(struct json_object *root, struct keywrap_info *info,
                              const char **ret_reason)
{
        int r = read_version(root, info, ret_reason);

        if (r >= 0)
                r = field_printable(root, "alg", sizeof(info->algorithm) - 1, info->algorithm,
                                    ret_reason);
        if (r >= 0 && strcmp(info->algorithm, KEYWRAP_ALGORITHM) != 0)
                r = reason_format(-EBADMSG, ret_reason, "record's algorithm '%s' is not %s",
                                  info->algorithm, KEYWRAP_ALGORITHM);
        if (r >= 0)
                r = field_printable(root, "kek", KEYWRAP_KEK_ID_MAX, info->kek_id, ret_reason);
        if (r >= 0 && !keywrap_is_kek_id(info->kek_id))
                r = reason_set(-EBADMSG, ret_reason,
                               "record field 'kek' is not 1 to 32 characters of A-Z a-z 0-9 _ . -");
        if (r >= 0)
                r = field_printable(root, "created", CREATED_MAX, info->created, ret_reason);
        return r;
}

static int read_base64(struct json_object *root, const char *field, size_t min, size_t max,
                       unsigned char *out, size_t *ret_len, const char **ret_reason)
{
        const char *text;
        size_t length;
        int r = field_string(root, field, BASE64_TEXT_MAX, &text, &length, ret_reason);

        if (r < 0)
                return r;
        return base64_decode(field, text, length, min, max, out, ret_len, ret_reason);
}

static int read_binary_fields(struct json_object *root, struct record *rec,
                              const char **ret_reason)
{
        size_t n;
        int r;

        r = read_base64(root, "nonce", NONCE_BYTES, NONCE_BYTES, rec->nonce, &n, ret_reason);
        if (r >= 0)
                r = read_base64(root, "wrapped", WRAPPED_MIN, WRAPPED_MAX, rec->wrapped,
                                &rec->wrapped_len, ret_reason);
        if (r >= 0)
                r = read_base64(root, "tag", TAG_BYTES, TAG_BYTES, rec->tag, &n, ret_reason);
        return r;
}

static int record_read(const char *text, struct record *rec, const char **ret_reason)
{
        struct json_object *root = NULL;
        size_t length;
        int r;

        if (!text)
                return reason_set(-EINVAL, ret_reason, "no key record given");
        length = strnlen(text, KEYWRAP_RECORD_MAX);
        if (length >= KEYWRAP_RECORD_MAX)
                return reason_format(-EBADMSG, ret_reason, "record is longer than %d characters",
                                     KEYWRAP_RECORD_MAX - 1);
        if (length == 0)
                return reason_set(-EBADMSG, ret_reason, "record is empty");
        memset(rec, 0, sizeof(*rec));
        r = parse_json(text, length, &root, ret_reason);
        if (r >= 0)
                r = check_field_names(root, ret_reason);
        if (r >= 0)
                r = read_public_fields(root, &rec->info, ret_reason);
        if (r >= 0)
                r = read_binary_fields(root, rec, ret_reason);
        json_object_put(root);
        return r;
}

int keywrap_parse(const char *record, struct keywrap_info *ret_info, const char **ret_reason)
{
        struct record rec;
        int r = record_read(record, &rec, ret_reason);

        if (r < 0)
                return r;
        *ret_info = rec.info;
        return 0;
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
        struct record rec;
        int r;

        if (!is_volume_id(volume_id))
                return reason_format(-EINVAL, ret_reason,
                                     "volume id must be 1 to %d characters", VOLUME_ID_MAX);
        r = record_read(record, &rec, ret_reason);
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
