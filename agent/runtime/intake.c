/* intake: hook-file handling shared by the roles (intake.h). */
#include "intake.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"
#include "stream/checkpoint.h"
#include "base/clock.h"
#include "base/backoff.h"
#include "base/log.h"
#include "base/reason.h"

#define SAVE_EVERY_MS 1000

unsigned intake_wait_ms(const struct config *c)
{
        uint64_t health_ms = (uint64_t)c->health_interval_s * 1000u;

        return health_ms && health_ms < c->poll_interval_ms ? (unsigned)health_ms
                                                            : c->poll_interval_ms;
}

int intake_open(const struct config *c, struct hookfile **ret)
{
        struct hookfile_position start;
        int r = checkpoint_load(c->state_dir, &start);

        if (r == -EBADMSG) {
                log_error("%s/checkpoint is not a checkpoint; refusing to guess where to resume "
                          "(remove it to start from the beginning of %s)",
                          c->state_dir, c->hook_file);
                return r;
        }
        if (r < 0 && r != -ENOENT) {
                log_error("cannot read %s/checkpoint: %s", c->state_dir, strerror(-r));
                return r;
        }
        if (r == 0)
                log_info("%s: resuming at line %" PRIu64 " (byte %" PRIu64 ")", c->hook_file,
                         start.line, start.offset);
        r = hookfile_open(c->hook_file, c->max_line_bytes, r == 0 ? &start : NULL, ret);
        if (r < 0)
                log_error("%s: cannot open: %s", c->hook_file, strerror(-r));
        return r;
}

void intake_log_hookfile_event(const char *path, enum hookfile_event e)
{
        if (e == HOOKFILE_EVENT_ROTATED)
                log_info("%s: file was rotated; now reading the new file from its start", path);
        else if (e == HOOKFILE_EVENT_TRUNCATED)
                log_warn("%s: file was truncated (shorter than our position, or the bytes "
                         "before it changed); reading from its start",
                         path);
        else if (e == HOOKFILE_EVENT_REPLACED)
                log_warn("%s: not the file of the checkpoint (replaced while the agent was "
                         "stopped); reading the new file from its start",
                         path);
}

/* False when stopped before the reject could be recorded. */
static bool reject(const struct config *c, struct results *results,
                   const struct hookfile_line *l, const char *reason)
{
        int r;

        log_error("%s:%" PRIu64 ": line rejected (byte offset %" PRIu64 ", %" PRIu64
                  " bytes): %s; copied to rejects.jsonl",
                  c->hook_file, l->start.line, l->start.offset, l->full_length, reason);
        /* The checkpoint may not pass a line whose copy is not on disk: a
         * full disk is waited out, loudly, like a result. */
        while ((r = results_reject(results, c->hook_file, l->start.line, l->start.offset,
                                   l->full_length, reason, l->data, l->length)) < 0) {
                log_error("%s:%" PRIu64 ": cannot write rejects.jsonl in %s: %s (will retry)",
                          c->hook_file, l->start.line, c->state_dir, strerror(-r));
                for (int i = 0; i < 10 && !signals_stop_requested; i++)
                        usleep(100 * 1000);
                if (signals_stop_requested)
                        return false;
        }
        return true;
}

static bool is_blank(const char *data, size_t length)
{
        for (size_t i = 0; i < length; i++)
                if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r')
                        return false;
        return true;
}

static bool json_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool contains(const char *data, size_t length, const char *word)
{
        return memmem(data, length, word, strlen(word)) != NULL;
}

/* True only when the line cannot be one of `wanted`: in JSON, letters and
 * dots of a string appear as themselves or as \uXXXX escapes, so a wanted
 * event type is in the text, or a \u is. The shape check keeps the
 * obviously broken lines (cut short, not an object, an envelope whose
 * message is not a string, a NUL byte) going to rejects as before. */
static bool cannot_be_wanted(const char *data, size_t length, const char *const *wanted)
{
        static const char key[] = "\"oslo.message\"";
        size_t start = 0, end = length;
        const char *at;

        if (!wanted)
                return false;
        while (start < end && json_space(data[start]))
                start++;
        while (end > start && json_space(data[end - 1]))
                end--;
        if (end - start < 2 || data[start] != '{' || data[end - 1] != '}' ||
            memchr(data, '\0', length) || contains(data, length, "\\u"))
                return false;
        for (size_t i = 0; wanted[i]; i++)
                if (contains(data, length, wanted[i]))
                        return false;
        at = memmem(data, length, key, sizeof(key) - 1);
        if (at) {
                const char *p = at + sizeof(key) - 1, *stop = data + length;

                while (p < stop && json_space(*p))
                        p++;
                if (p == stop || *p++ != ':')
                        return false;
                while (p < stop && json_space(*p))
                        p++;
                if (p == stop || *p != '"')
                        return false;
        }
        return true;
}

