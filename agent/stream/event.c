/* event: one hook-file line to a struct event (event.h).
 *
 * json-c parses and judges every line, in strict mode, with one tokener
 * per thread; this module only reads the few fields the agent acts on out
 * of the tree. The notification inside an oslo envelope is a JSON string,
 * parsed a second time with the same limits.
 *
 * json-c 0.16's strict mode is not quite RFC 8259: it lets through
 * single-quoted member names, raw control characters in strings, NaN and
 * [-]Infinity, "1." and "00", and it saturates integers past 64 bits.
 * None of that reaches an event: the fields kept are checked for
 * printable ASCII, and a size must be a JSON integer in
 * 1..EVENT_MAX_SIZE_GIB.
 *
 * Returns 0, -EINVAL or -E2BIG (-ENOMEM when memory runs out); on failure
 * *ret_reason points at a static string or at a thread-local buffer valid
 * until the thread's next event_parse().
 *
 * Why one file over 500 lines: it is the one notification format the
 * agent reads, one path from a line to struct event: the per-thread
 * tokener, the document, the checked field readers, the volume payload,
 * the envelope, each step calling the one before. The guarantees above
 * (what of json-c's leniency never reaches an event) are kept by the
 * field readers every payload reader goes through; split, that path and
 * its guarantees could no longer be checked in one read. */
#include "event.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include "base/json.h"
#include "base/reason.h"
#include "base/uuid.h"

#define VOLUME_TYPE_MAX 63 /* longest volume type id kept */
/* Creating a tokener costs more than parsing a short line, so each thread
 * keeps one; the key's destructor frees it when the thread ends. */
struct thread_state {
        struct json_tokener *tokener;
        unsigned tokener_depth;
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

enum charset { CHARSET_PRINTABLE, CHARSET_TYPE_ID };

/* ---- the per-thread tokener ---- */

static void state_destroy(void *p)
{
        struct thread_state *state = p;

        if (!state)
                return;
        if (state->tokener)
                json_tokener_free(state->tokener); /* unlike free(), NULL crashes it */
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

/* The thread's tokener for max_depth, reset and ready for a document. */
static int state_tokener(unsigned max_depth, struct json_tokener **ret)
{
        struct thread_state *state = NULL;
        struct json_tokener *tok;
        int r;

        r = state_get(&state);
        if (r < 0)
                return r;
        if (state->tokener && state->tokener_depth == max_depth) {
                json_tokener_reset(state->tokener);
                *ret = state->tokener;
                return 0;
        }
        tok = json_tokener_new_ex((int)max_depth);
        if (!tok)
                return -ENOMEM;
        if (state->tokener)
                json_tokener_free(state->tokener);
        state->tokener = tok;
        state->tokener_depth = max_depth;
        *ret = tok;
        return 0;
}

/* ---- one JSON document ---- */

static bool all_space(const char *data, size_t length)
{
        for (size_t i = 0; i < length; i++)
                if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r')
                        return false;
        return true;
}

/* Exactly one JSON object in data[0..length), optionally surrounded by
 * whitespace. On success *ret holds a reference for the caller. */
static int parse_document(const char *data, size_t length, unsigned max_depth,
                          const struct document_words *words, struct json_object **ret,
                          const char **ret_reason)
{
        struct json_tokener *tok;
        struct json_doc_status st;
        int r;

        /* json-c would take a NUL byte for the end of the input. */
        if (length > 0 && memchr(data, '\0', length))
                return reason_set(-EINVAL, ret_reason, words->nul);
        r = state_tokener(max_depth, &tok);
        if (r < 0)
                return reason_format(r, ret_reason, "cannot set up the JSON parser: %s", strerror(-r));
        if (json_doc_parse(tok, data, length, max_depth, JSON_DOC_OBJECT | JSON_DOC_INPUT_ENDS,
                           ret, &st) == 0)
                return 0;
        switch (st.error) {
        case JSON_DOC_INCOMPLETE:
                return reason_set(-EINVAL, ret_reason,
                                  all_space(data, length) ? words->empty : words->truncated);
        case JSON_DOC_DEPTH:
                return reason_format(-E2BIG, ret_reason, words->depth_format, max_depth);
        case JSON_DOC_TRAILING:
                return reason_set(-EINVAL, ret_reason, words->trailing);
        case JSON_DOC_NOT_OBJECT:
                return reason_set(-EINVAL, ret_reason, words->not_object);
        default: /* JSON_DOC_INVALID; not JSON_DOC_NO_MEMORY with a tokener given */
                return reason_format(-EINVAL, ret_reason, words->invalid_format, st.offset);
        }
}

/* ---- fields ---- */

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
                        return reason_format(-EINVAL, ret_reason, "%s contains %s", field,
                                     charset == CHARSET_PRINTABLE
                                             ? "a character that is not printable ASCII"
                                             : "a character other than A-Z a-z 0-9 _ . -");
        return 0;
}

/* A string json-c decoded (v may be NULL for JSON null), into buf (size
 * bytes with NUL). */
static int copy_text(struct json_object *v, const char *field, enum charset charset, char *buf,
                     size_t size, const char **ret_reason)
{
        const char *s;
        size_t length;
        int r;

        if (!json_object_is_type(v, json_type_string))
                return reason_format(-EINVAL, ret_reason, "%s is not a string", field);
        s = json_object_get_string(v);
        length = (size_t)json_object_get_string_len(v);
        if (length > size - 1)
                return reason_format(-EINVAL, ret_reason, "%s is longer than %zu characters", field,
                             size - 1);
        r = check_text(field, charset, s, length, ret_reason);
        if (r < 0)
                return r;
        memcpy(buf, s, length);
        buf[length] = '\0';
        return 0;
}

/* Absent and null are the same to Cinder's serializer; both mean "none". */
static struct json_object *get_optional(struct json_object *object, const char *key)
{
        struct json_object *v;

