/* cli_index: `index list | rebuild [--dry-run] | headers |
 * shred-deleted DAYS [--dry-run]` (cli_index.h).
 *
 * rebuild derives the index again from the images themselves, for an index
 * object lost or damaged: an image whose rbd-luks-agent.state says
 * formatted is `formatted` (with its header's UUID), one that starts with a
 * LUKS header the agent did not write is `foreign`, an entry whose image is
 * gone is removed. What an image cannot tell is kept as the index has it:
 * the type, host and zone of an existing entry, and `refused` or `failed`
 * for an image without a header (the volume agent writes nothing on those
 * images). An image in the middle of a format (state `writing`) is left
 * for the volume agent, which finishes it on replay. */
#include "cli_index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/array.h"
#include "stream/event.h"
#include "base/uuid.h"
#include "volume/format.h"
#include "records/header_map.h"
#include "keys/keys.h"
#include "base/log.h"
#include "luks/luks.h"
#include "ceph/ceph.h"
#include "records/volume_index.h"

#define PROBE_BYTES 4096
#define STATE_MAX 256

const char cli_index_usage[] =
        "Usage: rbd-luks-agent -c FILE index COMMAND   (role = volume)\n"
        "\n"
        "  list                every entry of the pool's volume index: volume id,\n"
        "                      state, type, host, zone, LUKS UUID\n"
        "  rebuild [--dry-run] derive the index again from the images: add or correct\n"
        "                      formatted and foreign volumes, remove entries of images\n"
        "                      that are gone, add formatted headers missing from the\n"
        "                      header map; --dry-run only prints what would change\n"
        "  headers             every entry of the header map (rbd-luks-agent.headers):\n"
        "                      LUKS UUID, volume id, created, deleted, record\n"
        "  shred-deleted DAYS [--dry-run]\n"
        "                      drop the key records of volumes deleted at least DAYS\n"
        "                      days ago (0: every deleted one) from the header map:\n"
        "                      their backups and images can never be opened again\n";

static void say(const char *volume_id, const char *what, bool dry_run);

static const char *or_dash(const char *s)
{
        return s[0] ? s : "-";
}

static int print_entry(void *opaque, const char *volume_id, const struct volume_index_entry *e)
{
        unsigned *bad = opaque;

        if (!e) {
                printf("%-36s  %-9s\n", volume_id, "unreadable");
                (*bad)++;
                return 0;
        }
        printf("%-36s  %-9s  %-36s  %-30s  %-12s  %s\n", volume_id, volume_index_state_name(e->state),
               or_dash(e->type), or_dash(e->host), or_dash(e->zone), or_dash(e->uuid));
        return 0;
}

static void utc(int64_t t, char *buf, size_t size)
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
                snprintf(buf, size, "-");
}

static int print_header(void *opaque, const char *key, const struct header_map_entry *e)
{
        static const char *const kinds[] = {
                [HEADER_MAP_RECORD] = "kept",
                [HEADER_MAP_NONE] = "none",
                [HEADER_MAP_SHREDDED] = "shredded",
        };
        unsigned *bad = opaque;
        char created[32], deleted[32];

        if (!e) {
                printf("%-36s  unreadable\n", key);
                (*bad)++;
                return 0;
        }
        utc(e->created, created, sizeof(created));
        utc(e->deleted, deleted, sizeof(deleted));
        printf("%-36s  %-36s  %-20s  %-20s  %s\n", e->uuid, e->volume_id, created, deleted,
               kinds[e->kind]);
        return 0;
}

static int index_headers(const struct config *c, struct ceph_cluster *cluster)
{
        unsigned bad = 0;
        int r;

        printf("%-36s  %-36s  %-20s  %-20s  %s\n", "LUKS UUID", "VOLUME", "CREATED", "DELETED",
               "RECORD");
        r = header_map_each(cluster, c->pool, "", print_header, &bad);
        if (r < 0) {
                log_error("cannot read the header map %s/%s: %s", c->pool, CEPH_HEADERS_OBJECT,
                          strerror(-r));
                return 1;
        }
        if (bad)
                log_warn("%u entries of %s/%s do not parse", bad, c->pool, CEPH_HEADERS_OBJECT);
        return bad ? 1 : 0;
}

struct shred {
        const struct config *config;
        struct ceph_cluster *cluster;
        int64_t before;
        bool dry_run;
        unsigned shredded, failed;
};

