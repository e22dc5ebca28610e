/* compute_waiting: the volumes waiting for their real value
 * (compute_internal.h): a volume created but not formatted yet keeps its
 * placeholder and is asked about again with [retry]'s backoff until it is
 * formatted or give_up_after_s has passed; the periodic reconcile goes on
 * after that. */
#include "compute_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "runtime/signals.h"
#include "base/array.h"
#include "base/log.h"

struct compute_pending *compute_pending_find(struct compute *cp, const char *volume_id)
{
        for (size_t i = 0; i < cp->n_pending; i++)
                if (strcmp(cp->pending[i].volume_id, volume_id) == 0)
                        return &cp->pending[i];
        return NULL;
}

void compute_pending_add(struct compute *cp, const char *volume_id)
{
        uint64_t now = clock_now_ms();
        struct compute_pending *p = compute_pending_find(cp, volume_id);

        if (p)
                return;
        if (cp->n_pending == COMPUTE_PENDING_MAX) {
                /* The periodic reconcile still finds it. */
                log_warn("volume %s: more than %d volumes wait for their value; this one waits "
                         "for the next reconcile", volume_id, COMPUTE_PENDING_MAX);
                return;
        }
        if (array_grow((void **)&cp->pending, &cp->pending_capacity, cp->n_pending,
                 sizeof(*cp->pending)) < 0) {
                log_warn("volume %s: out of memory; it waits for the next reconcile", volume_id);
                return;
        }
        p = &cp->pending[cp->n_pending++];
        *p = (struct compute_pending){.first_ms = now,
                                      .next_ms = now + cp->config->retry_initial_ms,
                                      .delay_ms = cp->config->retry_initial_ms};
        snprintf(p->volume_id, sizeof(p->volume_id), "%s", volume_id);
}

void compute_pending_drop(struct compute *cp, const char *volume_id)
{
        struct compute_pending *p = compute_pending_find(cp, volume_id);

        if (p)
                *p = cp->pending[--cp->n_pending];
}

void compute_pending_run(struct compute *cp)
{
        const struct config *c = cp->config;
        uint64_t now = clock_now_ms();
        char (*due)[EVENT_ID_MAX];
        size_t n_due = 0;

        if (cp->n_pending == 0)
                return;
        /* The due ones first: an attempt may add to or drop from the list. */
        due = calloc(cp->n_pending, EVENT_ID_MAX);
        if (!due)
                return;
        for (size_t i = 0; i < cp->n_pending; i++)
                if (cp->pending[i].next_ms <= now)
                        memcpy(due[n_due++], cp->pending[i].volume_id, EVENT_ID_MAX);
        for (size_t i = 0; i < n_due && !signals_stop_requested; i++) {
                struct compute_pending *p;
                struct compute_action a;
                bool waiting;

                compute_provision(cp, due[i], &a);
                waiting = a.transient && (a.outcome == OUTCOME_PLACEHOLDER ||
                                          a.outcome == OUTCOME_FAILED);
                p = compute_pending_find(cp, due[i]);
                if (p && waiting && now - p->first_ms < (uint64_t)c->retry_give_up_s * 1000u) {
                        p->delay_ms = p->delay_ms * 2 > c->retry_max_ms ? c->retry_max_ms
                                                                         : p->delay_ms * 2;
                        p->next_ms = now + p->delay_ms;
                        continue;
                }
                if (p && waiting)
                        compute_set_action(&a, a.outcome, false,
                                           "gave up waiting after %u s; the periodic reconcile "
                                           "goes on: %.400s", c->retry_give_up_s, a.reason);
                compute_pending_drop(cp, due[i]);
                (void)compute_record(cp, "rbd-luks-agent.value", NULL, due[i], &a,
                                     clock_now_ms() - now);
        }
        free(due);
}
