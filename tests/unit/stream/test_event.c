/* Tests for event.c: Cinder notifications as they reach the hook file, in
 * the oslo envelope and bare, and every way a line can be refused. */
#include "stream/event.h"
#include "../unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define DEPTH 32
#define LINE_MAX_TEST 8192

#define VID "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\""
#define VID_PLAIN "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64"
#define TYPE_ID "\"6b1c3a4e-1f2d-4e5a-9c8b-7d6e5f4a3b2c\""
#define TYPE_PLAIN "6b1c3a4e-1f2d-4e5a-9c8b-7d6e5f4a3b2c"

enum form { RAW, BARE, ENVELOPE };

struct sample {
        const char *name;
        enum form form;
        const char *text; /* RAW: the whole line; BARE/ENVELOPE: the event_type */
        /* BARE/ENVELOPE: JSON spliced into the payload; NULL leaves the key out. */
        const char *volume_id;
        const char *volume_type;
        const char *size;
        size_t length; /* RAW: bytes of text (0: strlen); else keep only this many */
        int r;
        const char *reason; /* expected on failure */
        /* Expected on success. */
        bool is_volume;
        const char *volume_id_out;
        const char *volume_type_out; /* NULL: has_volume_type false */
        uint64_t size_out;
};

/* The field set of cinder/volume/volume_utils.py _usage_from_volume plus
 * what oslo.messaging's AMQP driver adds. */
static size_t cinder_notification(char *buf, size_t size, const char *event_type,
                                  const char *volume_id, const char *volume_type,
                                  const char *volume_size)
{
        char id_field[128] = "", type_field[128] = "", size_field[128] = "";
        int n;

        if (volume_id)
                snprintf(id_field, sizeof(id_field), "\"volume_id\": %s, ", volume_id);
        if (volume_type)
                snprintf(type_field, sizeof(type_field), "\"volume_type\": %s, ", volume_type);
        if (volume_size)
                snprintf(size_field, sizeof(size_field), "\"size\": %s, ", volume_size);
        n = snprintf(buf, size,
                     "{\"message_id\": \"a3c1e0d4-6f1b-4f7e-9b8a-2c5d7e9f1a2b\", "
                     "\"publisher_id\": \"volume.cinder-volume-1@ceph#ceph\", "
                     "\"event_type\": \"%s\", \"priority\": \"INFO\", "
                     "\"payload\": {\"tenant_id\": \"5f3c2b1a0e9d4c8b7a6f5e4d3c2b1a09\", "
                     "\"host\": \"cinder-volume-1@ceph#ceph\", "
                     "\"user_id\": \"9a8b7c6d5e4f40312a1b2c3d4e5f6a7b\", "
                     "\"availability_zone\": \"nova\", %s%s"
                     "\"display_name\": \"db-data\", "
                     "\"launched_at\": \"2024-05-02T10:11:12+00:00\", "
                     "\"created_at\": \"2024-05-02T10:11:10+00:00\", \"status\": \"available\", "
                     "\"snapshot_id\": null, %s\"replication_status\": null, \"metadata\": {}, "
                     "\"volume_attachment\": []}, "
                     "\"timestamp\": \"2024-05-02 10:11:12.345678\", "
                     "\"_context_request_id\": \"req-7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928\", "
                     "\"_context_user_id\": \"9a8b7c6d5e4f40312a1b2c3d4e5f6a7b\", "
                     "\"_context_project_id\": \"5f3c2b1a0e9d4c8b7a6f5e4d3c2b1a09\", "
                     "\"_context_roles\": [\"member\", \"reader\"], \"_context_is_admin\": false, "
                     "\"_context_read_deleted\": \"no\", \"_context_show_deleted\": false, "
                     "\"_context_auth_token\": \"gAAAAABmM1x2\", "
                     "\"_unique_id\": \"8f0e1d2c3b4a49586f7e8d9c0b1a2f3e\"}",
                     event_type, id_field, type_field, size_field);
        return (size_t)n;
}

/* What oslo.messaging's messagingv2 driver writes: the notification as a
 * JSON string inside an object. */
static size_t envelope(char *buf, size_t size, const char *inner, size_t inner_length)
{
        size_t n = (size_t)snprintf(buf, size, "{\"oslo.version\": \"2.0\", \"oslo.message\": \"");

        for (size_t i = 0; i < inner_length && n + 3 < size; i++) {
                if (inner[i] == '"' || inner[i] == '\\')
                        buf[n++] = '\\';
                buf[n++] = inner[i];
        }
        n += (size_t)snprintf(buf + n, size - n, "\"}");
        return n;
}

