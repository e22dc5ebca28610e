/* compute_events: one hook-file line in the compute role: the event types
 * it acts on, the [retry] policy around what each asks here
 * (compute_intent.c), and the record of its ending. */
#include <stdio.h>
#include <string.h>

#include "compute_internal.h"
#include "stream/event.h"
#include "stream/hookfile.h"
#include "runtime/intake.h"
#include "base/clock.h"

/* ---- events ------------------------------------------------------------ */

/* The event types this role acts on, for intake_classify() and compute_intent_of().
 * create.start (and manage_existing.start): the secret at once, with a
 * placeholder; create.end (manage_existing.end, and a retype of an
 * available volume into a type in scope: the volume agent formats or
 * converts it then): a placeholder if none is there, its
 * real value once the volume agent has recorded the format; attach events
 * naming this host: the same, a hint only (Nova builds the disk before
 * Cinder says so: docs/decisions.md); delete: removed. Detach events
 * change nothing: the secret stays until the volume is deleted. */
static const char *const handled_types[] = {
        "volume.create.start",         "volume.create.end",  "volume.manage_existing.start",
        "volume.manage_existing.end",  "volume.attach.start", "volume.attach.end",
        "volume.delete.start",         "volume.delete.end",  "volume.retype",
        "backup.restore.end",          NULL};

/* One intent with the [retry] policy for failures that may pass; false
 * when stopped first. A value that is not known yet is not retried here
 * but waited for (compute_pending_add), so the events behind it go on. */
static bool act_with_retries(struct compute *cp, enum compute_intent intent, const char *volume_id,
                             struct compute_action *a)
{
        struct intake_retry retry;
        unsigned wait_ms;
        bool stop = false;

        intake_retry_begin(&retry, cp->config);
        for (;;) {
                if (intent == COMPUTE_INTENT_PLACEHOLDER)
                        compute_placeholder(cp, volume_id, a);
                else if (intent == COMPUTE_INTENT_PROVISION)
                        compute_provision(cp, volume_id, a);
                else
                        compute_remove(cp, volume_id, true, false, true, a);
                if (a->outcome != OUTCOME_FAILED || !a->transient ||
                    !intake_retry_after_failure(&retry, volume_id, a->reason, sizeof(a->reason),
                                                &wait_ms))
                        break;
                snprintf(cp->waiting, sizeof(cp->waiting),
                         "volume %s: attempt %u failed, will retry: %.300s", volume_id,
                         retry.attempt, a->reason);
                stop = compute_sleep_or_stop(cp, wait_ms);
                if (stop)
                        break;
        }
        cp->waiting[0] = '\0';
        if (!stop && intent == COMPUTE_INTENT_PROVISION && a->outcome == OUTCOME_PLACEHOLDER &&
            a->transient)
                compute_pending_add(cp, volume_id);
        return !stop;
}

/* Handles one line; true when it has ended (its position may be saved),
 * *ret_effect when something was recorded. */
bool compute_handle_line(struct compute *cp, const struct hookfile_line *l, bool *ret_effect)
{
        const struct config *c = cp->config;
        struct compute_action a;
        struct event ev;
        enum compute_intent intent;
        uint64_t start = clock_now_ms();

        *ret_effect = false;
        switch (intake_classify(c, cp->results, l, handled_types, &ev)) {
        case INTAKE_UNRECORDED:
                return false;
        case INTAKE_REJECT:
                cp->rejected++;
                return true;
        case INTAKE_IGNORE:
                cp->ignored++;
                return true;
        case INTAKE_EVENT:
                break;
        }
        if (strcmp(ev.event_type, "backup.restore.end") == 0) {
                compute_restore_seen(cp, &a);
                *ret_effect = true;
                return compute_record(cp, ev.event_type, ev.message_id, ev.volume_id, &a,
                                      clock_now_ms() - start);
        }
        intent = compute_intent_of(cp->host, &ev);
        if (intent == COMPUTE_INTENT_NONE) {
                cp->ignored++;
                return true;
        }
        if (intent != COMPUTE_INTENT_REMOVE &&
            !compute_in_scope(cp, ev.has_volume_type ? ev.volume_type : NULL,
                              ev.volume_host[0] ? ev.volume_host : NULL,
                              ev.zone_unreadable ? "" : ev.availability_zone, a.reason,
                              sizeof(a.reason))) {
                a.outcome = OUTCOME_SKIPPED;
                a.transient = false;
        } else if (!act_with_retries(cp, intent, ev.volume_id, &a)) {
                return false;
        }
        /* Nothing to remove here: every compute host sees every delete. */
        if (intent == COMPUTE_INTENT_REMOVE && a.outcome == OUTCOME_SKIPPED) {
                cp->ignored++;
                return true;
        }
        *ret_effect = true;
        return compute_record(cp, ev.event_type, ev.message_id, ev.volume_id, &a,
                              clock_now_ms() - start);
}
