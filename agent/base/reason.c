/* reason: per-thread explanation texts for helper errors (reason.h). */
#include "reason.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char reason_buffer[REASON_MAX];

int reason_set(int r, const char **ret_reason, const char *text)
{
        if (ret_reason)
                *ret_reason = text;
        return r;
}

int reason_format(int r, const char **ret_reason, const char *fmt, ...)
{
        char text[REASON_MAX];
        va_list ap;

        /* Through a local copy: an argument may be the previous reason. */
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        memcpy(reason_buffer, text, sizeof(text));
        return reason_set(r, ret_reason, reason_buffer);
}