static size_t build(const struct sample *s, char *buf, size_t size)
{
        char inner[LINE_MAX_TEST];
        size_t n;

        if (s->form == RAW) {
                n = s->length ? s->length : strlen(s->text);
                memcpy(buf, s->text, n);
                return n;
        }
        n = cinder_notification(inner, sizeof(inner), s->text, s->volume_id, s->volume_type,
                                s->size);
        if (s->form == ENVELOPE)
                n = envelope(buf, size, inner, n);
        else
                memcpy(buf, inner, n);
        return s->length ? s->length : n;
}

static const struct sample samples[] = {
        {"bare create.end", BARE, "volume.create.end", VID, TYPE_ID, "10", 0, 0, NULL, true,
         VID_PLAIN, TYPE_PLAIN, 10},
        {"envelope create.end", ENVELOPE, "volume.create.end", VID, TYPE_ID, "10", 0, 0, NULL, true,
         VID_PLAIN, TYPE_PLAIN, 10},
        {"uppercase uuid", ENVELOPE, "volume.create.end",
         "\"0D3C8D5E-6B9A-4F0E-8C2A-5B1E7D9F3A64\"", TYPE_ID, "1", 0, 0, NULL, true, VID_PLAIN,
         TYPE_PLAIN, 1},
        {"null volume_type", BARE, "volume.create.end", VID, "null", "20", 0, 0, NULL, true,
         VID_PLAIN, NULL, 20},
        {"absent volume_type", ENVELOPE, "volume.create.end", VID, NULL, "20", 0, 0, NULL, true,
         VID_PLAIN, NULL, 20},
        {"largest size", BARE, "volume.create.end", VID, TYPE_ID, "1048576", 0, 0, NULL, true,
         VID_PLAIN, TYPE_PLAIN, 1048576},
        {"named volume type", BARE, "volume.create.end", VID, "\"ceph-luks_2.x\"", "5", 0, 0, NULL,
         true, VID_PLAIN, "ceph-luks_2.x", 5},
        {"delete without size", BARE, "volume.delete.start", VID, TYPE_ID, NULL, 0, 0, NULL, true,
         VID_PLAIN, TYPE_PLAIN, 0},
        {"missing size", ENVELOPE, "volume.create.end", VID, TYPE_ID, NULL, .r = -EINVAL,
         .reason = "payload.size is missing"},
        {"null size", BARE, "volume.create.end", VID, TYPE_ID, "null", .r = -EINVAL,
         .reason = "payload.size is missing"},
        {"size as string", BARE, "volume.create.end", VID, TYPE_ID, "\"10\"", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size zero", BARE, "volume.create.end", VID, TYPE_ID, "0", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size negative", ENVELOPE, "volume.create.end", VID, TYPE_ID, "-1", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size fraction", BARE, "volume.create.end", VID, TYPE_ID, "1.5", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size 10.0", BARE, "volume.create.end", VID, TYPE_ID, "10.0", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size huge", BARE, "volume.create.end", VID, TYPE_ID, "99999999999999999999", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size huge negative", BARE, "volume.create.end", VID, TYPE_ID, "-99999999999999999999",
         .r = -EINVAL, .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size 2^64 + 1", BARE, "volume.create.end", VID, TYPE_ID, "18446744073709551617",
         .r = -EINVAL, .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size exponent", BARE, "volume.create.end", VID, TYPE_ID, "1e1", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size 1e30", BARE, "volume.create.end", VID, TYPE_ID, "1e30", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size NaN", BARE, "volume.create.end", VID, TYPE_ID, "NaN", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"size one past limit", BARE, "volume.create.end", VID, TYPE_ID, "1048577", .r = -EINVAL,
         .reason = "payload.size is not an integer between 1 and 1048576"},
        {"bad size on other volume event", BARE, "volume.resize.end", VID, TYPE_ID, "true",
         .r = -EINVAL, .reason = "payload.size is not an integer between 1 and 1048576"},
        {"bad uuid", BARE, "volume.create.end", "\"not-a-uuid\"", TYPE_ID, "10", .r = -EINVAL,
         .reason = "payload.volume_id is not a UUID"},
        {"uuid too long", ENVELOPE, "volume.create.end",
         "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a640\"", TYPE_ID, "10", .r = -EINVAL,
         .reason = "payload.volume_id is not a UUID"},
        {"uuid path traversal", BARE, "volume.create.end", "\"../../../../etc/passwd\"", TYPE_ID,
         "10", .r = -EINVAL, .reason = "payload.volume_id is not a UUID"},
        {"volume_id a number", BARE, "volume.create.end", "42", TYPE_ID, "10", .r = -EINVAL,
         .reason = "payload.volume_id is not a string"},
        {"volume_id missing", BARE, "volume.create.end", NULL, TYPE_ID, "10", .r = -EINVAL,
         .reason = "payload.volume_id is missing"},
        {"volume_type bad character", BARE, "volume.create.end", VID, "\"a/b\"", "10", .r = -EINVAL,
         .reason = "payload.volume_type contains a character other than A-Z a-z 0-9 _ . -"},
        {"volume_type empty", BARE, "volume.create.end", VID, "\"\"", "10", .r = -EINVAL,
         .reason = "payload.volume_type is empty"},
        {"volume_type too long", BARE, "volume.create.end", VID,
         "\"0123456789012345678901234567890123456789012345678901234567890123\"", "10", .r = -EINVAL,
         .reason = "payload.volume_type is longer than 63 characters"},
        {"volume_type a number", BARE, "volume.create.end", VID, "7", "10", .r = -EINVAL,
         .reason = "payload.volume_type is not a string"},
        {"truncated bare", BARE, "volume.create.end", VID, TYPE_ID, "10", .length = 300,
         .r = -EINVAL, .reason = "not valid JSON (truncated)"},
        {"truncated envelope", ENVELOPE, "volume.create.end", VID, TYPE_ID, "10", .length = 300,
         .r = -EINVAL, .reason = "not valid JSON (truncated)"},
        {"non-volume event", RAW,
         "{\"event_type\": \"compute.instance.create.end\", \"payload\": [1, {\"size\": \"x\"}]}",
         .is_volume = false},
        {"non-volume event without payload", RAW, "{\"event_type\": \"identity.authenticate\"}",
         .is_volume = false},
        {"volume_type.create is not a volume event", RAW,
         "{\"event_type\": \"volume_type.create\", \"payload\": 1}", .is_volume = false},
        {"trailing whitespace", RAW, "{\"event_type\": \"x\"} \t\r\n", .is_volume = false},
        {"not JSON", RAW, "hello", .r = -EINVAL, .reason = "not valid JSON (error at byte 0)"},
        /* json-c 0.16 lets a single-quoted name through, even when strict. */
        {"single quotes", RAW, "{'event_type': 'x'}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 15)"},
        {"trailing comma", RAW, "{\"event_type\": \"x\",}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 19)"},
        {"array", RAW, "[{\"event_type\": \"x\"}]", .r = -EINVAL, .reason = "not a JSON object"},
        {"scalar", RAW, "123", .r = -EINVAL, .reason = "not a JSON object"},
        {"string", RAW, "\"volume.create.end\"", .r = -EINVAL, .reason = "not a JSON object"},
        {"trailing garbage", RAW, "{\"event_type\": \"x\"} garbage", .r = -EINVAL,
         .reason = "trailing data after the JSON object"},
        {"two objects", RAW, "{\"event_type\": \"x\"}{\"event_type\": \"y\"}", .r = -EINVAL,
         .reason = "trailing data after the JSON object"},
        {"NUL byte", RAW, "{\"event_type\": \"x\"}\0", .length = 20, .r = -EINVAL,
         .reason = "line contains a NUL byte"},
        {"NUL byte inside", RAW, "{\"event_type\": \"x\0y\"}", .length = 21, .r = -EINVAL,
         .reason = "line contains a NUL byte"},
        {"empty line", RAW, "", .r = -EINVAL, .reason = "line is empty"},
        {"blank line", RAW, "  \t\r\n", .r = -EINVAL, .reason = "line is empty"},
        {"empty object", RAW, "{}", .r = -EINVAL, .reason = "missing event_type"},
        {"event_type a number", RAW, "{\"event_type\": 7}", .r = -EINVAL,
         .reason = "event_type is not a string"},
        {"event_type null", RAW, "{\"event_type\": null}", .r = -EINVAL,
         .reason = "event_type is not a string"},
        {"event_type empty", RAW, "{\"event_type\": \"\"}", .r = -EINVAL,
         .reason = "event_type is empty"},
        {"event_type control character", RAW, "{\"event_type\": \"volume.create.end\\n\"}",
         .r = -EINVAL, .reason = "event_type contains a character that is not printable ASCII"},
        {"event_type escaped NUL", RAW, "{\"event_type\": \"volume.\\u0000\"}", .r = -EINVAL,
         .reason = "event_type contains a character that is not printable ASCII"},
        {"message_id too long", RAW,
         "{\"event_type\": \"x\", \"message_id\": "
         "\"0123456789012345678901234567890123456789012345678901234567890123\"}",
         .r = -EINVAL, .reason = "message_id is longer than 63 characters"},
        {"message_id a number", RAW, "{\"event_type\": \"x\", \"message_id\": 5}", .r = -EINVAL,
         .reason = "message_id is not a string"},
        {"missing payload", RAW, "{\"event_type\": \"volume.create.end\"}", .r = -EINVAL,
         .reason = "missing payload"},
        {"payload a string", RAW, "{\"event_type\": \"volume.create.end\", \"payload\": \"x\"}",
         .r = -EINVAL, .reason = "payload is not an object"},
        {"status too long", RAW,
         "{\"event_type\": \"volume.delete.end\", \"payload\": {\"volume_id\": " VID
         ", \"status\": \"0123456789012345678901234567890123\"}}",
         .r = -EINVAL, .reason = "payload.status is longer than 31 characters"},
        {"oslo.message not a string", RAW,
         "{\"oslo.version\": \"2.0\", \"oslo.message\": {\"event_type\": \"x\"}}", .r = -EINVAL,
         .reason = "oslo.message is not a string"},
        {"oslo.version unknown", RAW,
         "{\"oslo.version\": \"1.0\", \"oslo.message\": \"{\\\"event_type\\\": \\\"x\\\"}\"}",
         .r = -EINVAL, .reason = "oslo.version is not \"2.0\""},
        {"envelope without version", RAW, "{\"oslo.message\": \"{\\\"event_type\\\": \\\"x\\\"}\"}",
         .is_volume = false},
        {"inner invalid", RAW, "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{not json\"}",
         .r = -EINVAL, .reason = "oslo.message is not valid JSON (error at byte 1)"},
        {"inner truncated", RAW,
         "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"event_type\\\": \"}", .r = -EINVAL,
         .reason = "oslo.message is not valid JSON (truncated)"},
        {"inner array", RAW, "{\"oslo.version\": \"2.0\", \"oslo.message\": \"[]\"}", .r = -EINVAL,
         .reason = "oslo.message is not a JSON object"},
        {"inner empty", RAW, "{\"oslo.version\": \"2.0\", \"oslo.message\": \"\"}", .r = -EINVAL,
         .reason = "oslo.message is empty"},
        {"inner trailing data", RAW,
         "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"event_type\\\": \\\"x\\\"} x\"}",
         .r = -EINVAL, .reason = "oslo.message has trailing data after the JSON object"},
        {"inner NUL byte", RAW,
         "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"event_type\\\": "
         "\\\"x\\\"}\\u0000\"}",
         .r = -EINVAL, .reason = "oslo.message contains a NUL byte"},
        {"leading zero", RAW, "{\"event_type\": \"x\", \"a\": 01}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 27)"},
        /* Strict json-c 0.16 still takes "1." and NaN; fields the agent
         * keeps are checked again (see "size fraction", "size 10.0"). */
        {"number without fraction digits (json-c allows)", RAW,
         "{\"event_type\": \"x\", \"a\": 1.}", .is_volume = false},
        {"number without exponent digits", RAW, "{\"event_type\": \"x\", \"a\": 1e}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 27)"},
        {"number starting with a dot", RAW, "{\"event_type\": \"x\", \"a\": .5}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 25)"},
        {"number with plus", RAW, "{\"event_type\": \"x\", \"a\": +1}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 25)"},
        {"NaN (json-c allows)", RAW, "{\"event_type\": \"x\", \"a\": NaN}", .is_volume = false},
        {"numbers of every shape", RAW,
         "{\"event_type\": \"x\", \"a\": [0, -0, -0.5e+10, 1E5, 2e-3, 123456789012345678901234]}",
         .is_volume = false},
        {"misspelt literal", RAW, "{\"event_type\": \"x\", \"a\": tru}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 28)"},
        {"literal cut short", RAW, "{\"event_type\": \"x\", \"a\": nul", .r = -EINVAL,
         .reason = "not valid JSON (truncated)"},
        /* json-c lets raw control characters through; the field check stops them. */
        {"raw tab in a string", RAW, "{\"event_type\": \"a\tb\"}", .r = -EINVAL,
         .reason = "event_type contains a character that is not printable ASCII"},
        {"unknown escape", RAW, "{\"event_type\": \"a\\xb\"}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 18)"},
        {"bad unicode escape", RAW, "{\"event_type\": \"a\\u12G4\"}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 21)"},
        {"name not a string", RAW, "{1: 2}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 1)"},
        {"missing colon", RAW, "{\"event_type\" \"x\"}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 14)"},
        {"missing comma", RAW, "{\"event_type\": \"x\" \"a\": 1}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 19)"},
        {"array trailing comma", RAW, "{\"event_type\": \"x\", \"a\": [1,]}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 28)"},
        {"mismatched brackets", RAW, "{\"event_type\": \"x\", \"a\": [1}}", .r = -EINVAL,
         .reason = "not valid JSON (error at byte 27)"},
        {"escaped names are decoded", RAW, "{\"event\\u005ftype\": \"volume.create.end\"}",
         .r = -EINVAL, .reason = "missing payload"},
        {"escaped event_type is decoded", RAW, "{\"event_type\": \"comp\\u0075te.x\\/y\"}",
         .is_volume = false},
        {"last duplicate wins", RAW,
         "{\"event_type\": \"volume.create.end\", \"event_type\": \"compute.x\"}",
         .is_volume = false},
        {"non-ASCII event_type", RAW, "{\"event_type\": \"volume.cr\\u00e9ate\"}", .r = -EINVAL,
         .reason = "event_type contains a character that is not printable ASCII"},
        {"event_type too long", RAW,
         "{\"event_type\": \"x0123456789012345678901234567890123456789012345678901234567890123"
         "456789012345678901234567890123456789012345678901234567890123456\"}",
         .r = -EINVAL, .reason = "event_type is longer than 127 characters"},
        {"nested containers", RAW,
         "{\"event_type\": \"x\", \"a\": [[{\"b\": []}], {}, [], \"\", {\"\": null}]}",
         .is_volume = false},
        {"inner missing event_type", RAW,
         "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"event\\\": \\\"x\\\"}\"}",
         .r = -EINVAL, .reason = "missing event_type"},
};

