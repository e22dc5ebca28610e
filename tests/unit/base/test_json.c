/* Tests for json.c: one strict JSON document from a buffer, the codes its
 * callers word their reasons from, in both readings of the input's end. */
#include "base/json.h"
#include "../unit.h"

#include <errno.h>
#include <string.h>

#define BOTH (JSON_DOC_OBJECT | JSON_DOC_INPUT_ENDS)

static enum json_doc_error parse(const char *text, unsigned depth, unsigned flags,
                                 struct json_doc_status *st)
{
        struct json_object *o = NULL;
        int r = json_doc_parse(NULL, text, strlen(text), depth, flags, &o, st);

        if (r == 0)
                json_object_put(o);
        else if (o)
                unit_fail(__FILE__, __LINE__, "*ret set on failure");
        return st->error;
}

TEST(json_doc_one_object_with_whitespace)
{
        struct json_doc_status st;
        struct json_object *o = NULL;

        CHECK(json_doc_parse(NULL, " {\"a\": 1}\r\n\t", 12, 4, BOTH, &o, &st) == 0);
        CHECK(st.error == JSON_DOC_OK);
        CHECK(o && json_object_get_int(json_object_object_get(o, "a")) == 1);
        json_object_put(o);
        CHECK(parse("{\"a\": 1} \n", 4, JSON_DOC_OBJECT, &st) == JSON_DOC_OK);
}

TEST(json_doc_input_ends)
{
        struct json_doc_status st;

        CHECK(parse("{\"a\": [1", 4, BOTH, &st) == JSON_DOC_INCOMPLETE);
        CHECK(parse("   ", 4, BOTH, &st) == JSON_DOC_INCOMPLETE);
        CHECK(parse("", 4, BOTH, &st) == JSON_DOC_INCOMPLETE);
        /* The end of input ends a top-level number: a value, not an object. */
        CHECK(parse("123", 4, BOTH, &st) == JSON_DOC_NOT_OBJECT);
        CHECK(parse("123", 4, JSON_DOC_INPUT_ENDS, &st) == JSON_DOC_OK);
        CHECK(parse("[1]", 4, BOTH, &st) == JSON_DOC_NOT_OBJECT);
        CHECK(parse("{} x", 4, BOTH, &st) == JSON_DOC_TRAILING);
        CHECK(st.offset == 3);
        CHECK(parse("{\"a\" 1}", 4, BOTH, &st) == JSON_DOC_INVALID);
        CHECK(st.offset == 5);
}

TEST(json_doc_strict_end)
{
        struct json_doc_status st;

        CHECK(parse("{\"a\": [1", 4, JSON_DOC_OBJECT, &st) == JSON_DOC_INCOMPLETE);
        CHECK(st.tokener_error == json_tokener_continue);
        CHECK(parse("123", 4, JSON_DOC_OBJECT, &st) == JSON_DOC_INCOMPLETE);
        CHECK(parse("null", 4, 0, &st) == JSON_DOC_INCOMPLETE);
        /* json-c's own strict mode calls a character after the value unexpected. */
        CHECK(parse("{} x", 4, JSON_DOC_OBJECT, &st) == JSON_DOC_INVALID);
        CHECK(st.tokener_error == json_tokener_error_parse_unexpected && st.offset == 3);
        CHECK(parse("[1] ", 4, 0, &st) == JSON_DOC_OK);
        CHECK(parse("[1] ", 4, JSON_DOC_OBJECT, &st) == JSON_DOC_NOT_OBJECT);
}

TEST(json_doc_strict_trailing_nul)
{
        struct json_doc_status st;
        struct json_object *o = NULL;

        /* A NUL ends json-c's reading; what follows is not whitespace. */
        CHECK(json_doc_parse(NULL, "{} \0 ", 5, 4, 0, &o, &st) == -EBADMSG);
        CHECK(st.error == JSON_DOC_TRAILING && st.offset == 3);
        CHECK(o == NULL);
}

TEST(json_doc_depth)
{
        struct json_doc_status st;
        struct json_object *o = NULL;

        CHECK(json_doc_parse(NULL, "{\"a\":[[1]]}", 11, 2, BOTH, &o, &st) == -E2BIG);
        CHECK(st.error == JSON_DOC_DEPTH && st.tokener_error == json_tokener_error_depth);
        CHECK(parse("{\"a\":[[1]]}", 2, JSON_DOC_OBJECT, &st) == JSON_DOC_DEPTH);
        CHECK(parse("{\"a\":[[1]]}", 4, BOTH, &st) == JSON_DOC_OK);
}

TEST(json_doc_with_a_tokener_of_the_caller)
{
        struct json_tokener *tok = json_tokener_new_ex(2);
        struct json_doc_status st;
        struct json_object *o = NULL;

        REQUIRE(tok);
        /* The tokener's own depth counts; max_depth only makes one. */
        CHECK(json_doc_parse(tok, "{\"a\":[1]}", 9, 16, BOTH, &o, &st) == -E2BIG);
        json_tokener_reset(tok);
        CHECK(json_doc_parse(tok, "{\"a\":1}", 7, 16, BOTH, &o, &st) == 0);
        CHECK(st.error == JSON_DOC_OK);
        json_object_put(o);
        json_tokener_free(tok);
}
