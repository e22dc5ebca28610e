/* cli_keys_rewrap: `keys rewrap [--dry-run]`: every volume's key record,
 * then every record the header map keeps, wrapped again with the current
 * KEK, one volume at a time under the key record's lock, never librbd's
 * exclusive lock (a running guest keeps it); a line per record changed,
 * safe to re-run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_keys_internal.h"
#include "records/header_map.h"
#include "keys/keys.h"
#include "records/lockcookie.h"
#include "base/log.h"
#include "ceph/ceph.h"

#define LOCK_TRIES 10 /* seconds a rewrap waits for a live holder of a record lock */

/* The key record's own lock (ceph.h), not librbd's exclusive lock: the
 * guest writing to the image keeps that one, and librbd has it make the
 * metadata write for us. One rewrap at a time writes a record; a holder
 * provably gone (lockcookie.h) is broken, a live one waited for. */
static int lock_record(struct cli_keys_session *s, const char *id, struct ceph_image *img,
                       char *cookie, size_t size)
{
        char holder[LOCKCOOKIE_MAX] = "";
        bool broke;
        int r = -EBUSY;

        for (int i = 0; i < LOCK_TRIES && r == -EBUSY; i++) {
                if (i > 0)
                        sleep(1);
                r = lockcookie_take_record_lock(&s->lock_owner, s->config->lock_stale_after_s, img,
                                                cookie, size, holder, sizeof(holder), &broke);
                if (broke)
                        log_warn("volume %s: breaking the stale lock on its key record held by "
                                 "\"%s\"",
                                 id, holder);
        }
        if (r == -EBUSY)
                log_error("volume %s: key record locked for %d s by \"%s\" (another rewrap); not "
                          "re-wrapped, run again",
                          id, LOCK_TRIES, holder);
        else if (r < 0)
                log_error("volume %s: cannot lock its key record: %s", id, strerror(-r));
        return r;
}

static void unlock_record(const char *id, struct ceph_image *img, const char *cookie)
{
        int r = ceph_image_record_unlock(img, cookie);

        if (r < 0)
                log_warn("volume %s: cannot unlock its key record (broken as stale once this "
                         "process has ended): %s",
                         id, strerror(-r));
}

/* One volume; 0 done or nothing to do, 1 failed. */
static int rewrap_one(struct cli_keys_session *s, const char *id, const char *name, bool dry_run,
                      unsigned *ret_changed)
{
        char cookie[LOCKCOOKIE_MAX];
        struct ceph_image *img;
        const char *why = NULL;
        bool changed = false;
        int r;

        r = ceph_image_open(s->cluster, s->config->pool, name, &img);
        if (r < 0) {
                log_error("volume %s: cannot open: %s", id, strerror(-r));
                return 1;
        }
        if (lock_record(s, id, img, cookie, sizeof(cookie)) < 0) {
                ceph_image_close(img);
                return 1;
        }
        r = keys_rewrap(s->keys, id, img, dry_run, &changed, &why);
        unlock_record(id, img, cookie);
        ceph_image_close(img);
        if (r == -ENOENT)
                return 0; /* not an agent-managed volume */
        if (r < 0) {
                log_error("volume %s: cannot re-wrap: %s", id, why ? why : strerror(-r));
                return 1;
        }
        if (changed)
                printf("volume %s: %s with KEK %s\n", id, dry_run ? "would re-wrap" : "re-wrapped",
                       s->config->kek_id);
        /* One line per volume, on disk before the next one starts: a rewrap
         * killed half-way leaves an exact record of what it did. */
        fflush(stdout);
        *ret_changed += changed;
        return 0;
}

/* The header map's copies of the records (header_map.h), deleted volumes'
 * too: a backup restored after the old KEK is gone must still open. */
struct map_rewrap {
        struct cli_keys_session *session;
        bool dry_run;
        unsigned changed, failed;
};

static int rewrap_map_entry(void *opaque, const char *key, const struct header_map_entry *e)
{
        struct map_rewrap *m = opaque;
        struct header_map_entry fresh;
        struct keys_record record;
        const char *why = NULL;
        bool changed = false;
        int r;

        if (!e) {
                log_error("header map %s: entry \"%s\" does not decode; not re-wrapped",
                          CEPH_HEADERS_OBJECT, key);
                m->failed++;
                return 0;
        }
        if (e->kind != HEADER_MAP_RECORD)
                return 0;
        r = keys_rewrap_record(m->session->keys, e->volume_id, e->record, m->dry_run, &record,
                               &changed, &why);
        if (r >= 0 && changed && !m->dry_run) {
                fresh = *e;
                snprintf(fresh.record, sizeof(fresh.record), "%s", record.text);
                r = header_map_put(m->session->cluster, m->session->config->pool, &fresh);
                why = r < 0 ? strerror(-r) : NULL;
        }
        if (r < 0) {
                log_error("header map %s: the record of volume %s (header %s) cannot be "
                          "re-wrapped: %s",
                          CEPH_HEADERS_OBJECT, e->volume_id, e->uuid, why ? why : strerror(-r));
                m->failed++;
        } else if (changed) {
                printf("header map: volume %s%s (header %s): %s with KEK %s\n", e->volume_id,
                       e->deleted ? " (deleted)" : "", e->uuid,
                       m->dry_run ? "would re-wrap" : "re-wrapped", m->session->config->kek_id);
                m->changed++;
        }
        return 0;
}

int cli_keys_rewrap_all(struct cli_keys_session *s, bool dry_run)
{
        struct map_rewrap map = {.session = s, .dry_run = dry_run};
        unsigned failed = 0, changed = 0, volumes = 0;
        char **names = NULL;
        size_t n = 0;
        int r;

        if (!keys_stored_in_image(s->keys)) {
                log_error("keys rewrap needs [keys] provider = metadata");
                return 1;
        }
        /* The compute side reads keys; writing them is the volume side's job
         * (and its cephx user may rightly be read-only). */
        if (s->config->role != ROLE_VOLUME) {
                log_error("keys rewrap runs with the volume role's config");
                return 1;
        }
        r = ceph_pool_list_images(s->cluster, s->config->pool, &names, &n);
        if (r < 0) {
                log_error("cannot list images of pool %s: %s", s->config->pool, strerror(-r));
                return 1;
        }
        for (size_t i = 0; i < n; i++) {
                const char *id = cli_keys_volume_id_of(s->config, names[i]);

                if (!id)
                        continue;
                volumes++;
                failed += (unsigned)rewrap_one(s, id, names[i], dry_run, &changed);
        }
        r = header_map_each(s->cluster, s->config->pool, "", rewrap_map_entry, &map);
        if (r < 0) {
                log_error("cannot read the header map %s/%s: %s", s->config->pool,
                          CEPH_HEADERS_OBJECT, strerror(-r));
                map.failed++;
        }
        printf("%u volumes: %u %s, %u failed; header map: %u %s, %u failed\n", volumes, changed,
               dry_run ? "would be re-wrapped" : "re-wrapped", failed, map.changed,
               dry_run ? "would be re-wrapped" : "re-wrapped", map.failed);
        ceph_names_free(names, n);
        return failed || map.failed ? 1 : 0;
}
