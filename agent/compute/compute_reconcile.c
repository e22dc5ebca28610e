/* compute_reconcile: everything in step with the pool's volume index
 * (compute_internal.h): one walk of the index against libvirt's secrets,
 * the live volumes given their secrets (in parallel, on connections of
 * their own, when there are many), our secrets of gone volumes removed,
 * the raw-disk check against the same picture; and `secrets list`, which
 * shows that picture. */
#include "compute_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "runtime/signals.h"
#include "base/array.h"
#include "base/log.h"
#include "ceph/ceph.h"
#include "records/volume_index.h"

/* ---- the reconcile ----------------------------------------------------- */

/* What the reconcile keeps of an in-scope index entry: 10,000 of them
 * cost 0.7 MB, not the 7 MB of whole entries. */
struct live_entry {
        char volume_id[EVENT_ID_MAX];
        enum volume_index_state state;
        /* Formatted again since cp->refresh_since (a re-bind after a
         * restore): its value is set again even where one is in place. */
        bool refresh;
};

struct walk {
        struct compute *cp;
        struct live_entry *entries; /* in scope, in key order */
        size_t n, capacity;
        char (*out_of_scope)[EVENT_ID_MAX];
        size_t n_out, capacity_out;
        size_t undecodable;
};

static int walk_entry(void *opaque, const char *volume_id, const struct volume_index_entry *e)
{
        struct walk *w = opaque;
        char why[COMPUTE_REASON_LEN];

        if (!e) {
                if (w->undecodable++ == 0)
                        log_warn("volume index entry %s does not parse; it is left out", volume_id);
                return 0;
        }
        if (!compute_in_scope(w->cp, e->type, e->host, e->zone, why, sizeof(why))) {
                if (array_grow((void **)&w->out_of_scope, &w->capacity_out, w->n_out,
                         sizeof(*w->out_of_scope)) < 0)
                        return -ENOMEM;
                snprintf(w->out_of_scope[w->n_out++], EVENT_ID_MAX, "%s", volume_id);
                return 0;
        }
        if (array_grow((void **)&w->entries, &w->capacity, w->n, sizeof(*w->entries)) < 0)
                return -ENOMEM;
        memcpy(w->entries[w->n].volume_id, e->volume_id, EVENT_ID_MAX);
        w->entries[w->n].refresh = w->cp->refresh_since && e->time >= w->cp->refresh_since;
        w->entries[w->n++].state = e->state;
        return 0;
}

static int compare_secret_usage(const void *a, const void *b)
{
        const struct virt_info *x = a, *y = b;

        if (x->usage != y->usage)
                return x->usage < y->usage ? -1 : 1;
        return strcmp(x->usage_id, y->usage_id);
}

static const struct virt_info *find_secret(const struct virt_info *all, size_t n,
                                              const char *volume_id)
{
        struct virt_info key = {.usage = VIRT_USAGE_VOLUME};

        snprintf(key.usage_id, sizeof(key.usage_id), "%s", volume_id);
        return bsearch(&key, all, n, sizeof(*all), compare_secret_usage);
}

/* Entries are in key order, as the omap gives them; the id comes first. */
static bool in_entries(const struct walk *w, const char *volume_id)
{
        return w->n &&
               bsearch(volume_id, w->entries, w->n, sizeof(*w->entries), compute_compare_ids);
}

/* Both lists are in key order, as the omap gives them. */
static bool in_out_of_scope(const struct walk *w, const char *volume_id)
{
        return w->n_out &&
               bsearch(volume_id, w->out_of_scope, w->n_out, EVENT_ID_MAX,
                       compute_compare_ids) != NULL;
}

struct tally {
        unsigned changed, failed, foreign, removed, kept;
};

static void note(struct compute *cp, struct tally *t, const char *volume_id,
                 const struct compute_action *a, bool print)
{
        if (a->outcome == OUTCOME_FAILED)
                t->failed++;
        else
                t->changed++;
        (void)compute_record(cp, "rbd-luks-agent.reconcile", NULL, volume_id, a, 0);
        if (print) {
                printf("volume %s: %s: %s\n", volume_id, outcome_to_string(a->outcome), a->reason);
                fflush(stdout);
        }
}

/* Secrets the reconcile defines or gives their value: in parallel, on
 * connections of their own, when there are many (a wiped libvirtd's
 * store: its fsync per secret is the floor, and libvirtd serves clients
 * on several threads). */
struct batch_item {
        char volume_id[EVENT_ID_MAX];
        bool value;  /* the real value; else a placeholder */
        bool absent; /* libvirt listed no secret for it */
        struct compute_action a;
};