static bool check_sample(const struct sample *s)
{
        char line[LINE_MAX_TEST];
        const char *reason = NULL;
        struct event e, untouched;
        size_t n = build(s, line, sizeof(line));
        bool ok = true;
        int r;

        memset(&e, 0x5a, sizeof(e));
        untouched = e;
        r = event_parse(line, n, DEPTH, &e, &reason);
        if (r != s->r) {
                fprintf(stderr, "  %s: returned %d (%s), expected %d\n", s->name, r,
                        reason ? reason : "no reason", s->r);
                return false;
        }
        if (r < 0) {
                if (!reason || strcmp(reason, s->reason) != 0) {
                        fprintf(stderr, "  %s: reason \"%s\", expected \"%s\"\n", s->name,
                                reason ? reason : "(null)", s->reason);
                        ok = false;
                }
                if (memcmp(&e, &untouched, sizeof(e)) != 0) {
                        fprintf(stderr, "  %s: *ret changed on failure\n", s->name);
                        ok = false;
                }
                return ok;
        }
        if (s->form != RAW && strcmp(e.event_type, s->text) != 0)
                ok = false;
        if (e.is_volume != s->is_volume)
                ok = false;
        if (s->is_volume) {
                ok = ok && strcmp(e.volume_id, s->volume_id_out) == 0;
                ok = ok && e.has_volume_type == (s->volume_type_out != NULL);
                ok = ok && strcmp(e.volume_type, s->volume_type_out ? s->volume_type_out : "") == 0;
                ok = ok && e.size_gib == s->size_out;
                ok = ok && strcmp(e.status, "available") == 0;
                ok = ok && strcmp(e.message_id, "a3c1e0d4-6f1b-4f7e-9b8a-2c5d7e9f1a2b") == 0;
        }
        if (!ok)
                fprintf(stderr, "  %s: fields not as expected (type %s id %s vt %s size %llu)\n",
                        s->name, e.event_type, e.volume_id, e.volume_type,
                        (unsigned long long)e.size_gib);
        return ok;
}

