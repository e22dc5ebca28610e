/* reason: the one-line explanation a helper hands back with its error.
 *
 * Helpers return a negative errno and, through `const char **ret_reason`
 * (which may be NULL), a text fit for a log. reason_set() hands back a
 * static text; reason_format() formats into a per-thread buffer that stays
 * valid until the same thread formats the next reason, so callers copy or
 * log it before calling another helper. Both return r, for
 * `return reason_format(-EINVAL, ret_reason, ...)`. */
#pragma once

#define REASON_MAX 1024

int reason_set(int r, const char **ret_reason, const char *text);
int reason_format(int r, const char **ret_reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
