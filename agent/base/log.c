/* log: diagnostics to stderr, as text or one JSON object per line (log.h). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static enum log_level current_level = LOG_LEVEL_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format format)
{
        current_level = level;
        current_format = format;
}

int log_open_file(const char *path)
{
        char dir[4096];
        const char *slash = strrchr(path, '/');
        int fd;

        if (slash && slash > path && (size_t)(slash - path) < sizeof(dir)) {
                memcpy(dir, path, (size_t)(slash - path));
                dir[slash - path] = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        pthread_mutex_lock(&log_lock);
        if (log_fd >= 0)
                close(log_fd);
        log_fd = fd;
        pthread_mutex_unlock(&log_lock);
        return 0;
}

enum log_level log_get_level(void)
{
        return current_level;
}

int log_level_from_string(const char *s, enum log_level *ret)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = (enum log_level)i;
                        return 0;
                }
        return -EINVAL;
}

int log_format_from_string(const char *s, enum log_format *ret)
{
        if (strcmp(s, "text") == 0)
                *ret = LOG_FORMAT_TEXT;
        else if (strcmp(s, "json") == 0)
                *ret = LOG_FORMAT_JSON;
        else
                return -EINVAL;
        return 0;
}

static void format_time(char *buf, size_t size)
{
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000);
}

/* JSON string escaping for the message; control bytes become \u00XX. */
static void json_escape(const char *in, char *out, size_t size)
{
        size_t o = 0;

        for (const unsigned char *p = (const unsigned char *)in; *p && o + 7 < size; p++) {
                if (*p == '"' || *p == '\\') {
                        out[o++] = '\\';
                        out[o++] = (char)*p;
                } else if (*p < 0x20) {
                        o += (size_t)snprintf(out + o, size - o, "\\u%04x", *p);
                } else {
                        out[o++] = (char)*p;
                }
        }
        out[o] = '\0';
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
        char msg[LOG_LINE_MAX], when[64], line[LOG_LINE_MAX * 2 + 128];
        int saved_errno = errno, n;

        if (level > current_level)
                return;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        format_time(when, sizeof(when));
        pthread_mutex_lock(&log_lock);
        if (current_format == LOG_FORMAT_JSON) {
                char escaped[LOG_LINE_MAX * 2];

                json_escape(msg, escaped, sizeof(escaped));
                n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
                             when, level_names[level], escaped);
        } else {
                n = snprintf(line, sizeof(line), "%s %-5s %s\n", when, level_names[level], msg);
        }
        if (n < 0)
                n = 0;
        if ((size_t)n >= sizeof(line)) {
                n = (int)sizeof(line) - 1;
                line[n - 1] = '\n';
        }
        fputs(line, stderr);
        fflush(stderr);
        /* One write per line: O_APPEND keeps lines whole next to a truncation. */
        if (log_fd >= 0 && write(log_fd, line, (size_t)n) < 0)
                (void)0; /* stderr has it; a full disk must not stop the agent */
        pthread_mutex_unlock(&log_lock);
        errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vmsg(level, fmt, ap);
        va_end(ap);
}
