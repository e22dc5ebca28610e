/* log: the agent's only writer of diagnostics, to stderr (and a log file).
 *
 * Modules below the command layer do not log; they return negative errno
 * and the caller that knows the volume, file or line logs once. Messages
 * never carry secret values: callers pass names and ids, not buffers. */
#pragma once

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void log_setup(enum log_level level, enum log_format format);
/* Every line from now on goes to path too (appended; created 0640; not a
 * link), as well as to stderr: Kolla's /var/log/kolla/<service>/, which
 * its logrotate truncates in place (copytruncate) and fluentd tails.
 * Created 0644, as Kolla's services leave theirs (messages carry ids,
 * never secrets), in a directory made 0755 if missing (Kolla's
 * extend_start does the same for its services). 0 or a negative errno. */
int log_open_file(const char *path);
enum log_level log_get_level(void);

/* Parses "error|warn|info|debug" / "text|json"; 0 or -EINVAL. */
int log_level_from_string(const char *s, enum log_level *ret);
int log_format_from_string(const char *s, enum log_format *ret);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