TEST(event_samples)
{
        size_t n = sizeof(samples) / sizeof(samples[0]);

        CHECK(n >= 30);
        for (size_t i = 0; i < n; i++)
                CHECK(check_sample(&samples[i]));
}

static size_t nested(char *buf, size_t size, unsigned levels)
{
        size_t n = (size_t)snprintf(buf, size, "{\"event_type\": \"x\", \"payload\": ");

        for (unsigned i = 1; i < levels - 1 && n + 8 < size; i++)
                n += (size_t)snprintf(buf + n, size - n, "{\"a\": ");
        n += (size_t)snprintf(buf + n, size - n, "{}");
        for (unsigned i = 1; i < levels && n + 2 < size; i++)
                buf[n++] = '}';
        return n;
}

TEST(event_depth_limit)
{
        char line[4096], wrapped[8192];
        const char *reason = NULL;
        struct event e;
        size_t n;

        n = nested(line, sizeof(line), 32);
        CHECK(event_parse(line, n, 32, &e, &reason) == 0);
        n = nested(line, sizeof(line), 33);
        CHECK(event_parse(line, n, 32, &e, &reason) == -E2BIG);
        CHECK(reason && strcmp(reason, "JSON nested deeper than 32 levels") == 0);

        /* The limit applies inside the envelope too, on its own count. */
        n = envelope(wrapped, sizeof(wrapped), line, n);
        CHECK(event_parse(wrapped, n, 32, &e, &reason) == -E2BIG);
        CHECK(reason && strcmp(reason, "oslo.message is JSON nested deeper than 32 levels") == 0);

        /* Another limit on the same thread gets a tokener of its own. */
        n = nested(line, sizeof(line), 6);
        CHECK(event_parse(line, n, 5, &e, &reason) == -E2BIG);
        CHECK(reason && strcmp(reason, "JSON nested deeper than 5 levels") == 0);
        CHECK(event_parse(line, n, 6, &e, &reason) == 0);

        CHECK(event_parse(line, n, 0, &e, &reason) == -EINVAL);
        CHECK(reason && strcmp(reason, "JSON depth limit 0 is outside 1..1024") == 0);
        CHECK(event_parse(line, n, EVENT_MAX_DEPTH_LIMIT + 1, &e, &reason) == -EINVAL);
}

