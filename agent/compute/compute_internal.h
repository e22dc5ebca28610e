/* compute_internal: what the role's own files (role_compute.c, the loop;
 * compute_connect.c, compute_events.c, compute_commands.c) and the files
 * that keep volume secrets in step with the volume index
 * (compute_volumes.c, compute_waiting.c, compute_raw_disks.c,
 * compute_reconcile.c) share. Not an interface for anyone else.
 *
 * The invariant the two keep (docs/decisions.md, "Fail closed"): every
 * live agent-managed volume in this host's scope has a `volume` secret
 * here from its creation to its deletion, holding a placeholder that
 * opens nothing until the real passphrase can be had. Events are hints;
 * the pool's volume index (volume_index.h) is the truth. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "stream/event.h"
#include "stream/results.h"
#include "virt.h"

#define COMPUTE_REASON_LEN 512
#define COMPUTE_PENDING_MAX 65536 /* volumes waiting for their real value */
#define COMPUTE_RECENT_MAX 256    /* secrets this agent removed itself, lately */
#define COMPUTE_EXPOSED_MAX 256   /* raw disks reported and still there */
#define COMPUTE_PLAIN_MAX 1024    /* raw disks of other volumes read: no agent header */
#define COMPUTE_RECENT_MS 600000
/* A reconcile with this many secrets to define uses this many threads, each
 * with a libvirt connection of its own. */
#define COMPUTE_RECONCILE_PARALLEL_MIN 16
#define COMPUTE_RECONCILE_THREADS 4
#define COMPUTE_BATCH_MAX 256 /* volumes defined per round of those threads */

struct health;
struct hookfile_line;
struct keys;
struct ceph_cluster;

/* What one volume action ended as. */
struct compute_action {
        enum outcome outcome;
        bool transient; /* a failure that may pass, or a value not known yet */
        char reason[COMPUTE_REASON_LEN];
};

struct compute_pending {
        char volume_id[EVENT_ID_MAX];
        uint64_t first_ms, next_ms;
        unsigned delay_ms;
};

struct compute_recent {
        char volume_id[EVENT_ID_MAX];
        uint64_t until_ms;
        bool own_undefine; /* its undefine notice is still to come */
        bool deleted;      /* removed for volume.delete.*: not to come back */
};

struct compute_exposure {
        char domain[256];
        char volume_id[EVENT_ID_MAX];
        bool seen; /* in the scan under way */
};

/* A volume the agent does not manage, plugged raw, whose first bytes are
 * not a header the agent made: the periodic scans do not read it again
 * while it stays plugged somewhere. */
struct compute_plain {
        char volume_id[EVENT_ID_MAX];
        bool seen; /* in the full scan under way */
};

struct compute {
        const struct config *config;
        struct results *results;
        struct keys *keys;
        struct ceph_cluster *cluster; /* lazily */
        struct secrets *libvirt;     /* NULL while disconnected */
        char host[EVENT_HOST_MAX];
        unsigned connect_delay_ms;
        uint64_t next_connect_ms, next_reconcile_ms, next_gc_ms, next_ping_ms;
        bool told_down;
        char down_reason[COMPUTE_REASON_LEN]; /* why the last libvirt connect failed */
        char waiting[COMPUTE_REASON_LEN];     /* what a retry wait is for; "" when none */
        struct health *health;                /* NULL: not a daemon (--once, commands) */
        bool once;

        /* The volume invariant. */
        bool reconciled;          /* a full reconcile has ended since libvirt connected */
        bool reconcile_due;       /* run one as soon as possible */
        unsigned reconcile_delay_ms;
        char reconcile_problem[COMPUTE_REASON_LEN]; /* why the last one failed; "" */
        /* After a backup.restore.end: reconciles still to run, when the
         * next is, and the step to the one after it (role_compute.c). */
        unsigned restore_rechecks;
        uint64_t next_restore_ms, restore_step_ms;
        int64_t restore_since; /* unix time: index entries written since then */
        int64_t refresh_since; /* set during a reconcile that refreshes those; 0 */
        struct compute_pending *pending;
        size_t n_pending, pending_capacity;
        struct compute_recent recent[COMPUTE_RECENT_MAX];
        size_t recent_next;
        struct compute_exposure exposed[COMPUTE_EXPOSED_MAX];
        size_t n_exposed;
        struct compute_plain plain[COMPUTE_PLAIN_MAX];
        size_t n_plain;

        struct outcome_counts counts;
        uint64_t rejected, ignored;
};