enum intake_kind intake_classify(const struct config *c, struct results *results,
                                 const struct hookfile_line *l, const char *const *wanted,
                                 struct event *ret_event)
{
        /* run --once ends at an unterminated last line: it is handled if it
         * is a whole event, else rejected; never left, so it is parsed even
         * where its text could not be a wanted event. */
        bool last = l->status == HOOKFILE_UNTERMINATED;
        const char *lead = last ? "last line has no newline and " : "";
        const char *reason = NULL;
        char why[REASON_MAX];

        if (l->status == HOOKFILE_OVERSIZED || (last && l->full_length > l->length)) {
                snprintf(why, sizeof(why),
                         last ? "last line has no newline and its %" PRIu64
                                " bytes exceed max_line_bytes (%zu)"
                              : "line of %" PRIu64 " bytes exceeds max_line_bytes (%zu)",
                         l->full_length, c->max_line_bytes);
                return reject(c, results, l, why) ? INTAKE_REJECT : INTAKE_UNRECORDED;
        }
        if (l->status == HOOKFILE_PARTIAL) {
                return reject(c, results, l, "last line of a rotated file has no newline")
                               ? INTAKE_REJECT
                               : INTAKE_UNRECORDED;
        }
        if (is_blank(l->data, l->length) ||
            (!last && cannot_be_wanted(l->data, l->length, wanted)))
                return INTAKE_IGNORE;
        if (event_parse(l->data, l->length, c->max_json_depth, ret_event, &reason) < 0) {
                if (last) {
                        snprintf(why, sizeof(why), "%sis not a whole event: %s", lead, reason);
                        reason = why;
                }
                return reject(c, results, l, reason) ? INTAKE_REJECT : INTAKE_UNRECORDED;
        }
        return INTAKE_EVENT;
}

void intake_progress_note(struct intake_progress *p, const struct hookfile_position *pos,
                          bool effect)
{
        p->pending = *pos;
        p->has_pending = true;
        p->after_effect |= effect;
}

void intake_progress_save(struct intake_progress *p, const char *state_dir, bool idle)
{
        int r;

        if (!p->has_pending)
                return;
        if (!idle && !p->after_effect && clock_now_ms() - p->last_save_ms < SAVE_EVERY_MS)
                return;
        r = checkpoint_save(state_dir, &p->pending);
        if (r < 0) {
                if (!p->failing)
                        log_error("cannot save checkpoint in %s: %s (progress kept in memory; "
                                  "will retry)", state_dir, strerror(-r));
                p->failing = true;
                return;
        }
        if (p->failing)
                log_info("checkpoint saved again in %s", state_dir);
        p->failing = false;
        p->has_pending = false;
        p->after_effect = false;
        p->last_save_ms = clock_now_ms();
}

void intake_retry_begin(struct intake_retry *r, const struct config *c)
{
        *r = (struct intake_retry){.config = c, .start_ms = clock_now_ms(),
                                   .delay_ms = c->retry_initial_ms};
}

bool intake_retry_after_failure(struct intake_retry *r, const char *volume_id, char *reason,
                                size_t size, unsigned *ret_wait_ms)
{
        const struct config *c = r->config;
        uint64_t elapsed = clock_now_ms() - r->start_ms;
        char gave_up[1024];

        r->attempt++;
        if (elapsed + r->delay_ms > (uint64_t)c->retry_give_up_s * 1000u) {
                snprintf(gave_up, sizeof(gave_up),
                         "gave up after %u attempts in %" PRIu64 " s: %.440s", r->attempt,
                         elapsed / 1000, reason);
                snprintf(reason, size, "%s", gave_up);
                return false;
        }
        log_warn("volume %s: attempt %u failed, retrying in %u ms: %s", volume_id, r->attempt,
                 r->delay_ms, reason);
        *ret_wait_ms = r->delay_ms;
        r->delay_ms = backoff_next(r->delay_ms, c->retry_max_ms);
        return true;
}