TEST(event_not_nul_terminated)
{
        /* The line is followed by bytes that must not be read. */
        static const char buf[] = "{\"event_type\": \"abc\"}xyz";
        const char *reason = NULL;
        struct event e;

        CHECK(event_parse(buf, 21, DEPTH, &e, &reason) == 0);
        CHECK(strcmp(e.event_type, "abc") == 0);
        CHECK(event_parse(buf, 24, DEPTH, &e, &reason) == -EINVAL);
        CHECK(event_parse(buf, 20, DEPTH, &e, &reason) == -EINVAL);
        CHECK(reason && strcmp(reason, "not valid JSON (truncated)") == 0);
}

static void *parse_many(void *arg)
{
        const char *volume_id = arg;
        char inner[LINE_MAX_TEST], line[LINE_MAX_TEST], quoted[64];
        const char *reason = NULL;
        struct event e;
        size_t n;

        snprintf(quoted, sizeof(quoted), "\"%s\"", volume_id);
        n = cinder_notification(inner, sizeof(inner), "volume.create.end", quoted, "null", "3");
        n = envelope(line, sizeof(line), inner, n);
        for (int i = 0; i < 2000; i++) {
                if (event_parse(line, n, DEPTH, &e, &reason) != 0 ||
                    strcmp(e.volume_id, volume_id) != 0)
                        return (void *)1;
                if (event_parse("[", 1, DEPTH, &e, &reason) != -EINVAL ||
                    strcmp(reason, "not valid JSON (truncated)") != 0)
                        return (void *)1;
        }
        return NULL;
}