        if (!json_object_object_get_ex(object, key, &v))
                return NULL;
        return v;
}

static int read_header(struct json_object *root, struct event *e, const char **ret_reason)
{
        struct json_object *type, *id;
        int r;

        if (!json_object_object_get_ex(root, "event_type", &type))
                return reason_set(-EINVAL, ret_reason, "missing event_type");
        r = copy_text(type, "event_type", CHARSET_PRINTABLE, e->event_type, sizeof(e->event_type),
                      ret_reason);
        if (r < 0)
                return r;
        if (e->event_type[0] == '\0')
                return reason_set(-EINVAL, ret_reason, "event_type is empty");
        id = get_optional(root, "message_id");
        if (!id)
                return 0;
        return copy_text(id, "message_id", CHARSET_PRINTABLE, e->message_id, sizeof(e->message_id),
                         ret_reason);
}

/* ---- volume events ---- */

static int parse_volume_id(struct json_object *payload, struct event *e, const char **ret_reason)
{
        struct json_object *v = get_optional(payload, "volume_id");
        const char *s;

        if (!v)
                return reason_set(-EINVAL, ret_reason, "payload.volume_id is missing");
        if (!json_object_is_type(v, json_type_string))
                return reason_set(-EINVAL, ret_reason, "payload.volume_id is not a string");
        s = json_object_get_string(v);
        if (json_object_get_string_len(v) != UUID_LEN || !uuid_is_valid(s))
                return reason_set(-EINVAL, ret_reason, "payload.volume_id is not a UUID");
        /* Cinder writes lowercase; RBD image names and libvirt usage ids are
         * compared as strings, so one spelling is kept. */
        uuid_lower(s, e->volume_id);
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
                return reason_set(-EINVAL, ret_reason, "payload.volume_type is empty");
        e->has_volume_type = true;
        return 0;
}

/* Only a JSON integer counts: "10", 10.0 and 1e1 are refused rather than
 * guessed at, since the size decides how large an image is formatted.
 * json-c saturates integers past 64 bits at INT64_MIN, INT64_MAX or
 * UINT64_MAX (read back as INT64_MAX), all far outside the range, so a
 * huge number is refused, never clamped into it. */
static int parse_size(struct json_object *payload, bool required, struct event *e,
                      const char **ret_reason)
{
        struct json_object *v = get_optional(payload, "size");
        int64_t size = 0;

        if (!v) {
                if (required)
                        return reason_set(-EINVAL, ret_reason, "payload.size is missing");
                return 0;
        }
        if (json_object_get_type(v) == json_type_int)
                size = json_object_get_int64(v);
        if (size < 1 || size > (int64_t)EVENT_MAX_SIZE_GIB)
                return reason_format(-EINVAL, ret_reason, "payload.size is not an integer between 1 and %u",
                             EVENT_MAX_SIZE_GIB);
        e->size_gib = (uint64_t)size;
        return 0;
}

/* An attachment's host, or NULL when it names none: absent, null, or "" --
 * kept, an empty name could never match and would take one of the
 * EVENT_MAX_ATTACHMENTS places from a real host. */
static struct json_object *attachment_host(struct json_object *a)
{
        struct json_object *host;

