/* config_problems: the problem list of one load (config_internal.h):
 * "FILE:LINE: message" entries kept in line order, at most
 * CONFIG_MAX_PROBLEMS, and where each key was seen and whether its value
 * was bad. Nothing here logs; the caller prints the list. */
#include "config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Keeps the list sorted by line (stable); when full, the latest lines go. */
static void problem_insert(struct load *l, unsigned line, char *text)
{
        struct config_problems *p = l->problems;
        size_t first = l->first_problem, i;

        if (p->count == CONFIG_MAX_PROBLEMS) {
                p->dropped++;
                if (p->count == first || l->problem_lines[p->count - 1 - first] <= line) {
                        free(text);
                        return;
                }
                free(p->lines[--p->count]);
        }
        for (i = p->count; i > first && l->problem_lines[i - 1 - first] > line; i--) {
                p->lines[i] = p->lines[i - 1];
                l->problem_lines[i - first] = l->problem_lines[i - 1 - first];
        }
        p->lines[i] = text;
        l->problem_lines[i - first] = line;
        p->count++;
}

static void problem_v(struct load *l, unsigned line, const char *fmt, va_list ap)
{
        char *msg, *text;

        l->n_problems++;
        if (vasprintf(&msg, fmt, ap) < 0) {
                l->error = -ENOMEM;
                return;
        }
        if (asprintf(&text, "%s:%u: %s", l->path, line, msg) < 0)
                l->error = -ENOMEM;
        else
                problem_insert(l, line, text);
        free(msg);
}

__attribute__((format(printf, 3, 4))) void config_problem(struct load *l, unsigned line,
                                                          const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        problem_v(l, line, fmt, ap);
        va_end(ap);
}

bool config_has_problem_at(const struct load *l, unsigned line)
{
        for (size_t i = l->first_problem; i < l->problems->count; i++)
                if (l->problem_lines[i - l->first_problem] == line)
                        return true;
        return false;
}

/* Where key k was seen and whether it was bad: once per file, or for a
 * secret key in the current [secret:NAME]. */
unsigned *config_line_of(struct load *l, const struct key_def *k)
{
        size_t id = (size_t)(k - config_keys);

        if (k->section == SECTION_SECRET)
                return &l->secret_keys[l->config->n_secrets - 1].lines[id - KEY_SECRET_FIRST];
        return &l->key_lines[id];
}

static bool *bad_of(struct load *l, const struct key_def *k)
{
        size_t id = (size_t)(k - config_keys);

        if (k->section == SECTION_SECRET)
                return &l->secret_keys[l->config->n_secrets - 1].bad[id - KEY_SECRET_FIRST];
        return &l->key_bad[id];
}

/* "key = 'value': why" at the current line; returns -EINVAL for the parser. */
__attribute__((format(printf, 4, 5))) int config_bad_value(struct load *l,
                                                           const struct key_def *k,
                                                           const char *value, const char *fmt,
                                                           ...)
{
        char *why;
        va_list ap;
        int r;

        *bad_of(l, k) = true;
        va_start(ap, fmt);
        r = vasprintf(&why, fmt, ap);
        va_end(ap);
        if (r < 0) {
                l->error = -ENOMEM;
                return -ENOMEM;
        }
        config_problem(l, l->lineno, "%s = '%s': %s", k->name, value, why);
        free(why);
        return -EINVAL;
}