TEST(event_threads)
{
        static const char *ids[] = {
                "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
                "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004"};
        pthread_t threads[4];
        void *result;

        for (int i = 0; i < 4; i++)
                REQUIRE(pthread_create(&threads[i], NULL, parse_many, (void *)ids[i]) == 0);
        for (int i = 0; i < 4; i++) {
                CHECK(pthread_join(threads[i], &result) == 0);
                CHECK(result == NULL);
        }
}

/* Non-ASCII text reaches the inner document as \\uXXXX escapes inside
 * the envelope's string; it must decode and leave the fields alone. */
TEST(event_envelope_unicode)
{
        static const char line[] =
                "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"event_type\\\": "
                "\\\"volume.create.end\\\", \\\"payload\\\": {\\\"display_name\\\": "
                "\\\"caf\\u00e9 \\ud83d\\ude00 \\ud800 \\\\\\\"q\\\\\\\"\\\", \\\"volume_id\\\": "
                "\\\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\\\", \\\"size\\\": 2}}\"}";
        const char *reason = NULL;
        struct event e;
        int r;

        r = event_parse(line, sizeof(line) - 1, DEPTH, &e, &reason);
        if (r < 0)
                fprintf(stderr, "  %s\n", reason);
        REQUIRE(r == 0);
        CHECK(e.is_volume);
        CHECK(strcmp(e.volume_id, VID_PLAIN) == 0);
        CHECK(e.size_gib == 2);
}

static uint64_t next_random(uint64_t *state)
{
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return *state;
}

static size_t mutate(char *buf, size_t n, size_t size, uint64_t *rng)
{
        static const char alphabet[] = "{}[]\",:\\ 0123456789.-eE+tfnulrsu\x01\x7f\x80\xff";
        size_t pos = n ? next_random(rng) % n : 0;
        char c = alphabet[next_random(rng) % (sizeof(alphabet) - 1)];

        switch (next_random(rng) % 4) {
        case 0:
                if (n)
                        buf[pos] = c;
                return n;
        case 1:
                if (n + 1 >= size)
                        return n;
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = c;
                return n + 1;
        case 2:
                if (n)
                        memmove(buf + pos, buf + pos + 1, n - pos - 1);
                return n ? n - 1 : 0;
        default:
                return pos;
        }
}

/* Random damage to real notifications: every line gets a verdict, and a
 * refusal always comes with a reason (the sanitizers watch the rest). */
