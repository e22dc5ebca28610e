/* keywrap_internal: what keywrap.c (KEKs, the AES-256-GCM wrap) and
 * keywrap_record.c (the record's text) share: the sizes of a record's
 * binary fields and the parsed record. Not an interface for anyone else. */
#pragma once

#include <stddef.h>

#include "keywrap.h"

#define KEYWRAP_NONCE_BYTES 12
#define KEYWRAP_TAG_BYTES 16
#define KEYWRAP_WRAPPED_MIN 16
#define KEYWRAP_WRAPPED_MAX 64
#define KEYWRAP_CREATED_MAX 39

/* A parsed record: public fields and the decoded binary ones. */
struct keywrap_record {
        struct keywrap_info info;
        unsigned char nonce[KEYWRAP_NONCE_BYTES];
        unsigned char wrapped[KEYWRAP_WRAPPED_MAX];
        size_t wrapped_len;
        unsigned char tag[KEYWRAP_TAG_BYTES];
};

/* rec as one line of JSON text into record (record_size bytes with its
 * NUL); 0, or -ENOMEM, -EINVAL (it does not fit), with a reason. */
int keywrap_record_write(const struct keywrap_record *rec, char *record, size_t record_size,
                         const char **ret_reason);
/* A record's text parsed and checked, its binary fields decoded into rec;
 * 0, or -EINVAL (none given), -EBADMSG (malformed), with a reason. */
int keywrap_record_read(const char *text, struct keywrap_record *rec, const char **ret_reason);