/* At most COMPUTE_BATCH_MAX items wait at once: 10,000 volumes to define
 * are done a chunk at a time, so the reconcile's memory does not grow with
 * the number of secrets it writes. */
struct batch {
        struct compute *cp;
        struct tally *t;
        bool print;
        struct batch_item *items;
        size_t n, capacity;
        size_t next; /* atomic: the next item a worker takes */
};

static void batch_flush(struct batch *b);

static int batch_add(struct batch *b, const char *volume_id, bool value, bool absent)
{
        if (array_grow((void **)&b->items, &b->capacity, b->n, sizeof(*b->items)) < 0)
                return -ENOMEM;
        b->items[b->n] = (struct batch_item){.value = value, .absent = absent};
        snprintf(b->items[b->n].volume_id, EVENT_ID_MAX, "%s", volume_id);
        if (++b->n >= COMPUTE_BATCH_MAX)
                batch_flush(b);
        return 0;
}

static void batch_one(struct batch *b, struct secrets *conn, bool threaded, struct batch_item *it)
{
        if (it->value)
                compute_value_on(b->cp, conn, threaded, it->volume_id, it->absent, &it->a);
        else
                compute_placeholder_on(b->cp, conn, it->volume_id, true, &it->a);
}

static void *batch_worker(void *arg)
{
        struct batch *b = arg;
        struct secrets *conn = NULL;
        struct virt_login login = compute_libvirt_login(b->cp->config);
        const char *why = NULL;
        size_t i;

        if (virt_connect(b->cp->config->libvirt_uri, &login, &conn, &why) < 0)
                return NULL; /* the main thread does the rest */
        while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->n) {
                if (signals_stop_requested) {
                        compute_set_action(&b->items[i].a, OUTCOME_FAILED, true, "stopped");
                        continue;
                }
                batch_one(b, conn, true, &b->items[i]);
        }
        virt_disconnect(conn);
        return NULL;
}

static void batch_run(struct batch *b)
{
        pthread_t threads[COMPUTE_RECONCILE_THREADS];
        unsigned started = 0;
        struct ceph_cluster *cluster;
        size_t i;

        for (i = 0; i < b->n; i++)
                compute_set_action(&b->items[i].a, OUTCOME_FAILED, true, "not tried");
        /* The workers share the one Ceph client: connected here, first. */
        if (b->n >= COMPUTE_RECONCILE_PARALLEL_MIN && compute_cluster(b->cp, &cluster) >= 0)
                for (; started < COMPUTE_RECONCILE_THREADS; started++)
                        if (pthread_create(&threads[started], NULL, batch_worker, b) != 0)
                                break;
        for (unsigned k = 0; k < started; k++)
                pthread_join(threads[k], NULL);
        /* Whatever no worker took (few items, no thread, no connection). */
        while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->n)
                if (b->cp->libvirt)
                        batch_one(b, b->cp->libvirt, false, &b->items[i]);
}

/* Runs what waits, records each outcome, and empties the batch. */
static void batch_flush(struct batch *b)
{
        batch_run(b);
        for (size_t i = 0; i < b->n; i++) {
                if (b->items[i].a.outcome == OUTCOME_PLACEHOLDER && b->items[i].a.transient)
                        compute_pending_add(b->cp, b->items[i].volume_id);
                note(b->cp, b->t, b->items[i].volume_id, &b->items[i].a, b->print);
        }
        b->n = 0;
        b->next = 0;
}

/* One in-scope index entry against what libvirt holds. */
static void reconcile_entry(struct compute *cp, const struct live_entry *e,
                            const struct virt_info *s, struct tally *t, bool dry_run, bool print,
                            struct batch *b)
{
        struct compute_action a;

        if (compute_is_static_volume(cp, e->volume_id) || compute_deleted_lately(cp, e->volume_id))
                return;
        if (s && !s->owned) {
                if (e->state != VOLUME_INDEX_FOREIGN && t->foreign++ < 16)
                        log_warn("volume %s: libvirt secret %s is not rbd-luks-agent's; left alone "
                                 "(Nova would use its value)", e->volume_id, s->uuid);
                return;
        }
        if (e->state == VOLUME_INDEX_FOREIGN) {
                if (!s)
                        return;
                compute_remove(cp, e->volume_id, true, dry_run, false, &a);
        } else if (e->state == VOLUME_INDEX_FORMATTED) {
                if (s && !s->placeholder && !e->refresh)
                        return;
                if (dry_run)
                        compute_set_action(&a, OUTCOME_PROVISIONED, false, "would set the value");
                else if (batch_add(b, e->volume_id, true, !s) == 0)
                        return;
                else
                        compute_set_real_value(cp, e->volume_id, !s, &a);
        } else {
                if (s)
                        return;
                if (dry_run)
                        compute_set_action(&a, OUTCOME_PLACEHOLDER, false,
                                           "would define a placeholder");
                else if (batch_add(b, e->volume_id, false, true) == 0)
                        return;
                else
                        compute_placeholder_on(cp, cp->libvirt, e->volume_id, true, &a);
        }
        note(cp, t, e->volume_id, &a, print);
}

