/* event_scan: a strict RFC 8259 checker of JSON text that allocates nothing.
 *
 * event.c runs it on every hook-file line before any tree is built: it is
 * about ten times faster than json-c's tokener, and most lines are
 * notifications the agent ignores. It also hands back the string values of
 * a few top-level members, still escaped, so an ignored line never needs
 * json-c at all. Raw control characters in strings are refused (json-c
 * lets them through); UTF-8 is not checked (json-c does not either). */
#include "event_scan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "event.h"

#define NAME_MAX_DECODED 32 /* longer top-level names are never looked for */

struct scan {
        const char *start, *p, *end;
        unsigned depth, max_depth;
        uint64_t is_object[EVENT_MAX_DEPTH_LIMIT / 64 + 1]; /* one bit per level */
        struct event_scan_member *members;
        size_t n_members;
        struct event_scan_member *pending; /* its value comes next */
};

static const unsigned char string_stop[256] = {[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1};

static bool is_json_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(struct scan *s)
{
        const char *p = s->p, *end = s->end;

        while (p < end && is_json_space(*p))
                p++;
        s->p = p;
}

/* Only called on a document that scanned well, so it finds a value. */
static void skip_space_from_start(struct scan *s)
{
        s->p = s->start;
        skip_space(s);
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static bool is_simple_escape(char c)
{
        switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
                return true;
        default:
                return false;
        }
}

/* At a backslash; leaves s->p after the escape. */
static enum event_scan_result scan_escape(struct scan *s)
{
        const char *p = s->p + 1;

        if (p == s->end)
                return EVENT_SCAN_TRUNCATED;
        if (is_simple_escape(*p)) {
                s->p = p + 1;
                return EVENT_SCAN_OK;
        }
        if (*p != 'u') {
                s->p = p;
                return EVENT_SCAN_INVALID;
        }
        for (int i = 1; i <= 4; i++) {
                if (p + i == s->end) {
                        s->p = p + i;
                        return EVENT_SCAN_TRUNCATED;
                }
                if (hex_value(p[i]) < 0) {
                        s->p = p + i;
                        return EVENT_SCAN_INVALID;
                }
        }
        s->p = p + 5;
        return EVENT_SCAN_OK;
}

/* The hot loops work on eight bytes at a time. zero_bytes() has the high
 * bit set in each byte of w that is zero; bits above the first such byte
 * may be wrong (borrows), so only the lowest one is used. Borrows run
 * toward the bytes that come first in memory on big-endian machines:
 * those go a byte at a time. */
#define ONES UINT64_C(0x0101010101010101)
#define WORDWISE (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

static uint64_t zero_bytes(uint64_t w)
{
        return (w - ONES) & ~w & (ONES * 0x80);
}

/* '"', '\\' or a control character: where a run of plain string bytes ends. */
static uint64_t stop_bytes(uint64_t w)
{
        return zero_bytes(w ^ (ONES * '"')) | zero_bytes(w ^ (ONES * '\\')) |
               ((w - ONES * 0x20) & ~w & (ONES * 0x80));
}

/* Index of the first flagged byte; only called with bits != 0. */
static size_t first_byte(uint64_t bits)
{
        return (size_t)__builtin_ctzll(bits) / 8;
}

static const char *string_run_end(const char *p, const char *end)
{
        uint64_t w, bits;

        while (WORDWISE && end - p >= 8) {
                memcpy(&w, p, sizeof(w));
                bits = stop_bytes(w);
                if (bits)
                        return p + first_byte(bits);
                p += 8;
        }
        while (p < end && !string_stop[(unsigned char)*p])
                p++;
        return p;
}

/* At the opening quote; leaves s->p after the closing one. */
static enum event_scan_result scan_string(struct scan *s, const char **ret_body, size_t *ret_length)
{
        const char *body = ++s->p;
        enum event_scan_result r;

        for (;;) {
                s->p = string_run_end(s->p, s->end);
                if (s->p == s->end)
                        return EVENT_SCAN_TRUNCATED;
                if (*s->p == '"')
                        break;
                if (*s->p != '\\')
                        return EVENT_SCAN_INVALID; /* a raw control character */
                r = scan_escape(s);
                if (r != EVENT_SCAN_OK)
                        return r;
        }
        *ret_body = body;
        *ret_length = (size_t)(s->p - body);
        s->p++;
        return EVENT_SCAN_OK;
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static enum event_scan_result scan_digits(struct scan *s)
{
        if (s->p == s->end)
                return EVENT_SCAN_TRUNCATED;
        if (!is_digit(*s->p))
                return EVENT_SCAN_INVALID;
        while (s->p < s->end && is_digit(*s->p))
                s->p++;
        return EVENT_SCAN_OK;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static enum event_scan_result scan_number(struct scan *s)
{
        enum event_scan_result r;

        if (*s->p == '-')
                s->p++;
        if (s->p < s->end && *s->p == '0')
                s->p++;
        else if ((r = scan_digits(s)) != EVENT_SCAN_OK)
                return r;
        if (s->p < s->end && *s->p == '.') {
                s->p++;
                if ((r = scan_digits(s)) != EVENT_SCAN_OK)
                        return r;
        }
        if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
                s->p++;
                if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
                        s->p++;
                if ((r = scan_digits(s)) != EVENT_SCAN_OK)
                        return r;
        }
        return EVENT_SCAN_OK;
}

static enum event_scan_result scan_literal(struct scan *s, const char *word)
{
        size_t n = strlen(word), left = (size_t)(s->end - s->p);

        for (size_t i = 0; i < n; i++) {
                if (i == left) {
                        s->p += i;
                        return EVENT_SCAN_TRUNCATED;
                }
                if (s->p[i] != word[i]) {
                        s->p += i;
                        return EVENT_SCAN_INVALID;
                }
        }
        s->p += n;
        return EVENT_SCAN_OK;
}

static struct event_scan_member *member_lookup(struct scan *s, const char *name, size_t length)
{
        for (size_t i = 0; i < s->n_members; i++)
                if (strlen(s->members[i].name) == length &&
                    memcmp(s->members[i].name, name, length) == 0)
                        return &s->members[i];
        return NULL;
}

/* After '{' or ',' in an object: "name" ':'. Top-level names are matched
 * after decoding, as json-c would see them. */
static enum event_scan_result scan_name(struct scan *s)
{
        char decoded[NAME_MAX_DECODED];
        enum event_scan_result r;
        const char *body;
        size_t length;
        ssize_t n;

        skip_space(s);
        if (s->p == s->end)
                return EVENT_SCAN_TRUNCATED;
        if (*s->p != '"')
                return EVENT_SCAN_INVALID;
        r = scan_string(s, &body, &length);
        if (r != EVENT_SCAN_OK)
                return r;
        if (s->depth == 1) {
                n = event_scan_unescape(body, length, decoded, sizeof(decoded));
                s->pending = n < 0 ? NULL : member_lookup(s, decoded, (size_t)n);
        }
        skip_space(s);
        if (s->p == s->end)
                return EVENT_SCAN_TRUNCATED;
        if (*s->p != ':')
                return EVENT_SCAN_INVALID;
        s->p++;
        return EVENT_SCAN_OK;
}

static bool in_object(const struct scan *s)
{
        unsigned level = s->depth - 1;

        return s->is_object[level / 64] >> (level % 64) & 1;
}

static enum event_scan_result scan_open(struct scan *s, bool object)
{
        unsigned level = s->depth;

        if (s->depth == s->max_depth)
                return EVENT_SCAN_TOO_DEEP;
        if (object)
                s->is_object[level / 64] |= UINT64_C(1) << (level % 64);
        else
                s->is_object[level / 64] &= ~(UINT64_C(1) << (level % 64));
        s->depth++;
        s->p++;
        return EVENT_SCAN_OK;
}

/* Good enough for a value that is then scanned: 'n' can only start null. */
static enum event_scan_kind kind_of(char first)
{
        if (first == '"')
                return EVENT_SCAN_STRING;
        if (first == 'n')
                return EVENT_SCAN_NULL;
        return EVENT_SCAN_OTHER;
}

/* A scalar, or just the opening bracket of a container. A string value
 * of a top-level name is kept in s->members. */
static enum event_scan_result scan_value_start(struct scan *s, bool *ret_opened)
{
        struct event_scan_member *m = s->pending;
        enum event_scan_result r;
        const char *body;
        size_t length;
        char c = *s->p;

        s->pending = NULL;
        *ret_opened = c == '{' || c == '[';
        if (m)
                m->kind = kind_of(c);
        if (*ret_opened)
                return scan_open(s, c == '{');
        if (c == '"') {
                r = scan_string(s, &body, &length);
                if (m) {
                        m->body = body;
                        m->length = length;
                }
                return r;
        }
        if (c == '-' || is_digit(c))
                return scan_number(s);
        if (c == 't')
                return scan_literal(s, "true");
        if (c == 'f')
                return scan_literal(s, "false");
        if (c == 'n')
                return scan_literal(s, "null");
        return EVENT_SCAN_INVALID;
}

/* After a value: ',' then the next one, or the container's closing
 * bracket. *ret_more says whether a value is expected next. */
static enum event_scan_result scan_after_value(struct scan *s, bool *ret_more)
{
        bool object;

        while (s->depth > 0) {
                object = in_object(s);
                skip_space(s);
                if (s->p == s->end)
                        return EVENT_SCAN_TRUNCATED;
                if (*s->p == ',') {
                        s->p++;
                        *ret_more = true;
                        return object ? scan_name(s) : EVENT_SCAN_OK;
                }
                if (*s->p != (object ? '}' : ']'))
                        return EVENT_SCAN_INVALID;
                s->p++;
                s->depth--;
        }
        *ret_more = false;
        return EVENT_SCAN_OK;
}

/* Just opened a container: either it closes at once or its first member
 * follows. */
static enum event_scan_result scan_first_member(struct scan *s, bool *ret_empty)
{
        bool object = in_object(s);

        skip_space(s);
        if (s->p == s->end)
                return EVENT_SCAN_TRUNCATED;
        *ret_empty = *s->p == (object ? '}' : ']');
        if (*ret_empty) {
                s->p++;
                s->depth--;
                return EVENT_SCAN_OK;
        }
        return object ? scan_name(s) : EVENT_SCAN_OK;
}

static enum event_scan_result scan_value(struct scan *s)
{
        enum event_scan_result r;
        bool opened, empty, more = true;

        while (more) {
                skip_space(s);
                if (s->p == s->end)
                        return EVENT_SCAN_TRUNCATED;
                r = scan_value_start(s, &opened);
                if (r == EVENT_SCAN_OK && opened) {
                        r = scan_first_member(s, &empty);
                        if (r == EVENT_SCAN_OK && !empty)
                                continue;
                }
                if (r == EVENT_SCAN_OK)
                        r = scan_after_value(s, &more);
                if (r != EVENT_SCAN_OK)
                        return r;
        }
        return EVENT_SCAN_OK;
}

enum event_scan_result event_scan(const char *data, size_t length, unsigned max_depth,
                                  struct event_scan_member *members, size_t n_members,
                                  size_t *ret_offset)
{
        struct scan s = {.start = data,
                         .p = data,
                         .end = data + length,
                         .max_depth = max_depth,
                         .members = members,
                         .n_members = n_members};
        enum event_scan_result r;

        for (size_t i = 0; i < n_members; i++)
                members[i].kind = EVENT_SCAN_ABSENT;
        if (max_depth > EVENT_MAX_DEPTH_LIMIT)
                s.max_depth = EVENT_MAX_DEPTH_LIMIT;
        r = scan_value(&s);
        if (r == EVENT_SCAN_OK) {
                skip_space(&s);
                if (s.p != s.end)
                        r = EVENT_SCAN_TRAILING;
        }
        if (r == EVENT_SCAN_OK) {
                skip_space_from_start(&s);
                if (*s.p != '{')
                        r = EVENT_SCAN_NOT_OBJECT;
        }
        *ret_offset = (size_t)(s.p - s.start);
        return r;
}

static size_t put_utf8(char *out, unsigned cp)
{
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xc0 | cp >> 6);
                out[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xe0 | cp >> 12);
                out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                out[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char)(0xf0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

static unsigned hex4(const char *p)
{
        return (unsigned)(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 |
                          hex_value(p[3]));
}

/* \uXXXX at body[*i] (already validated), surrogate pairs joined; a lone
 * surrogate becomes U+FFFD as in json-c. */
static unsigned unescape_u(const char *body, size_t length, size_t *i)
{
        unsigned cp = hex4(body + *i + 2), low;

        *i += 6;
        if (cp < 0xd800 || cp > 0xdfff)
                return cp;
        if (cp > 0xdbff || *i + 6 > length || body[*i] != '\\' || body[*i + 1] != 'u')
                return 0xfffd;
        low = hex4(body + *i + 2);
        if (low < 0xdc00 || low > 0xdfff)
                return 0xfffd;
        *i += 6;
        return 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
}

static char simple_unescape(char c)
{
        switch (c) {
        case 'b':
                return '\b';
        case 'f':
                return '\f';
        case 'n':
                return '\n';
        case 'r':
                return '\r';
        case 't':
                return '\t';
        default:
                return c; /* '"', '\\' and '/' stand for themselves */
        }
}

/* Copies bytes up to the next backslash, at most out_left; returns how
 * many. Whole words are stored even past a backslash: the bytes after it
 * are overwritten by what the escape decodes to, or lie past the end. */
static size_t copy_run(const char *in, size_t in_left, char *out, size_t out_left)
{
        size_t k = 0;
        uint64_t w, bits;

        while (WORDWISE && in_left - k >= 8 && out_left - k >= 8) {
                memcpy(&w, in + k, sizeof(w));
                memcpy(out + k, &w, sizeof(w));
                bits = zero_bytes(w ^ (ONES * '\\'));
                if (bits)
                        return k + first_byte(bits);
                k += 8;
        }
        while (k < in_left && k < out_left && in[k] != '\\') {
                out[k] = in[k];
                k++;
        }
        return k;
}

ssize_t event_scan_unescape(const char *body, size_t length, char *out, size_t capacity)
{
        size_t n = 0, i = 0, k;
        char utf8[4];

        while (i < length) {
                k = copy_run(body + i, length - i, out + n, capacity - n);
                n += k;
                i += k;
                if (i == length)
                        break;
                if (body[i] != '\\')
                        return -E2BIG; /* out is full */
                if (body[i + 1] == 'u') {
                        k = put_utf8(utf8, unescape_u(body, length, &i));
                } else {
                        utf8[0] = simple_unescape(body[i + 1]);
                        k = 1;
                        i += 2;
                }
                if (n + k > capacity)
                        return -E2BIG;
                memcpy(out + n, utf8, k);
                n += k;
        }
        return (ssize_t)n;
}