TEST(event_mutations)
{
        char seed[LINE_MAX_TEST], line[LINE_MAX_TEST];
        uint64_t rng = 0x9e3779b97f4a7c15u;
        size_t seed_length, n;
        const char *reason;
        unsigned accepted = 0, refused = 0;
        struct event e;
        int r;

        seed_length =
                cinder_notification(seed, sizeof(seed), "volume.create.end", VID, TYPE_ID, "10");
        for (int i = 0; i < 20000; i++) {
                n = seed_length;
                memcpy(line, seed, n);
                if (i % 2)
                        n = envelope(line, sizeof(line), seed, n);
                for (unsigned k = 1 + next_random(&rng) % 3; k > 0; k--)
                        n = mutate(line, n, sizeof(line), &rng);
                reason = NULL;
                r = event_parse(line, n, DEPTH, &e, &reason);
                CHECK(r == 0 || ((r == -EINVAL || r == -E2BIG) && reason && *reason));
                if (r == 0)
                        accepted++;
                else
                        refused++;
        }
        CHECK(accepted > 1000);
        CHECK(refused > 1000);
}

/* A legacy compute.instance.update from nova, the bulk of what an agent
 * that subscribes to a shared topic skips. */
static const char typical_ignored[] =
        "{\"message_id\": \"d6f5e4c3-b2a1-4098-8f7e-6d5c4b3a2918\", "
        "\"publisher_id\": \"compute.compute-3\", \"event_type\": \"compute.instance.update\", "
        "\"priority\": \"INFO\", \"payload\": {\"tenant_id\": "
        "\"5f3c2b1a0e9d4c8b7a6f5e4d3c2b1a09\", "
        "\"user_id\": \"9a8b7c6d5e4f40312a1b2c3d4e5f6a7b\", "
        "\"instance_id\": \"1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9\", \"instance_type\": "
        "\"m1.small\", \"instance_type_id\": 5, \"display_name\": \"web-1\", \"host\": "
        "\"compute-3\", \"node\": \"compute-3\", \"memory_mb\": 2048, \"disk_gb\": 20, "
        "\"root_gb\": 20, \"ephemeral_gb\": 0, \"vcpus\": 1, \"state\": \"active\", "
        "\"old_state\": \"building\", \"state_description\": \"\", \"progress\": \"\", "
        "\"launched_at\": \"2024-05-02T10:11:12.000000\", \"created_at\": \"2024-05-02 10:10:58\", "
        "\"image_ref_url\": \"http://glance:9292/images/3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\", "
        "\"architecture\": \"x86_64\", \"os_type\": null, \"kernel_id\": \"\", \"ramdisk_id\": "
        "\"\", \"availability_zone\": \"nova\", \"cell_name\": \"\", \"metadata\": {}, "
        "\"image_meta\": {\"base_image_ref\": \"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\", "
        "\"hw_disk_bus\": \"virtio\"}, \"audit_period_beginning\": \"2024-05-02T10:00:00.000000\", "
        "\"audit_period_ending\": \"2024-05-02T10:11:13.000000\", \"bandwidth\": {}, "
        "\"fixed_ips\": [{\"address\": \"10.0.0.12\", \"type\": \"fixed\", \"version\": 4, "
        "\"label\": \"private\", \"vif_mac\": \"fa:16:3e:12:34:56\", \"floating_ips\": [], "
        "\"meta\": {}}], \"old_task_state\": \"spawning\", \"new_task_state\": null}, "
        "\"timestamp\": \"2024-05-02 10:11:13.123456\", "
        "\"_context_request_id\": \"req-7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928\", "
        "\"_context_user_id\": \"9a8b7c6d5e4f40312a1b2c3d4e5f6a7b\", "
        "\"_context_project_id\": \"5f3c2b1a0e9d4c8b7a6f5e4d3c2b1a09\", "
        "\"_context_roles\": [\"member\", \"reader\"], \"_context_is_admin\": false, "
        "\"_unique_id\": \"8f0e1d2c3b4a49586f7e8d9c0b1a2f3e\"}";

TEST(event_speed)
{
        char line[LINE_MAX_TEST];
        const char *reason = NULL;
        struct timespec start, end;
        struct event e;
        size_t n = envelope(line, sizeof(line), typical_ignored, sizeof(typical_ignored) - 1);
        unsigned count = 50000, bad = 0;
        double seconds;

#ifdef __SANITIZE_ADDRESS__
        count = 5000; /* a sanitizer build measures the sanitizer */
#endif

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (unsigned i = 0; i < count; i++)
                if (event_parse(line, n, DEPTH, &e, &reason) != 0 || e.is_volume)
                        bad++;
        clock_gettime(CLOCK_MONOTONIC, &end);
        CHECK(bad == 0);
        seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
        printf("event_speed: %u enveloped %zu-byte non-volume events in %.3f s: %.0f events/s\n",
               count, n, seconds, count / seconds);
}