/* One of our volume secrets whose volume is not in the index: gone (its
 * image too, and older than gc_grace_s: removed), out of scope (removed),
 * or not recorded yet (kept, and its value awaited). */
static void reconcile_unlisted(struct compute *cp, const struct walk *w,
                               const struct virt_info *s, struct tally *t, bool remove_dead,
                               bool dry_run, bool print)
{
        const struct config *c = cp->config;
        int64_t age = (int64_t)time(NULL) - s->created;
        struct ceph_cluster *cluster;
        struct ceph_image *img = NULL;
        struct compute_action a;
        char name[160];
        int r;

        if (compute_is_static_volume(cp, s->usage_id) || compute_pending_find(cp, s->usage_id))
                return;
        if (!in_out_of_scope(w, s->usage_id)) {
                snprintf(name, sizeof(name), "%s%s", c->image_prefix, s->usage_id);
                r = compute_cluster(cp, &cluster);
                if (r >= 0)
                        r = ceph_image_open(cluster, c->pool, name, &img);
                ceph_image_close(img);
                compute_cluster_failed(cp, r);
                if (r >= 0 || (r != -ENOENT) || age < (int64_t)c->gc_grace_s) {
                        /* Being made, being formatted, or Ceph cannot say: keep. */
                        if (r >= 0 && s->placeholder && !dry_run)
                                compute_pending_add(cp, s->usage_id);
                        t->kept++;
                        return;
                }
        }
        if (!remove_dead)
                return;
        compute_remove(cp, s->usage_id, false, dry_run, false, &a);
        if (a.outcome == OUTCOME_REMOVED) {
                t->removed++;
                (void)compute_record(cp, "rbd-luks-agent.reconcile", NULL, s->usage_id, &a, 0);
                if (print) {
                        printf("volume %s: %s\n", s->usage_id, a.reason);
                        fflush(stdout);
                }
        } else if (a.outcome == OUTCOME_FAILED) {
                t->failed++;
                log_error("volume %s: %s", s->usage_id, a.reason);
        }
}

int compute_reconcile(struct compute *cp, bool fix_live, bool remove_dead, bool dry_run,
                      bool print)
{
        const struct config *c = cp->config;
        uint64_t start = clock_now_ms();
        struct walk w = {.cp = cp};
        struct virt_info *all = NULL;
        struct compute_live_set live = {0};
        struct ceph_cluster *cluster;
        struct tally t = {0};
        struct batch b = {.cp = cp, .t = &t, .print = print};
        const char *why = NULL;
        size_t n_all = 0, reads = 0;
        int r;

        if (compute_ensure_libvirt(cp) < 0) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "libvirt at %s is not reachable", c->libvirt_uri);
                return -ENOTCONN;
        }
        r = compute_cluster(cp, &cluster);
        if (r >= 0)
                r = volume_index_each(cluster, c->pool, walk_entry, &w, &reads);
        compute_cluster_failed(cp, r);
        if (r < 0) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "cannot read the volume index %s/%s: %s", c->pool, CEPH_INDEX_OBJECT,
                         strerror(-r));
                goto out;
        }
        r = virt_list(cp->libvirt, &all, &n_all, &why);
        if (r < 0) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "cannot list libvirt secrets: %s", why);
                goto out;
        }
        qsort(all, n_all, sizeof(*all), compare_secret_usage);
        for (size_t i = 0; i < w.n && fix_live && cp->libvirt && !signals_stop_requested; i++)
                reconcile_entry(cp, &w.entries[i], find_secret(all, n_all, w.entries[i].volume_id),
                                &t, dry_run, print, &b);
        batch_flush(&b);
        for (size_t i = 0; i < n_all && cp->libvirt && !signals_stop_requested; i++)
                if (all[i].usage == VIRT_USAGE_VOLUME && all[i].owned &&
                    !in_entries(&w, all[i].usage_id))
                        reconcile_unlisted(cp, &w, &all[i], &t, remove_dead, dry_run, print);
        /* A libvirtd that died meanwhile: this reconcile did not finish. */
        if (!cp->libvirt) {
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "libvirt at %s went away during the reconcile", c->libvirt_uri);
                r = -ENOTCONN;
                goto out;
        }
        /* The raw-disk check against the same picture of what is live. */
        live.ids = fix_live ? calloc(w.n ? w.n : 1, EVENT_ID_MAX) : NULL;
        if (live.ids) {
                for (size_t i = 0; i < w.n; i++)
                        if (w.entries[i].state != VOLUME_INDEX_FOREIGN)
                                memcpy(live.ids[live.n++], w.entries[i].volume_id, EVENT_ID_MAX);
                compute_scan_live(cp, NULL, &live);
        }
        log_info("reconcile: %zu volumes in scope in %s/%s (%zu RADOS reads), %zu libvirt "
                 "secrets; %u changed, %u removed, %u kept unlisted, %u failed, in %" PRIu64 " ms",
                 w.n, c->pool, CEPH_INDEX_OBJECT, reads, n_all, t.changed, t.removed, t.kept,
                 t.failed, clock_now_ms() - start);
        cp->reconcile_problem[0] = '\0';
        r = t.failed ? -EIO : 0;
        if (t.failed)
                snprintf(cp->reconcile_problem, sizeof(cp->reconcile_problem),
                         "the last reconcile could not fix %u volume(s); see results.jsonl",
                         t.failed);
