/* keywrap_record: the text of a key record (keywrap.h): base64 with one
 * spelling per byte string, the one-line JSON object written in its
 * fields' order, and read back strictly (known fields only, each of its
 * type and bounds, the binary ones decoded). Never logs; only bounded,
 * plain-ASCII text from a record reaches a reason. */
#include "keywrap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "keywrap_internal.h"
#include "base/json.h"
#include "base/reason.h"

#define RECORD_VERSION 1
#define BASE64_TEXT(bytes) (((bytes) + 2) / 3 * 4)
#define BASE64_TEXT_MAX BASE64_TEXT(KEYWRAP_WRAPPED_MAX)
/* The record is one flat object; nesting is refused as a wrong type. */
#define RECORD_JSON_DEPTH 2
/* Characters of an unknown field's name that a reason shows. */
#define FIELD_NAME_SHOWN 32

static const char *const record_fields[] = {"v", "alg", "kek", "nonce", "wrapped", "tag", "created"};

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

static int record_to_json(const struct keywrap_record *rec, struct json_object *object)
{
        int r = add_field(object, "v", json_object_new_int(RECORD_VERSION));

        if (r >= 0)
                r = add_field(object, "alg", json_object_new_string(KEYWRAP_ALGORITHM));
        if (r >= 0)
                r = add_field(object, "kek", json_object_new_string(rec->info.kek_id));
        if (r >= 0)
                r = add_base64(object, "nonce", rec->nonce, KEYWRAP_NONCE_BYTES);
        if (r >= 0)
                r = add_base64(object, "wrapped", rec->wrapped, rec->wrapped_len);
        if (r >= 0)
                r = add_base64(object, "tag", rec->tag, KEYWRAP_TAG_BYTES);
        if (r >= 0)
                r = add_field(object, "created", json_object_new_string(rec->info.created));
        return r;
}

int keywrap_record_write(const struct keywrap_record *rec, char *record, size_t record_size,
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
                r = field_printable(root, "created", KEYWRAP_CREATED_MAX, info->created,
                                    ret_reason);
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

static int read_binary_fields(struct json_object *root, struct keywrap_record *rec,
                              const char **ret_reason)
{
        size_t n;
        int r;

        r = read_base64(root, "nonce", KEYWRAP_NONCE_BYTES, KEYWRAP_NONCE_BYTES, rec->nonce, &n,
                        ret_reason);
        if (r >= 0)
                r = read_base64(root, "wrapped", KEYWRAP_WRAPPED_MIN, KEYWRAP_WRAPPED_MAX,
                                rec->wrapped, &rec->wrapped_len, ret_reason);
        if (r >= 0)
                r = read_base64(root, "tag", KEYWRAP_TAG_BYTES, KEYWRAP_TAG_BYTES, rec->tag, &n,
                                ret_reason);
        return r;
}

int keywrap_record_read(const char *text, struct keywrap_record *rec, const char **ret_reason)
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
        struct keywrap_record rec;
        int r = keywrap_record_read(record, &rec, ret_reason);

        if (r < 0)
                return r;
        *ret_info = rec.info;
        return 0;
}
