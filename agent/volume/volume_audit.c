/* volume_audit: index entries whose image left the pool without a delete
 * (volume_audit.h). */
#include "volume_audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/array.h"
#include "base/log.h"
#include "ceph/ceph.h"
#include "records/volume_index.h"

#define CONVERT_NEW_SUFFIX ".rbd-luks-agent.new"
#define CONVERT_PLAIN_SUFFIX ".rbd-luks-agent.plain"

struct id_list {
        char (*ids)[EVENT_ID_MAX];
        size_t n, capacity;
};

struct volume_audit {
        const struct config *config;
        struct format_context *format;
        struct results *results;
        struct id_list missing;  /* at the last look */
        struct id_list reported; /* reported, and still missing */
        pthread_t thread;
        bool has_thread, stopping;
        pthread_mutex_t lock;
        pthread_cond_t wake;
};

static int list_add(struct id_list *l, const char *id)
{
        int r = array_grow((void **)&l->ids, &l->capacity, l->n, sizeof(l->ids[0]));

        if (r < 0)
                return r;
        snprintf(l->ids[l->n++], EVENT_ID_MAX, "%s", id);
        return 0;
}

static bool list_has(const struct id_list *l, const char *id)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->ids[i], id) == 0)
                        return true;
        return false;
}

/* What one look reads, on the shared client. */
struct look {
        const struct config *config;
        char **names; /* the pool's images, sorted */
        size_t n_names;
        struct id_list entries;
};

static int note_entry(void *opaque, const char *volume_id, const struct volume_index_entry *e)
{
        struct look *l = opaque;

        (void)e; /* an entry that does not decode names its volume all the same */
        return list_add(&l->entries, volume_id);
}

static int read_pool(struct ceph_cluster *cluster, void *opaque)
{
        struct look *l = opaque;
        int r = volume_index_each(cluster, l->config->pool, note_entry, l, NULL);

        if (r >= 0)
                r = ceph_pool_list_images(cluster, l->config->pool, &l->names, &l->n_names);
        return r;
}

/* No image of the volume's: neither its own nor a conversion's, between
 * whose renames the volume's name is briefly free. */
static bool image_missing(const struct look *l, const char *volume_id)
{
        const char *suffixes[] = {"", CONVERT_NEW_SUFFIX, CONVERT_PLAIN_SUFFIX};
        char name[256];

        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                snprintf(name, sizeof(name), "%s%s%s", l->config->image_prefix, volume_id,
                         suffixes[i]);
                if (ceph_names_contain(l->names, l->n_names, name))
                        return false;
        }
        return true;
}

static void report(struct volume_audit *a, const char *volume_id)
{
        const struct config *c = a->config;
        char reason[512];
        int r;

        snprintf(reason, sizeof(reason),
                 "the volume index lists it, but its image %s%s has not been in pool %s for "
                 "two audits (%u s apart) and no volume.delete.end came: Cinder moved it by host "
                 "copy (a generic migration, which leaves the guest's last payload-offset bytes "
                 "behind) or it was removed outside Cinder; entry and key record kept, "
                 "`rbd-luks-agent index rebuild` removes the entry",
                 c->image_prefix, volume_id, c->pool, c->audit_interval_s);
        log_error("volume %s: %s", volume_id, reason);
        r = results_append(a->results, volume_id, VOLUME_AUDIT_EVENT, NULL, OUTCOME_FAILED,
                           reason, 0);
        if (r < 0)
                log_error("volume %s: cannot write results.jsonl in %s: %s", volume_id,
                          c->state_dir, strerror(-r));
}

int volume_audit_look(struct volume_audit *a, size_t *ret_missing, size_t *ret_reported)
{
        struct look l = {.config = a->config};
        struct id_list missing = {0}, reported = {0};
        size_t fresh = 0;
        int r = format_with_client(a->format, read_pool, &l);

        for (size_t i = 0; r >= 0 && i < l.entries.n; i++) {
                const char *id = l.entries.ids[i];

                if (!image_missing(&l, id))
                        continue;
                r = list_add(&missing, id);
                if (r < 0 || !list_has(&a->missing, id))
                        continue;
                r = list_add(&reported, id);
                if (r >= 0 && !list_has(&a->reported, id)) {
                        report(a, id);
                        fresh++;
                }
        }
        if (r >= 0) {
                free(a->missing.ids);
                free(a->reported.ids);
                a->missing = missing;
                a->reported = reported;
                missing = reported = (struct id_list){0};
                if (ret_missing)
                        *ret_missing = a->missing.n;
                if (ret_reported)
                        *ret_reported = fresh;
        }
        free(missing.ids);
        free(reported.ids);
        free(l.entries.ids);
        ceph_names_free(l.names, l.n_names);
        return r;
}

static void *audit_main(void *arg)
{
        struct volume_audit *a = arg;
        struct timespec until;
        int r;

        pthread_mutex_lock(&a->lock);
        for (;;) {
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += a->config->audit_interval_s;
                while (!a->stopping &&
                       pthread_cond_timedwait(&a->wake, &a->lock, &until) != ETIMEDOUT)
                        ;
                if (a->stopping)
                        break;
                pthread_mutex_unlock(&a->lock);
                r = volume_audit_look(a, NULL, NULL);
                if (r < 0)
                        log_warn("volume index audit of pool %s: %s (next in %u s)",
                                 a->config->pool, strerror(-r), a->config->audit_interval_s);
                pthread_mutex_lock(&a->lock);
        }
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

int volume_audit_new(const struct config *c, struct format_context *f, struct results *r,
                     bool start_thread, struct volume_audit **ret)
{
        struct volume_audit *a = calloc(1, sizeof(*a));
        int e;

        if (!a)
                return -ENOMEM;
        *a = (struct volume_audit){.config = c, .format = f, .results = r};
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->wake, NULL);
        if (start_thread && c->audit_interval_s) {
                e = pthread_create(&a->thread, NULL, audit_main, a);
                if (e) {
                        volume_audit_free(a);
                        return -e;
                }
                a->has_thread = true;
        }
        *ret = a;
        return 0;
}

void volume_audit_free(struct volume_audit *a)
{
        if (!a)
                return;
        if (a->has_thread) {
                pthread_mutex_lock(&a->lock);
                a->stopping = true;
                pthread_cond_signal(&a->wake);
                pthread_mutex_unlock(&a->lock);
                pthread_join(a->thread, NULL);
        }
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        free(a->missing.ids);
        free(a->reported.ids);
        free(a);
}
