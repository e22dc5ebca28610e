/* intake: what every role does with the hook file before and after its own
 * work — open it at the checkpoint, sort each line into "reject", "not an
 * event" or "event", record rejects, save progress — and the [retry]
 * policy of one event. The clock is base/clock.h, the stop and reload
 * flags runtime/signals.h.
 *
 * Role code calls these and logs nothing about intake itself: these
 * functions log, once, naming the hook file, line and byte offset. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "stream/event.h"
#include "stream/hookfile.h"
#include "stream/results.h"

/* Opens the hook file at the checkpoint in state_dir. Logs failures. */
int intake_open(const struct config *c, struct hookfile **ret);

/* Logs rotation, truncation or replacement noticed by hookfile_next. */
void intake_log_hookfile_event(const char *path, enum hookfile_event e);

enum intake_kind {
        INTAKE_REJECT, /* copied to rejects.jsonl, logged */
        INTAKE_IGNORE, /* blank line, or one that cannot be a wanted event */
        INTAKE_EVENT,  /* *ret_event parsed */
        INTAKE_UNRECORDED, /* a reject not yet on disk when a stop came: the
                            * caller must not move past this line */
};

/* Sorts one line; rejects are recorded (rejects.jsonl + log) here.
 * wanted: the event types the role acts on (NULL-terminated), or NULL. A
 * line whose text cannot hold any of them (none of them in it, nor a \u
 * escape that could spell one) and that has the shape of one JSON object
 * (an oslo envelope's message a string) is INTAKE_IGNORE without a full
 * parse: such lines are the bulk of a busy notification stream. Anything
 * that could be a wanted event is parsed and checked in full. */
enum intake_kind intake_classify(const struct config *c, struct results *results,
                                 const struct hookfile_line *l, const char *const *wanted,
                                 struct event *ret_event);

/* Saving progress: right away after an event with effects, otherwise at
 * most once a second or when idle (replaying settled lines is harmless). */
struct intake_progress {
        struct hookfile_position pending;
        bool has_pending;
        bool after_effect;
        bool failing; /* last save failed; logged once per streak */
        uint64_t last_save_ms;
};

void intake_progress_note(struct intake_progress *p, const struct hookfile_position *pos,
                          bool effect);
void intake_progress_save(struct intake_progress *p, const char *state_dir, bool idle);

/* The longest a role's loop sleeps waiting for the hook file:
 * poll_interval_ms, but no longer than health_interval, so the loop comes
 * round to refresh state_dir/health in time. */
unsigned intake_wait_ms(const struct config *c);

/* The [retry] policy for one event, shared by the roles: doubling waits
 * from initial_ms up to max_ms, until give_up_after_s have passed. */
struct intake_retry {
        const struct config *config;
        uint64_t start_ms;
        unsigned delay_ms;
        unsigned attempt; /* attempts made so far */
};

void intake_retry_begin(struct intake_retry *r, const struct config *c);

/* After a failed attempt that may pass: logs the retry and gives the wait
 * before the next attempt, or returns false when the policy gives up and
 * rewrites reason (size bytes) to say after how many attempts and seconds. */
bool intake_retry_after_failure(struct intake_retry *r, const char *volume_id, char *reason,
                                size_t size, unsigned *ret_wait_ms);
