/* event: one hook-file line to a struct event (event.h).
 *
 * Two stages, for speed: most lines are notifications the agent ignores,
 * and json-c needs about 25 us to build the tree of a 2 KB notification.
 * A strict RFC 8259 scanner (event_scan.c, no allocation) checks every
 * line and finds the top-level event_type, message_id and oslo.* members;
 * only volume.* events are then handed to json-c to read the payload. The
 * scanner is the one judge of syntax, so both stages agree on what is
 * valid JSON.
 *
 * Returns 0, -EINVAL or -E2BIG (-ENOMEM when memory runs out); on failure
 * *ret_reason points at a static string or at a thread-local buffer valid
 * until the thread's next event_parse(). */
#include "event.h"
#include "event_scan.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <json-c/json.h>

#define VOLUME_TYPE_MAX 63 /* longest volume type id kept */
#define REASON_MAX 256

static __thread char reason_buffer[REASON_MAX];

/* Per-thread state, made on first use and freed by the key's destructor
 * when the thread ends: creating a tokener per line costs more than
 * parsing a short line. */
struct thread_state {
        struct json_tokener *tokener; /* NULL until the first volume event */
        unsigned tokener_depth;
        char *message; /* decoded oslo.message */
        size_t message_capacity;
};

static __thread struct thread_state *thread_state;
static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static int state_key_error;

/* Wording of the failures of one JSON document: the line itself, or the
 * notification inside the oslo envelope. */
struct document_words {
        const char *nul;
        const char *empty;
        const char *depth_format;   /* %u: the limit */
        const char *invalid_format; /* %zu: byte offset */
        const char *truncated;
        const char *trailing;
        const char *not_object;
};

static const struct document_words line_words = {
        .nul = "line contains a NUL byte",
        .empty = "line is empty",
        .depth_format = "JSON nested deeper than %u levels",
        .invalid_format = "not valid JSON (error at byte %zu)",
        .truncated = "not valid JSON (truncated)",
        .trailing = "trailing data after the JSON object",
        .not_object = "not a JSON object",
};

static const struct document_words envelope_words = {
        .nul = "oslo.message contains a NUL byte",
        .empty = "oslo.message is empty",
        .depth_format = "oslo.message is JSON nested deeper than %u levels",
        .invalid_format = "oslo.message is not valid JSON (error at byte %zu)",
        .truncated = "oslo.message is not valid JSON (truncated)",
        .trailing = "oslo.message has trailing data after the JSON object",
        .not_object = "oslo.message is not a JSON object",
};

/* The top-level members the scanner reports. */
enum member {
        MEMBER_EVENT_TYPE,
        MEMBER_MESSAGE_ID,
        MEMBER_OSLO_MESSAGE,
        MEMBER_OSLO_VERSION,
        MEMBER_COUNT
};

static const char *const member_names[MEMBER_COUNT] = {"event_type", "message_id", "oslo.message",
                                                       "oslo.version"};

struct members {
        struct event_scan_member m[MEMBER_COUNT];
};

enum charset { CHARSET_PRINTABLE, CHARSET_TYPE_ID };

static int fail(int r, const char **ret_reason, const char *reason)
{
        if (ret_reason)
                *ret_reason = reason;
        return r;
}

__attribute__((format(printf, 3, 4))) static int failf(int r, const char **ret_reason,
                                                       const char *format, ...)
{
        va_list ap;

        va_start(ap, format);
        vsnprintf(reason_buffer, sizeof(reason_buffer), format, ap);
        va_end(ap);
        return fail(r, ret_reason, reason_buffer);
}

/* ---- per-thread state ---- */

static void state_destroy(void *p)
{
        struct thread_state *state = p;

        if (!state)
                return;
        if (state->tokener)
                json_tokener_free(state->tokener); /* unlike free(), NULL crashes it */
        free(state->message);
        free(state);
}

static void state_key_create(void)
{
        state_key_error = pthread_key_create(&state_key, state_destroy);
}

static int state_get(struct thread_state **ret)
{
        struct thread_state *state;

        if (thread_state) {
                *ret = thread_state;
                return 0;
        }
        (void)pthread_once(&state_once, state_key_create);
        if (state_key_error)
                return -state_key_error;
        state = calloc(1, sizeof(*state));
        if (!state)
                return -ENOMEM;
        if (pthread_setspecific(state_key, state) != 0) {
                free(state);
                return -ENOMEM;
        }
        thread_state = state;
        *ret = state;
        return 0;
}

