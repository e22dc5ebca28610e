/* backoff: the doubling wait every retry loop of the agent uses (the
 * [retry] policy of one event, the feeder's reconnects, the compute role's
 * libvirt reconnects and reconciles).
 *
 * A pure function with no state of its own: each caller keeps its wait and
 * its own first value ([retry] initial_ms). No jitter: a wait is exactly
 * what the last one doubled gives, up to the cap. */
#pragma once

/* The wait after delay_ms: twice delay_ms, or max_ms when that would be
 * more than max_ms (never overflows; a delay_ms already above max_ms also
 * gives max_ms). */
unsigned backoff_next(unsigned delay_ms, unsigned max_ms);
