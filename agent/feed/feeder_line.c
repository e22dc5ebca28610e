/* feeder_line: the line a message body becomes (feeder.h,
 * feeder_line_from_body): a body without a newline as it is, one with
 * newlines parsed as one JSON object and written again compactly, or the
 * reason it cannot be a line. Never logs. */
#include "feeder.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/reason.h"

/* One JSON object (json-c, strict mode) in body[0..length), then only blanks. */
static int parse_object(const char *body, size_t length, unsigned max_depth,
                        json_object **ret, const char **ret_reason)
{
        struct json_doc_status st;
        enum json_tokener_error e;

        if (json_doc_parse(NULL, body, length, max_depth, JSON_DOC_OBJECT, ret, &st) == 0)
                return 0;
        e = st.tokener_error;
        if (st.error == JSON_DOC_NO_MEMORY)
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        if (st.error == JSON_DOC_DEPTH)
                return reason_format(-EBADMSG, ret_reason,
                                     "body holds a newline and is JSON nested deeper "
                                     "than max_json_depth (%u)",
                                     max_depth);
        if (st.error == JSON_DOC_INVALID || st.error == JSON_DOC_INCOMPLETE)
                return reason_format(-EBADMSG, ret_reason,
                                     "body holds a newline and is not JSON (%s)",
                                     e == json_tokener_success ? "incomplete"
                                                               : json_tokener_error_desc(e));
        return reason_set(-EBADMSG, ret_reason,
                          "body holds a newline and is not one JSON object");
}

static int compact_line(const char *body, size_t length, size_t max_line, unsigned max_depth,
                        struct feeder_line *ret, const char **ret_reason)
{
        json_object *o = NULL;
        const char *text;
        size_t n;
        int r;

        r = parse_object(body, length, max_depth, &o, ret_reason);
        if (r < 0)
                return r;
        text = json_object_to_json_string_length(
                o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        if (!text) {
                r = reason_set(-ENOMEM, ret_reason, "out of memory");
        } else if (n > max_line) {
                r = reason_format(-EMSGSIZE, ret_reason,
                                  "compact JSON of %zu bytes exceeds max_line_bytes (%zu)", n,
                                  max_line);
        } else if (memchr(text, '\n', n) || memchr(text, '\0', n)) {
                /* json-c escapes both; never write a broken line anyway. */
                r = reason_set(-EBADMSG, ret_reason, "compact JSON still holds a newline");
        } else {
                ret->owned = malloc(n ? n : 1);
                if (!ret->owned) {
                        r = reason_set(-ENOMEM, ret_reason, "out of memory");
                } else {
                        memcpy(ret->owned, text, n);
                        ret->data = ret->owned;
                        ret->length = n;
                }
        }
        json_object_put(o);
        return r;
}

int feeder_line_from_body(const char *body, size_t length, size_t max_line,
                          unsigned max_depth, struct feeder_line *ret, const char **ret_reason)
{
        *ret = (struct feeder_line){0};
        if (length == 0)
                return reason_set(-EBADMSG, ret_reason, "empty message body");
        if (length > max_line)
                return reason_format(-EMSGSIZE, ret_reason,
                                     "message body of %zu bytes exceeds max_line_bytes (%zu)",
                                     length, max_line);
        if (memchr(body, '\0', length))
                return reason_set(-EBADMSG, ret_reason, "message body holds a NUL byte");
        if (!memchr(body, '\n', length)) {
                ret->data = body;
                ret->length = length;
                return 0;
        }
        return compact_line(body, length, max_line, max_depth, ret, ret_reason);
}

void feeder_line_release(struct feeder_line *line)
{
        if (!line)
                return;
        free(line->owned);
        *line = (struct feeder_line){0};
}