static int state_tokener(struct thread_state *state, unsigned max_depth, struct json_tokener **ret)
{
        struct json_tokener *tok;

        if (state->tokener && state->tokener_depth == max_depth) {
                json_tokener_reset(state->tokener);
                *ret = state->tokener;
                return 0;
        }
        tok = json_tokener_new_ex((int)max_depth);
        if (!tok)
                return -ENOMEM;
        /* The scanner already refused trailing data and what strict mode
         * forbids; the flags only keep json-c from being more lenient. */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        if (state->tokener)
                json_tokener_free(state->tokener);
        state->tokener = tok;
        state->tokener_depth = max_depth;
        *ret = tok;
        return 0;
}

static int state_message_buffer(struct thread_state *state, size_t size, char **ret)
{
        char *p;

        if (size > state->message_capacity) {
                p = realloc(state->message, size);
                if (!p)
                        return -ENOMEM;
                state->message = p;
                state->message_capacity = size;
        }
        *ret = state->message;
        return 0;
}

static bool is_json_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool all_space(const char *data, size_t length)
{
        for (size_t i = 0; i < length; i++)
                if (!is_json_space(data[i]))
                        return false;
        return true;
}

/* Exactly one JSON object, optionally surrounded by whitespace. */
static int check_document(const char *data, size_t length, unsigned max_depth,
                          const struct document_words *words, struct members *ret_members,
                          const char **ret_reason)
{
        size_t offset;

        if (memchr(data, '\0', length))
                return fail(-EINVAL, ret_reason, words->nul);
        if (all_space(data, length))
                return fail(-EINVAL, ret_reason, words->empty);
        for (int i = 0; i < MEMBER_COUNT; i++)
                ret_members->m[i].name = member_names[i];
        switch (event_scan(data, length, max_depth, ret_members->m, MEMBER_COUNT, &offset)) {
        case EVENT_SCAN_OK:
                return 0;
        case EVENT_SCAN_TOO_DEEP:
                return failf(-E2BIG, ret_reason, words->depth_format, max_depth);
        case EVENT_SCAN_TRUNCATED:
                return fail(-EINVAL, ret_reason, words->truncated);
        case EVENT_SCAN_TRAILING:
                return fail(-EINVAL, ret_reason, words->trailing);
        case EVENT_SCAN_NOT_OBJECT:
                return fail(-EINVAL, ret_reason, words->not_object);
        case EVENT_SCAN_INVALID:
        default:
                return failf(-EINVAL, ret_reason, words->invalid_format, offset);
        }
}

static bool char_allowed(unsigned char c, enum charset charset)
{
        if (charset == CHARSET_PRINTABLE)
                return c >= 0x20 && c < 0x7f;
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
}

/* Only bounded, plain-ASCII text leaves this module, so logs cannot be
 * forged with it. */
static int check_text(const char *field, enum charset charset, const char *s, size_t length,
                      const char **ret_reason)
{
        for (size_t i = 0; i < length; i++)
                if (!char_allowed((unsigned char)s[i], charset))
                        return failf(-EINVAL, ret_reason, "%s contains %s", field,
                                     charset == CHARSET_PRINTABLE
                                             ? "a character that is not printable ASCII"
                                             : "a character other than A-Z a-z 0-9 _ . -");
        return 0;
}

static int too_long(const char *field, size_t size, const char **ret_reason)
{
        return failf(-EINVAL, ret_reason, "%s is longer than %zu characters", field, size - 1);
}

/* A string member found by the scanner, into buf (size bytes with NUL). */
static int copy_member(const struct event_scan_member *m, const char *field, char *buf, size_t size,
                       const char **ret_reason)
{
        ssize_t n;

        if (m->kind != EVENT_SCAN_STRING)
                return failf(-EINVAL, ret_reason, "%s is not a string", field);
        n = event_scan_unescape(m->body, m->length, buf, size - 1);
        if (n < 0)
                return too_long(field, size, ret_reason);
        buf[n] = '\0';
        return check_text(field, CHARSET_PRINTABLE, buf, (size_t)n, ret_reason);
}

/* A string json-c decoded, into buf (size bytes with NUL). */
static int copy_text(struct json_object *v, const char *field, enum charset charset, char *buf,
                     size_t size, const char **ret_reason)
{
        const char *s;
        size_t length;
        int r;

        if (!json_object_is_type(v, json_type_string))
                return failf(-EINVAL, ret_reason, "%s is not a string", field);
        s = json_object_get_string(v);
        length = (size_t)json_object_get_string_len(v);
        if (length > size - 1)
                return too_long(field, size, ret_reason);
        r = check_text(field, charset, s, length, ret_reason);
        if (r < 0)
                return r;
        memcpy(buf, s, length);
        buf[length] = '\0';
        return 0;
}

