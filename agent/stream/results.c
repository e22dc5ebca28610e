/* results: results.jsonl and rejects.jsonl under state_dir (results.h).
 *
 * Records are built with json-c, then written as one line by one write(2)
 * under a mutex, then fdatasync'ed. json-c copies bytes >= 0x80 through
 * unchanged, so strings are first made valid UTF-8 here: each byte that is
 * not part of a well-formed sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF, no cut-off sequence) becomes U+FFFD.
 * Replacing rather than escaping keeps the field a plain string an
 * operator's jq can print. Returns 0 or -errno, never logs. */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct results {
        pthread_mutex_t lock;
        int results_fd;
        int rejects_fd;
};

const char *outcome_to_string(enum outcome o)
{
        switch (o) {
        case OUTCOME_FORMATTED:
                return "formatted";
        case OUTCOME_SKIPPED:
                return "skipped";
        case OUTCOME_REFUSED:
                return "refused";
        case OUTCOME_FAILED:
                return "failed";
        case OUTCOME_PROVISIONED:
                return "provisioned";
        case OUTCOME_REMOVED:
                return "removed";
        case OUTCOME_KEPT:
                return "kept";
        case OUTCOME_PLACEHOLDER:
                return "placeholder";
        case OUTCOME_RESTORED:
                return "restored";
        case OUTCOME_EXPOSED:
                return "exposed";
        case OUTCOME_RESIZED:
                return "resized";
        case OUTCOME_INHERITED:
                return "inherited";
        case OUTCOME_CONVERTED:
                return "converted";
        }
        return "unknown";
}

void outcome_counts_add(struct outcome_counts *c, enum outcome o)
{
        if ((unsigned)o < OUTCOME_COUNT)
                c->n[o]++;
}

static int open_append(const char *state_dir, const char *name, int *ret_fd)
{
        char path[PATH_MAX];
        int n, fd;

        n = snprintf(path, sizeof(path), "%s/%s", state_dir, name);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                  0600);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int results_open(const char *state_dir, struct results **ret)
{
        struct results *r;
        int e;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->results_fd = r->rejects_fd = -1;
        e = open_append(state_dir, "results.jsonl", &r->results_fd);
        if (e == 0)
                e = open_append(state_dir, "rejects.jsonl", &r->rejects_fd);
        if (e == 0)
                e = -pthread_mutex_init(&r->lock, NULL);
        if (e < 0) {
                if (r->results_fd >= 0)
                        close(r->results_fd);
                if (r->rejects_fd >= 0)
                        close(r->rejects_fd);
                free(r);
                return e;
        }
        *ret = r;
        return 0;
}

void results_close(struct results *r)
{
        if (!r)
                return;
        close(r->results_fd);
        close(r->rejects_fd);
        pthread_mutex_destroy(&r->lock);
        free(r);
}

