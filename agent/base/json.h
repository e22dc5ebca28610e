/* json: one JSON document parsed from a buffer by json-c's tokener in
 * strict mode, within a nesting limit; what went wrong is handed back as
 * a code for the caller to word (each document has its own words: a
 * hook-file line, an AMQP body, a key record, config.json, the health
 * file). No logging. */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

enum json_doc_error {
        JSON_DOC_OK,
        JSON_DOC_NO_MEMORY,  /* no tokener could be made */
        JSON_DOC_DEPTH,      /* nested deeper than the limit */
        JSON_DOC_INVALID,    /* json-c's error (tokener_error) where it stopped (offset) */
        JSON_DOC_INCOMPLETE, /* input ended inside the document; see the flags */
        JSON_DOC_TRAILING,   /* more than whitespace after the document (offset) */
        JSON_DOC_NOT_OBJECT, /* one value, not an object (with JSON_DOC_OBJECT) */
};

struct json_doc_status {
        enum json_doc_error error;
        enum json_tokener_error tokener_error; /* json-c's, as it stopped */
        size_t offset; /* json-c's parse end; for TRAILING without
                        * JSON_DOC_INPUT_ENDS, the first byte after the
                        * document that is not whitespace */
};

/* The document must be an object: JSON_DOC_NOT_OBJECT otherwise. */
#define JSON_DOC_OBJECT 1u
/* The input ends at length (a hook-file line, a key record): when json-c
 * wants more, it is told so (a NUL byte, json_tokener.h), which ends a
 * top-level number; anything else is JSON_DOC_INCOMPLETE. json-c stops at
 * the end of the value and the whitespace after it, and whatever is left
 * is JSON_DOC_TRAILING.
 * Without it (an AMQP body, config.json, the health file) json-c's own
 * strict reading stands: input that ends early, and a JSON null (no
 * object), is JSON_DOC_INCOMPLETE with tokener_error json_tokener_continue
 * or json_tokener_success; a character after the value is json-c's
 * JSON_DOC_INVALID (json_tokener_error_parse_unexpected). */
#define JSON_DOC_INPUT_ENDS 2u

/* Parses data[0..length) (length at most INT_MAX; a NUL byte in it ends
 * json-c's reading: callers that may see one refuse it first) with tok,
 * reset and ready, or with a tokener of max_depth made and freed here when
 * tok is NULL. 0 and *ret (a reference for the caller), or -ENOMEM
 * (JSON_DOC_NO_MEMORY), -E2BIG (JSON_DOC_DEPTH) or -EBADMSG (the others)
 * with *ret untouched; *ret_status says which, always. */
int json_doc_parse(struct json_tokener *tok, const char *data, size_t length, unsigned max_depth,
                   unsigned flags, struct json_object **ret, struct json_doc_status *ret_status);