/* ---- volume events, through json-c ---- */

/* Absent and null are the same to Cinder's serializer; both mean "none". */
static struct json_object *get_optional(struct json_object *object, const char *key)
{
        struct json_object *v;

        if (!json_object_object_get_ex(object, key, &v))
                return NULL;
        return v;
}

static int parse_volume_id(struct json_object *payload, struct event *e, const char **ret_reason)
{
        struct json_object *v = get_optional(payload, "volume_id");
        const char *s;

        if (!v)
                return fail(-EINVAL, ret_reason, "payload.volume_id is missing");
        if (!json_object_is_type(v, json_type_string))
                return fail(-EINVAL, ret_reason, "payload.volume_id is not a string");
        s = json_object_get_string(v);
        if (json_object_get_string_len(v) != 36 || !event_is_uuid(s))
                return fail(-EINVAL, ret_reason, "payload.volume_id is not a UUID");
        /* Cinder writes lowercase; RBD image names and libvirt usage ids are
         * compared as strings, so one spelling is kept. */
        for (size_t i = 0; i <= 36; i++)
                e->volume_id[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
        return 0;
}

static int parse_volume_type(struct json_object *payload, struct event *e, const char **ret_reason)
{
        struct json_object *v = get_optional(payload, "volume_type");
        int r;

        if (!v)
                return 0;
        r = copy_text(v, "payload.volume_type", CHARSET_TYPE_ID, e->volume_type,
                      VOLUME_TYPE_MAX + 1, ret_reason);
        if (r < 0)
                return r;
        if (e->volume_type[0] == '\0')
                return fail(-EINVAL, ret_reason, "payload.volume_type is empty");
        e->has_volume_type = true;
        return 0;
}

/* Only a JSON integer counts: "10", 10.0 and 1e1 are refused rather than
 * guessed at, since the size decides how large an image is formatted. */
static int parse_size(struct json_object *payload, bool required, struct event *e,
                      const char **ret_reason)
{
        struct json_object *v = get_optional(payload, "size");
        int64_t size;

        if (!v) {
                if (required)
                        return fail(-EINVAL, ret_reason, "payload.size is missing");
                return 0;
        }
        /* json-c saturates integers past 64 bits; those fail the range. */
        size = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
        if (size < 1 || size > (int64_t)EVENT_MAX_SIZE_GIB)
                return failf(-EINVAL, ret_reason, "payload.size is not an integer between 1 and %u",
                             EVENT_MAX_SIZE_GIB);
        e->size_gib = (uint64_t)size;
        return 0;
}

static int parse_payload(struct json_object *root, struct event *e, const char **ret_reason)
{
        struct json_object *payload, *status;
        int r;

        if (!json_object_object_get_ex(root, "payload", &payload))
                return fail(-EINVAL, ret_reason, "missing payload");
        if (!json_object_is_type(payload, json_type_object))
                return fail(-EINVAL, ret_reason, "payload is not an object");
        e->is_volume = true;
        r = parse_volume_id(payload, e, ret_reason);
        if (r < 0)
                return r;
        r = parse_volume_type(payload, e, ret_reason);
        if (r < 0)
                return r;
        status = get_optional(payload, "status");
        if (status) {
                r = copy_text(status, "payload.status", CHARSET_PRINTABLE, e->status,
                              sizeof(e->status), ret_reason);
                if (r < 0)
                        return r;
        }
        return parse_size(payload, strcmp(e->event_type, "volume.create.end") == 0, e, ret_reason);
}

/* doc is a JSON object the scanner accepted. */
static int parse_volume(struct thread_state *state, const char *doc, size_t length,
                        unsigned max_depth, const struct document_words *words, struct event *e,
                        const char **ret_reason)
{
        struct json_tokener *tok;
        struct json_object *root;
        int r;

        r = state_tokener(state, max_depth, &tok);
        if (r < 0)
                return failf(r, ret_reason, "cannot set up the JSON parser: %s", strerror(-r));
        root = json_tokener_parse_ex(tok, doc, (int)length);
        if (!root) /* only json-c's own limits (memory) can get here */
                return failf(-EINVAL, ret_reason, words->invalid_format,
                             json_tokener_get_parse_end(tok));
        r = parse_payload(root, e, ret_reason);
        json_object_put(root);
        return r;
}

/* ---- the whole line ---- */

/* oslo.messaging has only ever written version "2.0"; anything else is a
 * format this code does not know. The decoded notification replaces the
 * line in *ret_doc and the scan. */
static int open_envelope(struct thread_state *state, struct members *members, unsigned max_depth,
                         const char **ret_doc, size_t *ret_length, const char **ret_reason)
{
        const struct event_scan_member *version = &members->m[MEMBER_OSLO_VERSION];
        const struct event_scan_member *message = &members->m[MEMBER_OSLO_MESSAGE];
        char decoded[4];
        ssize_t n;
        char *buf;
        int r;

        if (version->kind != EVENT_SCAN_ABSENT &&
            (version->kind != EVENT_SCAN_STRING ||
             event_scan_unescape(version->body, version->length, decoded, sizeof(decoded)) != 3 ||
             memcmp(decoded, "2.0", 3) != 0))
                return fail(-EINVAL, ret_reason, "oslo.version is not \"2.0\"");
        if (message->kind != EVENT_SCAN_STRING)
                return fail(-EINVAL, ret_reason, "oslo.message is not a string");
        /* Decoding never makes a string longer. */
        r = state_message_buffer(state, message->length + 1, &buf);
        if (r < 0)
                return failf(r, ret_reason, "cannot decode oslo.message: %s", strerror(-r));
        n = event_scan_unescape(message->body, message->length, buf, message->length);
        r = check_document(buf, (size_t)n, max_depth, &envelope_words, members, ret_reason);
        if (r < 0)
                return r;
        *ret_doc = buf;
        *ret_length = (size_t)n;
        return 0;
}

static int read_header(const struct members *members, struct event *e, const char **ret_reason)
{
        const struct event_scan_member *type = &members->m[MEMBER_EVENT_TYPE];
        const struct event_scan_member *id = &members->m[MEMBER_MESSAGE_ID];
        int r;

        if (type->kind == EVENT_SCAN_ABSENT)
                return fail(-EINVAL, ret_reason, "missing event_type");
        r = copy_member(type, "event_type", e->event_type, sizeof(e->event_type), ret_reason);
        if (r < 0)
                return r;
        if (e->event_type[0] == '\0')
                return fail(-EINVAL, ret_reason, "event_type is empty");
        if (id->kind == EVENT_SCAN_ABSENT || id->kind == EVENT_SCAN_NULL)
                return 0;
        return copy_member(id, "message_id", e->message_id, sizeof(e->message_id), ret_reason);
}

int event_parse(const char *data, size_t length, unsigned max_depth, struct event *ret,
                const char **ret_reason)
{
        const struct document_words *words = &line_words;
        const char *doc = data;
        size_t doc_length = length;
        struct thread_state *state = NULL;
        struct members members;
        struct event e;
        int r;

        if (max_depth < 1 || max_depth > EVENT_MAX_DEPTH_LIMIT)
                return failf(-EINVAL, ret_reason, "JSON depth limit %u is outside 1..%u", max_depth,
                             EVENT_MAX_DEPTH_LIMIT);
        if (length > INT_MAX)
                return fail(-E2BIG, ret_reason, "line is longer than 2 GiB");
        r = state_get(&state);
        if (r < 0)
                return failf(r, ret_reason, "cannot set up the JSON parser: %s", strerror(-r));
        r = check_document(data, length, max_depth, &line_words, &members, ret_reason);
        if (r < 0)
                return r;
        if (members.m[MEMBER_OSLO_MESSAGE].kind != EVENT_SCAN_ABSENT) {
                r = open_envelope(state, &members, max_depth, &doc, &doc_length, ret_reason);
                if (r < 0)
                        return r;
                words = &envelope_words;
        }
        memset(&e, 0, sizeof(e));
        r = read_header(&members, &e, ret_reason);
        if (r < 0)
                return r;
        if (strncmp(e.event_type, "volume.", 7) == 0) {
                r = parse_volume(state, doc, doc_length, max_depth, words, &e, ret_reason);
                if (r < 0)
                        return r;
        }
        *ret = e;
        return 0;
}

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool event_is_uuid(const char *s)
{
        if (!s)
                return false;
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!is_hex(s[i])) {
                        return false; /* also stops at an early NUL */
                }
        }
        return s[36] == '\0';
}
