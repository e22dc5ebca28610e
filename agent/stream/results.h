/* results: the append-only records an operator reads under state_dir.
 *
 * results.jsonl gets one line per handled event, rejects.jsonl one line per
 * hook-file line that could not be used (with the line's bytes, bounded).
 * Each record is one write(2) on an O_APPEND descriptor followed by
 * fdatasync, so concurrent writers never interleave and a written record
 * survives a crash. Returns 0 or negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a record carries: free-text fields (ids, reason, path)
 * are cut at RESULTS_TEXT_MAX bytes, a reject's data at
 * RESULTS_REJECT_DATA_MAX (its "truncated" is then true). In every string
 * each byte that is not part of a valid UTF-8 sequence becomes U+FFFD and
 * control bytes (NUL included) are escaped, so every record is valid JSON.
 * A write that fails part-way is cut back off the file before the -errno
 * (-ENOSPC, -EFBIG, -EDQUOT...) is returned. */
#define RESULTS_TEXT_MAX 4096
#define RESULTS_REJECT_DATA_MAX (64 * 1024)

/* Volume role: formatted, skipped, refused, failed. Compute role:
 * provisioned (secret defined), removed, kept (still in use), skipped,
 * failed. */
enum outcome {
        OUTCOME_FORMATTED,
        OUTCOME_SKIPPED,
        OUTCOME_REFUSED,
        OUTCOME_FAILED,
        OUTCOME_PROVISIONED,
        OUTCOME_REMOVED,
        OUTCOME_KEPT,
        OUTCOME_PLACEHOLDER, /* compute: a secret that opens nothing, until the value is known */
        OUTCOME_RESTORED,    /* compute: put back after someone else undefined it */
        OUTCOME_EXPOSED,     /* compute: a running domain has the volume without <encryption> */
        OUTCOME_RESIZED,     /* volume: grown back to the new size + the payload offset */
        OUTCOME_INHERITED,   /* volume: another volume's header, its key re-bound to this one */
        OUTCOME_CONVERTED,   /* volume: its plain data copied into a new LUKS image of its name */
};

const char *outcome_to_string(enum outcome o);

/* How many endings of each outcome a role has had since it started (its
 * health detail, its "done:" line, the exit code of --once). Here, beside
 * enum outcome, because an outcome is what results.jsonl records and both
 * roles include stream/: a new outcome has its counter without another
 * edit, and the roles stop keeping one field per outcome. Plain counters:
 * a role that counts from several threads holds its own lock. */
#define OUTCOME_COUNT (OUTCOME_CONVERTED + 1)

struct outcome_counts {
        uint64_t n[OUTCOME_COUNT];
};

/* An o outside enum outcome is not counted. */
void outcome_counts_add(struct outcome_counts *c, enum outcome o);

struct results;

int results_open(const char *state_dir, struct results **ret);
void results_close(struct results *r);

/* volume_id may be NULL (event without one); reason is free text. */
int results_append(struct results *r, const char *volume_id, const char *event_type,
                   const char *message_id, enum outcome outcome, const char *reason,
                   uint64_t elapsed_ms);

int results_reject(struct results *r, const char *hook_file, uint64_t line, uint64_t offset,
                   uint64_t full_length, const char *reason, const char *data, size_t length);