void compute_set_action(struct compute_action *a, enum outcome o, bool transient,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* What an event (or a `secrets` command) asks of one volume's secret. */
enum compute_intent {
        COMPUTE_INTENT_NONE,
        COMPUTE_INTENT_PLACEHOLDER,
        COMPUTE_INTENT_PROVISION,
        COMPUTE_INTENT_REMOVE
};

/* compute_intent.c */
/* a and b name the same host: equal, or equal up to their first '.' (Nova
 * and Cinder record either the short or the full name). */
bool compute_same_host(const char *a, const char *b);
/* What ev asks of host's secret for its volume: a placeholder on
 * create.start and manage_existing.start; the value on an event after which
 * the volume is whole and typed (a retype only of an available volume) and on
 * attach events naming host; a removal on delete events; else nothing
 * (detach, other hosts' attaches, events that are not about a volume). */
enum compute_intent compute_intent_of(const char *host, const struct event *ev);

/* role_compute.c */
/* Logs, counts and appends one ending to results.jsonl; false only when
 * stopped while results.jsonl could not be written. */
bool compute_record(struct compute *cp, const char *event_type, const char *message_id,
                    const char *volume_id, const struct compute_action *a, uint64_t ms);
/* Waits ms, keeping the health file fresh; true when a stop was asked. */
bool compute_sleep_or_stop(struct compute *cp, unsigned ms);
/* A backup.restore.end seen: the reconciles that follow it scheduled. */
void compute_restore_seen(struct compute *cp, struct compute_action *a);
/* The role's state, results and key provider opened (logs why not);
 * compute_destroy() after either outcome. */
int compute_init(struct compute *cp, const struct config *c, bool once);
void compute_destroy(struct compute *cp);

/* compute_connect.c */
/* Connected, or -ENOTCONN while libvirt is away (reconnects with backoff). */
int compute_ensure_libvirt(struct compute *cp);
/* [compute] sasl_user/sasl_password_file, as virt_connect() takes them. */
struct virt_login compute_libvirt_login(const struct config *c);
/* Makes every [secret:NAME] exist as configured; logs what it changed. */
void compute_apply_static_secrets(struct compute *cp, const char *occasion);
int compute_cluster(struct compute *cp, struct ceph_cluster **ret);
void compute_cluster_failed(struct compute *cp, int r);

/* compute_events.c */
/* Handles one line; true when it has ended (its position may be saved),
 * *ret_effect when something was recorded. */
bool compute_handle_line(struct compute *cp, const struct hookfile_line *l, bool *ret_effect);

/* The live volume ids of the last index walk, sorted (NULL: ask the index). */
struct compute_live_set {
        char (*ids)[EVENT_ID_MAX];
        size_t n;
};

/* compute_volumes.c */
/* Volume ids, or records that start with one, in key order. */
int compute_compare_ids(const void *a, const void *b);
bool compute_in_scope(const struct compute *cp, const char *type, const char *host,
                      const char *zone, char *why, size_t why_size);
bool compute_is_static_volume(const struct compute *cp, const char *volume_id);
/* Defines the placeholder when the volume has no secret here. */
void compute_placeholder(struct compute *cp, const char *volume_id, struct compute_action *a);
/* Makes the secret hold what the index says: the real value once the
 * volume is formatted (PROVISIONED), a placeholder while it is not yet
 * (PLACEHOLDER, transient: ask again) or never will be (refused, failed:
 * PLACEHOLDER), none for a header the agent did not write (REMOVED or
 * SKIPPED). */
void compute_provision(struct compute *cp, const char *volume_id, struct compute_action *a);
/* Removes our secret unless a domain uses it (running ones only, or any
 * defined one). deleted: for the volume's deletion; the reconcile then
 * leaves it removed while the index still lists it (COMPUTE_RECENT_MS). */
void compute_remove(struct compute *cp, const char *volume_id, bool running_only, bool dry_run,
                    bool deleted, struct compute_action *a);
/* The placeholder, or the real value (threaded: from a reconcile worker),
 * on connection conn: cp->libvirt, or a reconcile worker's own. absent:
 * the caller expects libvirt to hold no secret for the volume. */
void compute_placeholder_on(struct compute *cp, struct secrets *conn, const char *volume_id,
                            bool absent, struct compute_action *a);
void compute_value_on(struct compute *cp, struct secrets *conn, bool threaded,
                      const char *volume_id, bool absent, struct compute_action *a);
void compute_set_real_value(struct compute *cp, const char *volume_id, bool absent,
                            struct compute_action *a);
/* Removed lately for the volume's deletion: not to be put back. */
bool compute_deleted_lately(struct compute *cp, const char *volume_id);
/* libvirt's events: secrets put back, domains checked for raw disks. */
void compute_notices(struct compute *cp);

/* compute_waiting.c */
/* The volume's place in the waiting list; NULL: it is not waiting. */
struct compute_pending *compute_pending_find(struct compute *cp, const char *volume_id);
/* Waits for a value, retried by compute_pending_run() with [retry]'s
 * backoff until give_up_after_s. */
void compute_pending_add(struct compute *cp, const char *volume_id);
void compute_pending_drop(struct compute *cp, const char *volume_id);
void compute_pending_run(struct compute *cp);

/* compute_reconcile.c */
/* Everything in step with the index; 0, or a negative errno when the
 * index or libvirt could not be read (the reason is in
 * cp->reconcile_problem; -EIO: read, but some volumes could not be put
 * right). fix_live: give live volumes their secrets; remove_dead: remove
 * our secrets of volumes that are gone (dry_run: only report them);
 * print: one stdout line per change. */
int compute_reconcile(struct compute *cp, bool fix_live, bool remove_dead, bool dry_run,
                      bool print);
/* `secrets list`: one line per volume with its state here. */
int compute_list_volumes(struct compute *cp);

/* compute_raw_disks.c */
/* The running domains (or the one named) checked for agent-managed
 * volumes plugged without <encryption>. */
void compute_scan_domains(struct compute *cp, const char *domain);
/* The same, judging what is managed by live (NULL: ask the index). */
void compute_scan_live(struct compute *cp, const char *domain,
                       const struct compute_live_set *live);
