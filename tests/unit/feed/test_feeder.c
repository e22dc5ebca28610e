/* Unit tests for feeder_line_from_body: what a message body becomes in
 * the hook file, or why it goes to rejects.jsonl instead. (The feed loop
 * itself runs against a real broker in tests/integration/amqp_feed.sh.) */
#include "feed/feeder.h"
#include "../unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096
#define DEPTH 32

static int line_of(const char *body, size_t length, struct feeder_line *line,
                   const char **reason)
{
        *reason = NULL;
        return feeder_line_from_body(body, length, MAX_LINE, DEPTH, line, reason);
}

/* The body compacted to want, or a failure is reported. */
static bool compacts_to(const char *body, const char *want)
{
        struct feeder_line line;
        const char *reason;
        bool ok;

        if (line_of(body, strlen(body), &line, &reason) != 0) {
                fprintf(stderr, "    %s: %s\n", body, reason);
                return false;
        }
        ok = line.owned && line.length == strlen(want) && memcmp(line.data, want, line.length) == 0;
        if (!ok)
                fprintf(stderr, "    want %s\n    got  %.*s\n", want, (int)line.length, line.data);
        feeder_line_release(&line);
        return ok;
}

/* The body is rejected with err and a reason containing what. */
static bool rejected(const char *body, size_t length, int err, const char *what)
{
        struct feeder_line line;
        const char *reason;
        int r = line_of(body, length, &line, &reason);

        if (r == err && reason && strstr(reason, what) && !line.data && !line.owned)
                return true;
        fprintf(stderr, "    r=%d reason=%s (want %d, \"%s\")\n", r, reason ? reason : "(none)",
                err, what);
        feeder_line_release(&line);
        return false;
}

TEST(feeder_one_line_body_is_written_as_it_is)
{
        static const char body[] = "{\"message_id\": \"m\", \"display_name\": \"a\\nb\"}";
        struct feeder_line line;
        const char *reason;

        REQUIRE(line_of(body, strlen(body), &line, &reason) == 0);
        CHECK(line.data == body && line.length == strlen(body) && line.owned == NULL);
        feeder_line_release(&line);

        /* Not even parsed: the roles judge (and reject) such a line themselves. */
        REQUIRE(line_of("not json at all", 15, &line, &reason) == 0);
        CHECK(line.length == 15);
        feeder_line_release(&line);
        feeder_line_release(NULL);
}

TEST(feeder_multi_line_json_is_compacted)
{
        CHECK(compacts_to("{\n  \"message_id\": \"m\",\n  \"payload\": {\"x\": [1, 2.50, null]}\n}",
                          "{\"message_id\":\"m\",\"payload\":{\"x\":[1,2.50,null]}}"));
        /* Escapes inside strings stay escapes; "/" is not escaped. */
        CHECK(compacts_to("{\"a\":\n\"line\\nbreak \\u0001 / \\\"q\\\"\"}",
                          "{\"a\":\"line\\nbreak \\u0001 / \\\"q\\\"\"}"));
        /* The oslo envelope: its message is a string and stays one. */
        CHECK(compacts_to("{\"oslo.version\": \"2.0\",\r\n \"oslo.message\": \"{\\\"a\\\": 1}\"}\n",
                          "{\"oslo.version\":\"2.0\",\"oslo.message\":\"{\\\"a\\\": 1}\"}"));
        /* Trailing blank lines are fine; non-ASCII passes through. */
        CHECK(compacts_to("{\"n\": \"caf\xc3\xa9\"}\n\n", "{\"n\":\"caf\xc3\xa9\"}"));
        /* json-c takes a raw newline inside a string (and single quotes);
         * what it writes is proper JSON, the newline escaped. */
        CHECK(compacts_to("{\"a\": \"x\ny\"}", "{\"a\":\"x\\ny\"}"));
        CHECK(compacts_to("{'a':\n1}", "{\"a\":1}"));
}

TEST(feeder_bodies_that_cannot_be_one_line)
{
        char deep[200] = "";

        CHECK(rejected("", 0, -EBADMSG, "empty message body"));
        CHECK(rejected("{\"a\": \"x\0y\"}", 12, -EBADMSG, "NUL byte"));
        CHECK(rejected("hello\nworld", 11, -EBADMSG, "not JSON"));
        CHECK(rejected("[1,\n2]", 6, -EBADMSG, "not one JSON object"));
        CHECK(rejected("\"a\nb\"", 5, -EBADMSG, "not one JSON object"));
        CHECK(rejected("{}\n{}", 5, -EBADMSG, "JSON"));
        CHECK(rejected("{\"a\":\n1", 7, -EBADMSG, "not JSON"));
        CHECK(rejected("{\"a\":\n1,}", 9, -EBADMSG, "not JSON"));
        for (int i = 0; i < 40; i++)
                strcat(deep, "[");
        strcat(deep, "\n");
        for (int i = 0; i < 40; i++)
                strcat(deep, "]");
        memmove(deep + 5, deep, strlen(deep) + 1);
        memcpy(deep, "{\"a\":", 5);
        strcat(deep, "}");
        CHECK(rejected(deep, strlen(deep), -EBADMSG, "deeper than max_json_depth (32)"));
}

TEST(feeder_body_longer_than_max_line)
{
        size_t n = MAX_LINE + 1;
        char *body = malloc(n);
        struct feeder_line line;
        const char *reason;

        REQUIRE(body);
        memset(body, 'x', n);
        CHECK(rejected(body, n, -EMSGSIZE,
                       "message body of 4097 bytes exceeds max_line_bytes (4096)"));
        /* Exactly max_line is fine. */
        CHECK(line_of(body, MAX_LINE, &line, &reason) == 0 && line.length == MAX_LINE);
        feeder_line_release(&line);
        free(body);
}