/* Length of the well-formed UTF-8 sequence at p, 0 if there is none. */
static size_t utf8_sequence_length(const unsigned char *p, size_t avail)
{
        unsigned char low = 0x80, high = 0xbf;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                n = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4;
        else
                return 0;
        /* The second byte's range is what rules out overlong forms,
         * surrogates and code points above U+10FFFF. */
        if (p[0] == 0xe0)
                low = 0xa0;
        else if (p[0] == 0xed)
                high = 0x9f;
        else if (p[0] == 0xf0)
                low = 0x90;
        else if (p[0] == 0xf4)
                high = 0x8f;
        if (avail < n || p[1] < low || p[1] > high)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

/* A JSON string of s (length bytes, bounded by the caller) made valid
 * UTF-8; NULL on allocation failure. */
static json_object *new_utf8_string(const char *s, size_t length)
{
        const unsigned char *in = (const unsigned char *)s;
        json_object *o;
        size_t o_length = 0;
        char *out;

        /* Each input byte becomes at most three (U+FFFD). */
        out = malloc(length * 3 + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < length;) {
                size_t n = utf8_sequence_length(in + i, length - i);

                if (n == 0) {
                        memcpy(out + o_length, "\xef\xbf\xbd", 3);
                        o_length += 3;
                        i++;
                        continue;
                }
                memcpy(out + o_length, in + i, n);
                o_length += n;
                i += n;
        }
        o = json_object_new_string_len(out, (int)o_length);
        free(out);
        return o;
}

static json_object *new_text(const char *s)
{
        return s ? new_utf8_string(s, strnlen(s, RESULTS_TEXT_MAX)) : NULL;
}

/* Adds value under key; a NULL value is wanted only when wanted_null, i.e.
 * the field is JSON null rather than an allocation that failed. */
static int add(json_object *obj, const char *key, json_object *value, bool wanted_null)
{
        if (!value && !wanted_null)
                return -ENOMEM;
        if (json_object_object_add(obj, key, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

static int add_text(json_object *obj, const char *key, const char *s)
{
        return add(obj, key, new_text(s), !s);
}

static int add_time(json_object *obj)
{
        struct timespec ts;
        struct tm tm;
        char buf[96];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000);
        return add(obj, "time", json_object_new_string(buf), false);
}

/* Takes the last written bytes off the file again. If even that fails
 * there is nothing better to do: the caller reports the write's errno. */
static void cut_back(int fd, size_t written)
{
        struct stat st;

        if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < written)
                return;
        if (ftruncate(fd, st.st_size - (off_t)written) < 0)
                return;
}

/* Writes line at the end of fd. Only this process appends, under the
 * mutex, so finishing a short write keeps the record whole; if the rest
 * cannot be written, the piece already out is cut off again. */
static int append_line(int fd, const char *line, size_t length)
{
        size_t done = 0;
        int r = 0;

        while (done < length) {
                ssize_t n = write(fd, line + done, length - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -ENOSPC;
                        break;
                }
                done += (size_t)n;
        }
        if (r < 0 && done > 0)
                cut_back(fd, done);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        return r;
}

/* Serializes obj as one line and appends it to fd; consumes obj. */
static int write_record(struct results *res, int fd, json_object *obj)
{
        const char *text;
        size_t length;
        char *line;
        int r;

        text = json_object_to_json_string_length(
                obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &length);
        if (!text) {
                json_object_put(obj);
                return -ENOMEM;
        }
        line = malloc(length + 1);
        if (!line) {
                json_object_put(obj);
                return -ENOMEM;
        }
        memcpy(line, text, length);
        line[length] = '\n';
        json_object_put(obj);
        pthread_mutex_lock(&res->lock);
        r = append_line(fd, line, length + 1);
        pthread_mutex_unlock(&res->lock);
        free(line);
        return r;
}

int results_append(struct results *res, const char *volume_id, const char *event_type,
                   const char *message_id, enum outcome outcome, const char *reason,
                   uint64_t elapsed_ms)
{
        json_object *obj = json_object_new_object();
        int r;

        if (!obj)
                return -ENOMEM;
        r = add_time(obj);
        if (r == 0)
                r = add_text(obj, "volume_id", volume_id);
        if (r == 0)
                r = add_text(obj, "event_type", event_type);
        if (r == 0)
                r = add_text(obj, "message_id", message_id);
        if (r == 0)
                r = add_text(obj, "outcome", outcome_to_string(outcome));
        if (r == 0)
                r = add_text(obj, "reason", reason);
        if (r == 0)
                r = add(obj, "ms", json_object_new_uint64(elapsed_ms), false);
        if (r < 0) {
                json_object_put(obj);
                return r;
        }
        return write_record(res, res->results_fd, obj);
}

int results_reject(struct results *res, const char *hook_file, uint64_t line, uint64_t offset,
                   uint64_t full_length, const char *reason, const char *data, size_t length)
{
        json_object *obj = json_object_new_object();
        int r;

        if (!obj)
                return -ENOMEM;
        if (length > RESULTS_REJECT_DATA_MAX)
                length = RESULTS_REJECT_DATA_MAX;
        r = add_time(obj);
        if (r == 0)
                r = add_text(obj, "hook_file", hook_file);
        if (r == 0)
                r = add(obj, "line", json_object_new_uint64(line), false);
        if (r == 0)
                r = add(obj, "offset", json_object_new_uint64(offset), false);
        if (r == 0)
                r = add(obj, "length", json_object_new_uint64(full_length), false);
        if (r == 0)
                r = add_text(obj, "reason", reason);
        if (r == 0)
                r = add(obj, "data", new_utf8_string(data ? data : "", data ? length : 0),
                        false);
        if (r == 0)
                r = add(obj, "truncated", json_object_new_boolean(full_length > length),
                        false);
        if (r < 0) {
                json_object_put(obj);
                return r;
        }
        return write_record(res, res->rejects_fd, obj);
}