static int shred_entry(void *opaque, const char *key, const struct header_map_entry *e)
{
        struct shred *sh = opaque;
        struct header_map_entry gone;
        int r = 0;

        (void)key;
        if (!e || e->kind != HEADER_MAP_RECORD || !e->deleted || e->deleted > sh->before)
                return 0;
        gone = *e;
        gone.kind = HEADER_MAP_SHREDDED;
        explicit_bzero(gone.record, sizeof(gone.record));
        if (!sh->dry_run)
                r = header_map_put(sh->cluster, sh->config->pool, &gone);
        if (r < 0) {
                log_error("volume %s (header %s): cannot shred its record: %s", e->volume_id,
                          e->uuid, strerror(-r));
                sh->failed++;
                return 0;
        }
        say(e->volume_id, "shredded (its record left the header map)", sh->dry_run);
        sh->shredded++;
        return 0;
}

static int index_shred_deleted(const struct config *c, struct ceph_cluster *cluster, long days,
                               bool dry_run)
{
        struct shred sh = {.config = c, .cluster = cluster, .dry_run = dry_run,
                           .before = (int64_t)time(NULL) - (int64_t)days * 86400};
        int r = header_map_each(cluster, c->pool, "", shred_entry, &sh);

        if (r < 0) {
                log_error("cannot read the header map %s/%s: %s", c->pool, CEPH_HEADERS_OBJECT,
                          strerror(-r));
                return 1;
        }
        printf("%u records %s, %u failed\n", sh.shredded, dry_run ? "would be shredded" : "shredded",
               sh.failed);
        return sh.failed ? 1 : 0;
}

static int index_list(const struct config *c, struct ceph_cluster *cluster)
{
        unsigned bad = 0;
        size_t reads = 0;
        int r;

        printf("%-36s  %-9s  %-36s  %-30s  %-12s  %s\n", "VOLUME", "STATE", "TYPE", "HOST", "ZONE",
               "LUKS UUID");
        r = volume_index_each(cluster, c->pool, print_entry, &bad, &reads);
        if (r < 0) {
                log_error("cannot read the volume index %s/%s: %s", c->pool, CEPH_INDEX_OBJECT,
                          strerror(-r));
                return 1;
        }
        if (bad)
                log_warn("%u entries of %s/%s do not parse", bad, c->pool, CEPH_INDEX_OBJECT);
        return bad ? 1 : 0;
}

/* ---- rebuild ----------------------------------------------------------- */

struct entries {
        struct volume_index_entry *items;
        char (*unreadable)[EVENT_ID_MAX];
        size_t n, n_unreadable, capacity, capacity_unreadable;
};

static int collect(void *opaque, const char *volume_id, const struct volume_index_entry *e)
{
        struct entries *all = opaque;

        if (!e) {
                if (array_grow((void **)&all->unreadable, &all->capacity_unreadable,
                                 all->n_unreadable, EVENT_ID_MAX) < 0)
                        return -ENOMEM;
                snprintf(all->unreadable[all->n_unreadable++], EVENT_ID_MAX, "%s", volume_id);
                return 0;
        }
        if (array_grow((void **)&all->items, &all->capacity, all->n, sizeof(*all->items)) < 0)
                return -ENOMEM;
        all->items[all->n++] = *e;
        return 0;
}

static int compare_entry(const void *key, const void *entry)
{
        return strcmp(key, ((const struct volume_index_entry *)entry)->volume_id);
}

/* The index walk gives entries in key order. */
static const struct volume_index_entry *find_entry(const struct entries *all, const char *id)
{
        return all->n ? bsearch(id, all->items, all->n, sizeof(*all->items), compare_entry) : NULL;
}

/* What the image says: 1 with *ret set, 0 when it says nothing (no header,
 * or a format in progress), or a negative errno. */
static int probe_image(struct ceph_cluster *cluster, const char *pool, const char *name,
                       struct volume_index_entry *ret, struct header_map_entry *ret_header)
{
        unsigned char probe[PROBE_BYTES];
        char state[STATE_MAX];
        struct ceph_image *img = NULL;
        const char *uuid;
        int r;

        r = ceph_image_open(cluster, pool, name, &img);
        if (r < 0)
                return r;
        r = ceph_image_meta_get(img, FORMAT_STATE_KEY, state, sizeof(state));
        if (r >= 0 && strncmp(state, "formatted ", strlen("formatted ")) == 0) {
                ret->state = VOLUME_INDEX_FORMATTED;
                uuid = strstr(state, " uuid=");
                if (uuid)
                        snprintf(ret->uuid, sizeof(ret->uuid), "%.*s",
                                 (int)strcspn(uuid + 6, " "), uuid + 6);
                /* The record as the image holds it, for the header map. */
                r = keys_read_record(img, ret_header->record, sizeof(ret_header->record));
                ret_header->kind = r >= 0 ? HEADER_MAP_RECORD : HEADER_MAP_NONE;
                r = r >= 0 || r == -ENOENT ? 1 : r;
        } else if (r >= 0) {
                r = 0; /* writing: the volume agent finishes it */
        } else if (r == -ENOENT) {
                r = ceph_image_read(img, 0, sizeof(probe), probe);
                if (r >= 0)
                        r = luks_has_magic(probe, sizeof(probe), NULL) ? 1 : 0;
                if (r == 1)
                        ret->state = VOLUME_INDEX_FOREIGN;
        }
        ceph_image_close(img);
        return r;
}

