/* event_scan: checks JSON text without building a tree (event_scan.c).
 *
 * Part of the event module; only event.c uses it. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

enum event_scan_result {
        EVENT_SCAN_OK,
        EVENT_SCAN_INVALID,    /* a byte that cannot be there: at the offset */
        EVENT_SCAN_TRUNCATED,  /* the text ends inside a value */
        EVENT_SCAN_TOO_DEEP,   /* more than max_depth nested containers */
        EVENT_SCAN_TRAILING,   /* something after the value: at the offset */
        EVENT_SCAN_NOT_OBJECT, /* valid JSON, but not an object */
};

enum event_scan_kind { EVENT_SCAN_ABSENT, EVENT_SCAN_STRING, EVENT_SCAN_NULL, EVENT_SCAN_OTHER };

/* A top-level member to report. The last of duplicate names wins, as in
 * json-c; names are compared after decoding their escapes. */
struct event_scan_member {
        const char *name;          /* in */
        enum event_scan_kind kind; /* out */
        const char *body;          /* out, strings: between the quotes, escaped */
        size_t length;
};

/* Checks that data[0..length) is one JSON object, with optional whitespace
 * around it, nested at most max_depth (<= EVENT_MAX_DEPTH_LIMIT) levels.
 * Fills members[]; *ret_offset is where scanning stopped. */
enum event_scan_result event_scan(const char *data, size_t length, unsigned max_depth,
                                  struct event_scan_member *members, size_t n_members,
                                  size_t *ret_offset);

/* Decodes a string body event_scan accepted into out (no NUL added).
 * Returns the length, never more than the body's, or -E2BIG when more than
 * capacity bytes are needed. A lone surrogate becomes U+FFFD, as in json-c. */
ssize_t event_scan_unescape(const char *body, size_t length, char *out, size_t capacity);
