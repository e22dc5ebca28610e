/* format: the volume role's job for one volume, start to end.
 *
 * Opens volume-<id> through librbd under librbd's exclusive lock (an
 * advisory lock only on images without the exclusive-lock feature), decides
 * whether it may be formatted (already LUKS: skipped; holds data: refused),
 * and writes a LUKS1 header made with the volume's key. The image's
 * metadata key "rbd-luks-agent.state" records progress so an interrupted
 * format resumes instead of being mistaken for user data:
 *   "writing payload=P offset=O time=T"   before the first write,
 *   "formatted payload=P offset=O uuid=U time=T" after the header.
 * The order (state, grow, keyslots, first 4 KiB, state) means a crash at
 * any point leaves an image that a replay either finishes or skips.
 *
 * format_volume() never returns an error: every ending is an outcome with
 * a reason; `transient` says a retry may succeed (Ceph unreachable, lock
 * held, key not there yet). It logs only what a reason cannot carry (a
 * stale lock broken). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "keys/keys.h"
#include "stream/results.h"

#define FORMAT_REASON_MAX 512
#define FORMAT_STATE_KEY "rbd-luks-agent.state"

struct format_context;

/* Whose LUKS header the image holds at the end, as far as the format saw. */
enum format_header {
        FORMAT_HEADER_NONE,    /* none (refused, failed before or while writing) */
        FORMAT_HEADER_OURS,    /* complete, written by this agent */
        FORMAT_HEADER_FOREIGN, /* one this agent did not write (Cinder's, qemu-img's) */
};

struct format_result {
        enum outcome outcome;
        bool transient; /* only with OUTCOME_FAILED */
        char reason[FORMAT_REASON_MAX];
        enum format_header header;
        char luks_uuid[40]; /* the header's UUID with FORMAT_HEADER_OURS; may be "" */
};

/* Locked memory (struct secret pages) one format holds at most at once:
 * passphrase, master key, key-slot work, PBKDF2 work, and a page to spare. */
#define FORMAT_LOCKED_BYTES (5u * 4096u)

/* Calibrates PBKDF2 (unless [luks] iterations is set); Ceph is connected
 * lazily by the first format so a daemon starts while Ceph is down. */
int format_context_new(const struct config *c, struct keys *keys, struct format_context **ret);
void format_context_free(struct format_context *ctx);
unsigned format_context_iterations(const struct format_context *ctx);
/* Who writes key slot 0: 1 the agent (keyslot.c), 0 libcryptsetup (by
 * [luks] keyslot_writer, or parameters keyslot.c does not handle), or a
 * negative errno: libcryptsetup, because keyslot.c failed its start-up
 * self-test. *ret_why says which, for the log. */
int format_context_keyslot_writer(const struct format_context *ctx, const char **ret_why);

/* The pool's volume index (volume_index.h), through the workers' shared
 * Ceph client: entry written, or the volume's entry removed. */
struct volume_index_entry;
int format_index_put(struct format_context *ctx, const struct volume_index_entry *e);
int format_index_remove(struct format_context *ctx, const char *volume_id);

/* size_bytes: the volume's size from the event, which the raw image must
 * have; 0 (by hand) takes the image's current size. */
void format_volume(struct format_context *ctx, const char *volume_id, uint64_t size_bytes,
                   struct format_result *ret);

/* volume.resize.end (size_bytes from its payload, which event_parse
 * requires): Cinder's RBD driver resizes the raw image to exactly
 * the new size (its extend_volume), which would leave the guest the new
 * size minus the payload offset. The image is grown back to size_bytes +
 * the payload offset, never shrunk, for a header the agent finished
 * (state formatted); the state's payload= follows. Outcome resized, or
 * skipped (already that size, not the agent's header, a format still in
 * progress). No lock: librbd hands a resize to the exclusive lock's owner
 * (a guest's qemu), and taking that lock would fail the guest's writes. */
void format_extend(struct format_context *ctx, const char *volume_id, uint64_t size_bytes,
                   struct format_result *ret);

/* backup.restore.end names only the backup's source volume, never the one
 * restored into (cinder/volume/volume_utils.py:141-162): the volumes of the
 * pool's index whose image now starts with one of source's headers while
 * their entry names another, a backup of source restored over them. Each
 * listed image's first 4 KiB are read, without a lock. n_headers: source's
 * headers in the header map (0: none, nothing read); checked: images read.
 * Free entries with free(). 0, or a negative errno (an image that could not be
 * read for a reason that may pass, the index or the map unreadable). */
struct format_restore_targets {
        struct volume_index_entry *entries; /* their index entries, as they were */
        size_t n, capacity;
        size_t n_headers, checked;
};
int format_restore_targets(struct format_context *ctx, const char *source,
                           struct format_restore_targets *ret);

/* fn(cluster, opaque) on the workers' shared Ceph client (connected if
 * need be); its result, or the connection's error. */
struct ceph_cluster;
int format_with_client(struct format_context *ctx, int (*fn)(struct ceph_cluster *, void *),
                       void *opaque);