        if (!json_object_is_type(a, json_type_object) || !(host = get_optional(a, "attached_host")))
                return NULL;
        if (json_object_is_type(host, json_type_string) && json_object_get_string_len(host) == 0)
                return NULL;
        return host;
}

/* Hosts the volume is attached to; the compute role acts only on its own. */
static int parse_attachments(struct json_object *payload, struct event *e,
                             const char **ret_reason)
{
        struct json_object *list = get_optional(payload, "volume_attachment");
        size_t n;

        if (!list)
                return 0;
        if (!json_object_is_type(list, json_type_array))
                return reason_set(-EINVAL, ret_reason, "payload.volume_attachment is not a list");
        n = json_object_array_length(list);
        for (size_t i = 0; i < n; i++) {
                struct json_object *host = attachment_host(json_object_array_get_idx(list, i));
                int r;

                if (!host)
                        continue;
                if (e->n_attached_hosts == EVENT_MAX_ATTACHMENTS) {
                        e->more_attachments = true;
                        break;
                }
                r = copy_text(host, "payload.volume_attachment[].attached_host", CHARSET_TYPE_ID,
                              e->attached_hosts[e->n_attached_hosts], EVENT_HOST_MAX,
                              ret_reason);
                if (r < 0)
                        return r;
                e->n_attached_hosts++;
        }
        return 0;
}

/* payload.backup_id: absent or null is none; anything else must be a UUID. */
static int parse_backup_id(struct json_object *payload, struct event *e, const char **ret_reason)
{
        struct json_object *v = get_optional(payload, "backup_id");

        if (!v || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != UUID_LEN ||
            !uuid_is_valid(json_object_get_string(v)))
                return reason_set(-EINVAL, ret_reason, "payload.backup_id is not a UUID");
        uuid_lower(json_object_get_string(v), e->backup_id);
        return 0;
}

static int parse_payload(struct json_object *root, struct event *e, const char **ret_reason)
{
        struct json_object *payload, *status, *host, *zone;
        int r;

        if (!json_object_object_get_ex(root, "payload", &payload))
                return reason_set(-EINVAL, ret_reason, "missing payload");
        if (!json_object_is_type(payload, json_type_object))
                return reason_set(-EINVAL, ret_reason, "payload is not an object");
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
        host = get_optional(payload, "host");
        if (host) {
                r = copy_text(host, "payload.host", CHARSET_PRINTABLE, e->volume_host,
                              sizeof(e->volume_host), ret_reason);
                if (r < 0)
                        return r;
        }
        /* A zone name this code cannot carry does not cost the event: it
         * is kept as unreadable, and the compute role then counts the
         * volume in every zone (fail closed). */
        zone = get_optional(payload, "availability_zone");
        if (zone && copy_text(zone, "payload.availability_zone", CHARSET_PRINTABLE,
                              e->availability_zone, sizeof(e->availability_zone), NULL) < 0) {
                e->availability_zone[0] = '\0';
                e->zone_unreadable = true;
        }
        r = parse_attachments(payload, e, ret_reason);
        if (r < 0)
                return r;
        r = parse_backup_id(payload, e, ret_reason);
        if (r < 0)
                return r;
        /* A create's size decides the image's, a resize's the new one. */
        return parse_size(payload,
                          event_sets_type(e->event_type) ||
                                  strcmp(e->event_type, "volume.resize.end") == 0,
                          e, ret_reason);
}

bool event_sets_type(const char *event_type)
{
        return strcmp(event_type, "volume.create.end") == 0 ||
               strcmp(event_type, "volume.manage_existing.end") == 0 ||
               strcmp(event_type, "volume.retype") == 0;
}

bool event_volume_available(const struct event *e)
{
        return !e->status[0] || strcmp(e->status, "available") == 0;
}

/* ---- the whole line ---- */

/* oslo.messaging has only ever written version "2.0"; anything else is a
 * format this code does not know. *ret is the notification, parsed from
 * the oslo.message string; the caller keeps line alive meanwhile. */
static int open_envelope(struct json_object *line, struct json_object *message,
                         unsigned max_depth, struct json_object **ret, const char **ret_reason)
{
        struct json_object *version;

        if (json_object_object_get_ex(line, "oslo.version", &version) &&
            (!json_object_is_type(version, json_type_string) ||
             json_object_get_string_len(version) != 3 ||
             memcmp(json_object_get_string(version), "2.0", 3) != 0))
                return reason_set(-EINVAL, ret_reason, "oslo.version is not \"2.0\"");
        if (!json_object_is_type(message, json_type_string))
                return reason_set(-EINVAL, ret_reason, "oslo.message is not a string");
        return parse_document(json_object_get_string(message),
                              (size_t)json_object_get_string_len(message), max_depth,
                              &envelope_words, ret, ret_reason);
}

int event_parse(const char *data, size_t length, unsigned max_depth, struct event *ret,
                const char **ret_reason)
{
        struct json_object *line = NULL, *inner = NULL, *notification, *message;
        struct event e;
        int r;

        if (max_depth < 1 || max_depth > EVENT_MAX_DEPTH_LIMIT)
                return reason_format(-EINVAL, ret_reason, "JSON depth limit %u is outside 1..%u", max_depth,
                             EVENT_MAX_DEPTH_LIMIT);
        if (length > INT_MAX)
                return reason_set(-E2BIG, ret_reason, "line is longer than 2 GiB");
        r = parse_document(data, length, max_depth, &line_words, &line, ret_reason);
        if (r < 0)
                return r;
        notification = line;
        if (json_object_object_get_ex(line, "oslo.message", &message)) {
                r = open_envelope(line, message, max_depth, &inner, ret_reason);
                if (r < 0)
                        goto out;
                notification = inner;
        }
        memset(&e, 0, sizeof(e));
        r = read_header(notification, &e, ret_reason);
        if (r < 0)
                goto out;
        /* backup.restore.end names the backup's source volume in the same
         * fields (cinder/volume/volume_utils.py:141-162). */
        if (strncmp(e.event_type, "volume.", 7) == 0 ||
            strcmp(e.event_type, "backup.restore.end") == 0) {
                r = parse_payload(notification, &e, ret_reason);
                if (r < 0)
                        goto out;
        }
        *ret = e;
out:
        json_object_put(inner);
        json_object_put(line);
        return r;
}
