/* health: state_dir/health, written by the daemons' loops and judged by
 * `health` (health.h). */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fileio.h"
#include "base/json.h"
#include "base/log.h"

#define TEMP_SUFFIX ".tmp"
/* The reader takes the object and its plain fields, nothing nested. */
#define HEALTH_JSON_DEPTH 2

int health_init(struct health *h, const char *state_dir, const char *name, const char *role,
                unsigned interval_s)
{
        int n = snprintf(h->path, sizeof(h->path), "%s/%s", state_dir, name);
        int t = snprintf(h->temp, sizeof(h->temp), "%s/%s" TEMP_SUFFIX, state_dir, name);

        if (n < 0 || (size_t)n >= sizeof(h->path) || t < 0 || (size_t)t >= sizeof(h->temp))
                return -ENAMETOOLONG;
        h->role = role;
        h->interval_s = interval_s ? interval_s : 1;
        h->next_ms = 0;
        h->failing = false;
        return 0;
}

bool health_due(const struct health *h)
{
        return clock_now_ms() >= h->next_ms;
}

unsigned health_limit_s(unsigned interval_s)
{
        return 3 * interval_s + HEALTH_SLACK_S;
}

/* Printable ASCII only: the detail is shown on a terminal and in docker
 * inspect, and must stay valid JSON text whatever a reason held. */
static void clean_detail(const char *detail, char *out, size_t size)
{
        size_t i = 0;

        for (; detail && detail[i] && i + 1 < size; i++)
                out[i] = detail[i] >= 0x20 && detail[i] < 0x7f ? detail[i] : '?';
        out[i] = '\0';
}

static int build(const struct health *h, bool degraded, const char *detail, char *buf,
                 size_t size)
{
        json_object *o = json_object_new_object();
        char clean[HEALTH_DETAIL_MAX + 1];
        const char *text;
        int n = -ENOMEM;

        clean_detail(detail, clean, sizeof(clean));
        if (o && json_object_object_add(o, "pid", json_object_new_int64(getpid())) == 0 &&
            json_object_object_add(o, "time", json_object_new_int64(time(NULL))) == 0 &&
            json_object_object_add(o, "role", json_object_new_string(h->role)) == 0 &&
            json_object_object_add(o, "state",
                                   json_object_new_string(degraded ? "degraded" : "ok")) == 0 &&
            json_object_object_add(o, "detail", json_object_new_string(clean)) == 0 &&
            (text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE))) {
                n = snprintf(buf, size, "%s\n", text);
                if (n < 0 || (size_t)n >= size)
                        n = -EMSGSIZE;
        }
        json_object_put(o);
        return n;
}

int health_write(struct health *h, bool degraded, const char *detail)
{
        char text[HEALTH_FILE_MAX];
        int n;

        n = build(h, degraded, detail, text, sizeof(text));
        if (n < 0)
                return n;
        return file_replace(h->path, h->temp, text, (size_t)n, 0644, 0);
}

void health_beat(struct health *h, bool degraded, const char *fmt, ...)
{
        char detail[HEALTH_DETAIL_MAX + 1];
        va_list ap;
        int r;

        if (!health_due(h))
                return;
        h->next_ms = clock_now_ms() + (uint64_t)h->interval_s * 1000u;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        errno = 0;
        r = health_write(h, degraded, detail);
        if (r < 0 && !h->failing)
                log_error("cannot write %s: %s (health checks will call this agent stale; will "
                          "retry)", h->path, strerror(-r));
        else if (r == 0 && h->failing)
                log_info("%s written again", h->path);
        h->failing = r < 0;
}

/* ---- the check ------------------------------------------------------------ */

struct health_record {
        int64_t pid;
        int64_t time;
        const char *role;
        bool degraded;
        const char *detail;
};

static const char *field_string(json_object *o, const char *name)
{
        json_object *v;

        if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static bool field_int(json_object *o, const char *name, int64_t *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

/* NULL when o is a health record (filled in *ret), else what is wrong. */
static const char *read_record(json_object *o, struct health_record *ret)
{
        const char *state;

        if (!json_object_is_type(o, json_type_object))
                return "not a JSON object";
        if (!field_int(o, "pid", &ret->pid) || ret->pid <= 0)
                return "no pid";
        if (!field_int(o, "time", &ret->time))
                return "no time";
        if (!(ret->role = field_string(o, "role")))
                return "no role";
        if (!(ret->detail = field_string(o, "detail")))
                return "no detail";
        state = field_string(o, "state");
        if (!state || (strcmp(state, "ok") != 0 && strcmp(state, "degraded") != 0))
                return "state is not ok or degraded";
        ret->degraded = strcmp(state, "degraded") == 0;
        return NULL;
}

/* The file's bytes, NUL-terminated; false with message filled otherwise. */
static bool read_file(const char *path, char *buf, size_t size, size_t *ret_length,
                      char *message, size_t message_size)
{
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd < 0 && errno == ENOENT) {
                snprintf(message, message_size,
                         "no health file %s: the agent has not started or cannot write its "
                         "state dir", path);
                return false;
        }
        if (fd < 0) {
                snprintf(message, message_size, "cannot read %s: %s", path, strerror(errno));
                return false;
        }
        n = read(fd, buf, size - 1);
        if (n < 0)
                snprintf(message, message_size, "cannot read %s: %s", path, strerror(errno));
        else if ((size_t)n == size - 1)
                snprintf(message, message_size, "%s is not a health file (more than %zu bytes)",
                         path, size - 2);
        close(fd);
        if (n < 0 || (size_t)n == size - 1)
                return false;
        buf[n] = '\0';
        *ret_length = (size_t)n;
        return true;
}

static bool judge_record(const char *path, const struct health_record *rec,
                         unsigned interval_s, time_t now, char *message, size_t size)
{
        int64_t age = (int64_t)now - rec->time;
        char detail[HEALTH_DETAIL_MAX + 1];

        if (age < -HEALTH_SLACK_S) {
                snprintf(message, size, "%s is dated %" PRId64 " s in the future; check the clock",
                         path, -age);
                return false;
        }
        if (age < 0)
                age = 0;
        if (age > health_limit_s(interval_s)) {
                snprintf(message, size,
                         "stale: last update %" PRId64 "s ago (limit %us); the agent's main loop "
                         "is stuck or dead", age, health_limit_s(interval_s));
                return false;
        }
        clean_detail(rec->detail, detail, sizeof(detail));
        if (rec->degraded) {
                snprintf(message, size, "degraded: %s", detail);
                return false;
        }
        snprintf(message, size, "healthy: %.32s pid %" PRId64 ", updated %" PRId64 "s ago",
                 rec->role, rec->pid, age);
        return true;
}

bool health_judge(const char *path, unsigned interval_s, time_t now, char *message,
                  size_t size)
{
        char text[HEALTH_FILE_MAX + 2];
        struct health_record rec;
        struct json_doc_status st;
        json_object *o = NULL;
        const char *why = NULL;
        size_t length = 0;
        bool healthy = false;

        if (!read_file(path, text, sizeof(text), &length, message, size))
                return false;
        if (json_doc_parse(NULL, text, length, HEALTH_JSON_DEPTH, 0, &o, &st) < 0)
                why = st.error == JSON_DOC_NO_MEMORY ? "out of memory" : "not JSON";
        else
                why = read_record(o, &rec);
        if (why)
                snprintf(message, size, "%s is not a health file (%s)", path, why);
        else
                healthy = judge_record(path, &rec, interval_s, now, message, size);
        json_object_put(o);
        return healthy;
}