static void say(const char *volume_id, const char *what, bool dry_run)
{
        printf("volume %s: %s%s\n", volume_id, dry_run ? "would be " : "", what);
        fflush(stdout);
}

/* A formatted image's entry in the header map, added when missing (a
 * volume formatted before the map existed, or its entry lost), with its
 * record only when that opens for it (keys: the metadata provider's).
 * 1, or a negative errno. */
static int rebuild_header(const struct config *c, struct ceph_cluster *cluster, struct keys *keys,
                          const char *volume_id, const struct volume_index_entry *e,
                          struct header_map_entry *h, bool dry_run, unsigned *changed)
{
        struct header_map_entry was;
        const char *why = NULL;
        int r;

        if (!keys) {
                h->kind = HEADER_MAP_NONE; /* the provider keeps the keys */
        } else if (h->kind == HEADER_MAP_RECORD &&
                   keys_record_opens(keys, volume_id, h->record, &why) < 0) {
                /* A clone not re-bound yet: its parent's record, which is in
                 * the map under the parent's id. */
                printf("volume %s: not added to the header map: its key record does not open "
                       "for it (%s); a copy not re-bound yet: run `rbd-luks-agent format %s`\n",
                       volume_id, why ? why : "?", volume_id);
                return 1;
        }
        snprintf(h->uuid, sizeof(h->uuid), "%s", e->uuid);
        snprintf(h->volume_id, sizeof(h->volume_id), "%s", volume_id);
        h->created = e->time;
        r = header_map_get(cluster, c->pool, h->uuid, volume_id, &was);
        if (r >= 0)
                return 1;
        if (r == -ENOENT && !dry_run)
                r = header_map_put(cluster, c->pool, h);
        else if (r == -ENOENT)
                r = 0;
        if (r < 0) {
                log_error("volume %s: cannot write its entry in the header map %s: %s", volume_id,
                          CEPH_HEADERS_OBJECT, strerror(-r));
                return r;
        }
        say(volume_id, "added to the header map", dry_run);
        (*changed)++;
        return 1;
}

/* One image against the index; counts what it changed. */
static int rebuild_one(const struct config *c, struct ceph_cluster *cluster, struct keys *keys,
                       const struct entries *all, const char *volume_id, const char *name,
                       bool dry_run, unsigned *changed)
{
        const struct volume_index_entry *old = find_entry(all, volume_id);
        struct volume_index_entry e = {.time = (int64_t)time(NULL)};
        struct header_map_entry h = {.kind = HEADER_MAP_NONE};
        char what[160];
        int r;

        r = probe_image(cluster, c->pool, name, &e, &h);
        if (r < 0) {
                log_error("volume %s: cannot read %s/%s: %s", volume_id, c->pool, name,
                          strerror(-r));
                return r;
        }
        if (r == 1 && e.state == VOLUME_INDEX_FORMATTED && e.uuid[0] &&
            (r = rebuild_header(c, cluster, keys, volume_id, &e, &h, dry_run, changed)) < 0)
                return r;
        if (r == 0 || (old && old->state == e.state &&
                       (e.state != VOLUME_INDEX_FORMATTED || strcmp(old->uuid, e.uuid) == 0)))
                return 0;
        snprintf(e.volume_id, sizeof(e.volume_id), "%s", volume_id);
        if (old) {
                memcpy(e.type, old->type, sizeof(e.type));
                memcpy(e.host, old->host, sizeof(e.host));
                memcpy(e.zone, old->zone, sizeof(e.zone));
        }
        snprintf(what, sizeof(what), "%s %s", old ? "corrected to" : "added as",
                 volume_index_state_name(e.state));
        if (!dry_run && (r = volume_index_put(cluster, c->pool, &e)) < 0) {
                log_error("volume %s: cannot write its index entry: %s", volume_id, strerror(-r));
                return r;
        }
        say(volume_id, what, dry_run);
        (*changed)++;
        return 0;
}