TEST(event_volume_host)
{
        static const char with_host[] =
                "{\"event_type\": \"volume.create.end\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"size\": 1, \"host\": "
                "\"cinder-1@rbd-fast#volumes\"}}";
        static const char null_host[] =
                "{\"event_type\": \"volume.create.end\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"size\": 1, \"host\": null}}";
        static const char number_host[] =
                "{\"event_type\": \"volume.create.end\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"size\": 1, \"host\": 7}}";
        static const char control_host[] =
                "{\"event_type\": \"volume.create.end\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"size\": 1, \"host\": \"a\\nb\"}}";
        const char *reason = NULL;
        struct event ev;

        REQUIRE(event_parse(with_host, strlen(with_host), 64, &ev, &reason) == 0);
        CHECK(strcmp(ev.volume_host, "cinder-1@rbd-fast#volumes") == 0);
        REQUIRE(event_parse(null_host, strlen(null_host), 64, &ev, &reason) == 0);
        CHECK(ev.volume_host[0] == '\0');
        CHECK(event_parse(number_host, strlen(number_host), 64, &ev, &reason) == -EINVAL);
        CHECK(reason && strcmp(reason, "payload.host is not a string") == 0);
        CHECK(event_parse(control_host, strlen(control_host), 64, &ev, &reason) == -EINVAL);
        CHECK(reason && strstr(reason, "payload.host contains a character that is not printable"));
}

/* The zone never costs the event: one the agent cannot carry is kept as
 * unreadable, and the compute role then counts the volume in (fail closed). */
TEST(event_availability_zone)
{
        static const char *const texts[] = {
                "{\"event_type\": \"volume.create.start\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"availability_zone\": \"az-2\"}}",
                "{\"event_type\": \"volume.create.start\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"availability_zone\": null}}",
                "{\"event_type\": \"volume.create.start\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"availability_zone\": 5}}",
                "{\"event_type\": \"volume.create.start\", \"payload\": {\"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"availability_zone\": \"zo\\u00f1e\"}}",
        };
        const char *reason = NULL;
        struct event ev;

        REQUIRE(event_parse(texts[0], strlen(texts[0]), 64, &ev, &reason) == 0);
        CHECK(strcmp(ev.availability_zone, "az-2") == 0 && !ev.zone_unreadable);
        REQUIRE(event_parse(texts[1], strlen(texts[1]), 64, &ev, &reason) == 0);
        CHECK(ev.availability_zone[0] == '\0' && !ev.zone_unreadable);
        REQUIRE(event_parse(texts[2], strlen(texts[2]), 64, &ev, &reason) == 0);
        CHECK(ev.availability_zone[0] == '\0' && ev.zone_unreadable);
        REQUIRE(event_parse(texts[3], strlen(texts[3]), 64, &ev, &reason) == 0);
        CHECK(ev.availability_zone[0] == '\0' && ev.zone_unreadable);
}

/* backup.restore.end carries the backup's source volume in the volume
 * fields (Cinder's _usage_from_backup) and its backup id; other backup.*
 * events are not read past their type. */
TEST(event_backup_restore)
{
        static const char restore[] =
                "{\"event_type\": \"backup.restore.end\", \"payload\": {\"backup_id\": "
                "\"5A1C0B6E-2F3D-4E8A-9B7C-1D2E3F4A5B6C\", \"volume_id\": "
                "\"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\", \"status\": \"available\", "
                "\"size\": 1, \"host\": \"backup-1\", \"snapshot_id\": null}}";
        static const char bad_backup[] =
                "{\"event_type\": \"backup.restore.end\", \"payload\": {\"backup_id\": 7, "
                "\"volume_id\": \"0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64\"}}";
        static const char no_volume[] =
                "{\"event_type\": \"backup.restore.end\", \"payload\": {\"backup_id\": "
                "\"5a1c0b6e-2f3d-4e8a-9b7c-1d2e3f4a5b6c\"}}";
        static const char create[] =
                "{\"event_type\": \"backup.create.end\", \"payload\": {\"backup_id\": 7}}";
        const char *reason = NULL;
        struct event ev;

        REQUIRE(event_parse(restore, strlen(restore), 64, &ev, &reason) == 0);
        CHECK(ev.is_volume);
        CHECK(strcmp(ev.volume_id, "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64") == 0);
        CHECK(strcmp(ev.backup_id, "5a1c0b6e-2f3d-4e8a-9b7c-1d2e3f4a5b6c") == 0);
        CHECK(strcmp(ev.status, "available") == 0);
        CHECK(!ev.has_volume_type);
        CHECK(event_parse(bad_backup, strlen(bad_backup), 64, &ev, &reason) == -EINVAL);
        CHECK(reason && strcmp(reason, "payload.backup_id is not a UUID") == 0);
        CHECK(event_parse(no_volume, strlen(no_volume), 64, &ev, &reason) == -EINVAL);
        CHECK(reason && strcmp(reason, "payload.volume_id is missing") == 0);
        REQUIRE(event_parse(create, strlen(create), 64, &ev, &reason) == 0);
        CHECK(!ev.is_volume && ev.volume_id[0] == '\0');
}