out:
        free(live.ids);
        free(b.items);
        free(all);
        free(w.entries);
        free(w.out_of_scope);
        /* A reconcile of many volumes leaves its peak in the heap: give it
         * back, the daemon idles long between two. */
        malloc_trim(0);
        return r;
}

/* ---- secrets list ------------------------------------------------------ */

static const char *state_here(const struct virt_info *s)
{
        if (s->usage != VIRT_USAGE_VOLUME)
                return "-";
        if (!s->owned)
                return "foreign";
        return s->placeholder ? "placeholder" : "value set";
}

int compute_list_volumes(struct compute *cp)
{
        const struct config *c = cp->config;
        struct virt_info *all = NULL;
        struct ceph_cluster *cluster;
        struct walk w = {.cp = cp};
        const char *why = NULL;
        size_t n = 0;
        int r, code = 0;

        if (compute_ensure_libvirt(cp) < 0)
                return 1;
        if (virt_list(cp->libvirt, &all, &n, &why) < 0) {
                log_error("cannot list libvirt secrets: %s", why);
                return 1;
        }
        qsort(all, n, sizeof(*all), compare_secret_usage);
        printf("%-36s  %-6s  %-36s  %-5s  %-7s  %-20s  %s\n", "UUID", "USAGE", "USAGE ID", "OWNER",
               "PRIVATE", "CREATED", "STATE");
        for (size_t i = 0; i < n; i++) {
                char created[32] = "-";
                time_t t = (time_t)all[i].created;
                struct tm tm;

                if (all[i].owned && gmtime_r(&t, &tm))
                        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
                printf("%-36s  %-6s  %-36s  %-5s  %-7s  %-20s  %s\n", all[i].uuid,
                       all[i].usage == VIRT_USAGE_CEPH     ? "ceph"
                       : all[i].usage == VIRT_USAGE_VOLUME ? "volume"
                                                              : "other",
                       all[i].usage_id, all[i].owned ? "agent" : "-",
                       all[i].private_value ? "yes" : "no", created, state_here(&all[i]));
        }
        /* Live volumes in scope with no secret here: the ones at risk. */
        r = compute_cluster(cp, &cluster);
        if (r >= 0)
                r = volume_index_each(cluster, c->pool, walk_entry, &w, NULL);
        compute_cluster_failed(cp, r);
        if (r < 0) {
                log_error("cannot read the volume index %s/%s: %s; volumes without a secret here "
                          "are not shown", c->pool, CEPH_INDEX_OBJECT, strerror(-r));
                code = 1;
        }
        for (size_t i = 0; i < w.n; i++)
                if (w.entries[i].state != VOLUME_INDEX_FOREIGN &&
                    !find_secret(all, n, w.entries[i].volume_id))
                        printf("%-36s  %-6s  %-36s  %-5s  %-7s  %-20s  %s\n", "-", "volume",
                               w.entries[i].volume_id, "-", "-", "-", "missing");
        free(w.entries);
        free(w.out_of_scope);
        free(all);
        return code;
}
