/* json: one strict JSON document from a buffer (json.h). */
#include "json.h"

#include <errno.h>
#include <stdbool.h>

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* JSON_DOC_INPUT_ENDS. Trailing data is reported in the caller's words,
 * so json-c is told to allow it rather than call it an unexpected
 * character. */
static void parse_to_end(struct json_tokener *tok, const char *data, size_t length,
                         struct json_object **root, struct json_doc_status *st)
{
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        *root = json_tokener_parse_ex(tok, data, (int)length);
        st->tokener_error = json_tokener_get_error(tok);
        st->offset = json_tokener_get_parse_end(tok);
        if (!*root && st->tokener_error == json_tokener_continue) {
                *root = json_tokener_parse_ex(tok, "", 1);
                st->error = *root ? JSON_DOC_OK : JSON_DOC_INCOMPLETE;
        } else if (!*root) {
                st->error = st->tokener_error == json_tokener_error_depth ? JSON_DOC_DEPTH
                                                                          : JSON_DOC_INVALID;
        } else {
                st->error = st->offset < length ? JSON_DOC_TRAILING : JSON_DOC_OK;
        }
}

static void parse_strict(struct json_tokener *tok, const char *data, size_t length,
                         struct json_object **root, struct json_doc_status *st)
{
        enum json_tokener_error e;

        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        *root = json_tokener_parse_ex(tok, data, (int)length);
        e = st->tokener_error = json_tokener_get_error(tok);
        st->offset = json_tokener_get_parse_end(tok);
        if (!*root || e != json_tokener_success) {
                st->error = e == json_tokener_error_depth ? JSON_DOC_DEPTH
                            : e == json_tokener_success || e == json_tokener_continue
                                    ? JSON_DOC_INCOMPLETE
                                    : JSON_DOC_INVALID;
                return;
        }
        for (; st->offset < length; st->offset++)
                if (!is_space(data[st->offset])) {
                        st->error = JSON_DOC_TRAILING;
                        return;
                }
        st->offset = json_tokener_get_parse_end(tok);
        st->error = JSON_DOC_OK;
}

int json_doc_parse(struct json_tokener *tok, const char *data, size_t length, unsigned max_depth,
                   unsigned flags, struct json_object **ret, struct json_doc_status *ret_status)
{
        struct json_doc_status st = {JSON_DOC_NO_MEMORY, json_tokener_success, 0};
        struct json_tokener *own = NULL;
        struct json_object *root = NULL;

        if (!tok && !(tok = own = json_tokener_new_ex((int)max_depth))) {
                *ret_status = st;
                return -ENOMEM;
        }
        if (flags & JSON_DOC_INPUT_ENDS)
                parse_to_end(tok, data, length, &root, &st);
        else
                parse_strict(tok, data, length, &root, &st);
        if (st.error == JSON_DOC_OK && (flags & JSON_DOC_OBJECT) &&
            !json_object_is_type(root, json_type_object))
                st.error = JSON_DOC_NOT_OBJECT;
        if (own)
                json_tokener_free(own);
        *ret_status = st;
        if (st.error != JSON_DOC_OK) {
                json_object_put(root);
                return st.error == JSON_DOC_DEPTH ? -E2BIG : -EBADMSG;
        }
        *ret = root;
        return 0;
}