/* Entries whose image is gone (unreadable ones too): removed. */
static int remove_gone(const struct config *c, struct ceph_cluster *cluster,
                       const struct entries *all, char **names, size_t n, bool dry_run,
                       unsigned *changed)
{
        size_t total = all->n + all->n_unreadable;
        char name[160];
        int failed = 0;

        for (size_t i = 0; i < total; i++) {
                const char *id = i < all->n ? all->items[i].volume_id
                                            : all->unreadable[i - all->n];
                int r;

                snprintf(name, sizeof(name), "%s%s", c->image_prefix, id);
                /* Live (an unreadable one was written anew if its image says
                 * what it is). */
                if (ceph_names_contain(names, n, name))
                        continue;
                if (!dry_run && (r = volume_index_remove(cluster, c->pool, id)) < 0) {
                        log_error("volume %s: cannot remove its index entry: %s", id,
                                  strerror(-r));
                        failed++;
                        continue;
                }
                say(id, "removed (its image is gone)", dry_run);
                (*changed)++;
        }
        return failed ? -EIO : 0;
}

static int index_rebuild(const struct config *c, struct ceph_cluster *cluster, bool dry_run)
{
        size_t n = 0, prefix = strlen(c->image_prefix);
        struct entries all = {0};
        unsigned changed = 0, failed = 0, volumes = 0;
        struct keys *keys = NULL;
        const char *why = NULL;
        char **names = NULL;
        int r;

        /* The metadata provider's KEKs tell a volume's own record from a
         * copied one. */
        if (c->key_provider == KEY_PROVIDER_METADATA && (r = keys_open(c, &keys, &why)) < 0) {
                log_error("cannot load the KEKs: %s", why ? why : strerror(-r));
                return r;
        }
        r = volume_index_each(cluster, c->pool, collect, &all, NULL);
        if (r >= 0)
                r = ceph_pool_list_images(cluster, c->pool, &names, &n);
        if (r < 0) {
                log_error("cannot read pool %s or its volume index: %s", c->pool, strerror(-r));
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                const char *id = names[i] + prefix;

                if (strncmp(names[i], c->image_prefix, prefix) != 0 || !uuid_is_valid(id))
                        continue;
                volumes++;
                failed += rebuild_one(c, cluster, keys, &all, id, names[i], dry_run, &changed) < 0;
        }
        failed += remove_gone(c, cluster, &all, names, n, dry_run, &changed) < 0;
        printf("%u volume images, %zu index entries: %u %s, %u failed\n", volumes,
               all.n + all.n_unreadable, changed, dry_run ? "would change" : "changed", failed);
        r = failed ? -EIO : 0;
out:
        keys_close(keys);
        ceph_names_free(names, n);
        free(all.items);
        free(all.unreadable);
        return r;
}

int cli_index(const struct config *c, int argc, char **argv)
{
        struct ceph_connect_params p = {c->ceph_conf, c->ceph_client, c->ceph_keyring,
                                       c->ceph_timeout_s};
        struct ceph_cluster *cluster = NULL;
        const char *cmd = argc >= 2 ? argv[1] : "";
        bool dry_run = false, ok, writes;
        long days = 0;
        char *end = NULL;
        int r, code;

        /* argv[0] is "index". */
        if (strcmp(cmd, "list") == 0 || strcmp(cmd, "headers") == 0) {
                ok = argc == 2;
        } else if (strcmp(cmd, "rebuild") == 0) {
                dry_run = argc == 3;
                ok = argc == 2 || (argc == 3 && strcmp(argv[2], "--dry-run") == 0);
        } else if (strcmp(cmd, "shred-deleted") == 0 && (argc == 3 || argc == 4)) {
                errno = 0;
                days = strtol(argv[2], &end, 10);
                dry_run = argc == 4;
                ok = argv[2][0] >= '0' && argv[2][0] <= '9' && !*end && !errno && days <= 36500 &&
                     (argc == 3 || strcmp(argv[3], "--dry-run") == 0);
        } else {
                ok = false;
        }
        if (!ok) {
                fprintf(stderr, "rbd-luks-agent index: %s\n\n%s",
                        argc < 2 ? "no index command given" : "unknown index command or argument",
                        cli_index_usage);
                return 2;
        }
        writes = strcmp(cmd, "rebuild") == 0 || strcmp(cmd, "shred-deleted") == 0;
        if (c->role != ROLE_VOLUME && writes) {
                log_error("index %s runs with the volume role's config (it writes the index)", cmd);
                return 1;
        }
        r = ceph_cluster_connect(&p, &cluster);
        if (r < 0) {
                log_error("cannot connect to Ceph as client.%s: %s", c->ceph_client, strerror(-r));
                return 1;
        }
        if (strcmp(cmd, "list") == 0)
                code = index_list(c, cluster);
        else if (strcmp(cmd, "headers") == 0)
                code = index_headers(c, cluster);
        else if (strcmp(cmd, "shred-deleted") == 0)
                code = index_shred_deleted(c, cluster, days, dry_run);
        else
                code = index_rebuild(c, cluster, dry_run) < 0 ? 1 : 0;
        ceph_cluster_disconnect(cluster);
        return code;
}
