/* cli_keys: `rbd-luks-agent keys ...` (cli_keys.h). This is a
 * command layer: it prints results on stdout and logs failures, naming the
 * volume. It never prints key bytes, except `keys passphrase`, on purpose. */
#include "cli_keys.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/uuid.h"
#include "base/fdio.h"
#include "volume/format.h"
#include "records/header_map.h"
#include "keys/keys.h"
#include "keys/keywrap.h"
#include "records/lockcookie.h"
#include "base/log.h"
#include "luks/luks.h"
#include "ceph/ceph.h"

#define HEADER_READ_MAX (64u << 20)
#define LOCK_TRIES 10 /* seconds a rewrap waits for a live holder of a record lock */

const char cli_keys_usage[] =
        "Usage: rbd-luks-agent -c FILE keys COMMAND\n"
        "\n"
        "  show VOLUME_ID          the key record: KEK id, algorithm, created (no key bytes)\n"
        "  verify VOLUME_ID        check that the volume's key opens its LUKS keyslot; exit 0/1\n"
        "  audit [--json]          classify every volume image in the pool:\n"
        "                          verified | luks-foreign | plain | broken; exit 1 if broken\n"
        "  passphrase VOLUME_ID [--tty]\n"
        "                          print the LUKS passphrase (hex of the key) for disaster\n"
        "                          recovery, without newline; refuses a terminal unless --tty\n"
        "  rewrap [--dry-run]      re-wrap every volume key with the current KEK (metadata\n"
        "                          provider); one volume at a time, safe to re-run\n";

struct session {
        const struct config *config;
        struct keys *keys;
        struct ceph_cluster *cluster;
        struct lockcookie_owner lock_owner; /* cookies of the record locks rewrap takes */
};

static int session_open(const struct config *c, struct session *s)
{
        struct ceph_connect_params p = {c->ceph_conf, c->ceph_client, c->ceph_keyring,
                                       c->ceph_timeout_s};
        const char *why = NULL;
        int r;

        *s = (struct session){.config = c};
        r = lockcookie_owner_init(&s->lock_owner);
        if (r < 0) {
                log_error("cannot make lock cookies: %s", strerror(-r));
                return r;
        }
        r = keys_open(c, &s->keys, &why);
        if (r < 0) {
                log_error("cannot set up the key provider: %s", why);
                return r;
        }
        r = ceph_cluster_connect(&p, &s->cluster);
        if (r < 0)
                log_error("cannot connect to Ceph as client.%s: %s", c->ceph_client,
                          strerror(-r));
        return r;
}

static void session_close(struct session *s)
{
        ceph_cluster_disconnect(s->cluster);
        keys_close(s->keys);
}

static int open_volume(struct session *s, const char *volume_id, struct ceph_image **ret)
{
        char name[160];
        int r;

        snprintf(name, sizeof(name), "%s%s", s->config->image_prefix, volume_id);
        r = ceph_image_open(s->cluster, s->config->pool, name, ret);
        if (r < 0)
                log_error("volume %s: cannot open %s/%s: %s", volume_id, s->config->pool, name,
                          strerror(-r));
        return r;
}

/* The image's LUKS1 header, as many bytes as it says precede the payload.
 * -EINVAL: the image does not start with LUKS1. */
static int read_header(struct ceph_image *img, unsigned char **ret, size_t *ret_len)
{
        unsigned char first[LUKS_SECTOR], *buf;
        uint64_t offset, size;
        int r;

        r = ceph_image_size(img, &size);
        if (r >= 0)
                r = ceph_image_read(img, 0, sizeof(first), first);
        if (r >= 0)
                r = luks1_payload_offset_of(first, size < sizeof(first) ? 0 : sizeof(first),
                                            &offset);
        if (r < 0)
                return r;
        if (offset > HEADER_READ_MAX || offset > size || offset < LUKS_SECTOR)
                return -EBADMSG;
        buf = malloc(offset);
        if (!buf)
                return -ENOMEM;
        r = ceph_image_read(img, 0, offset, buf);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = offset;
        return 0;
}

/* 0 when the volume's key opens its header; *ret_reason says why not. */
static int check_key(struct session *s, const char *volume_id, struct ceph_image *img,
                     const char **ret_reason)
{
        struct secret *key = NULL, *hex = NULL;
        unsigned char *header = NULL;
        size_t len = 0;
        int r;

        r = read_header(img, &header, &len);
        if (r < 0) {
                *ret_reason = r == -EINVAL ? "image does not start with a LUKS1 header"
                                           : "cannot read the LUKS header";
                return r;
        }
        r = keys_lookup(s->keys, volume_id, img, &key, ret_reason);
        if (r >= 0)
                r = secret_to_hex(key, &hex);
        if (r >= 0) {
                r = luks_check_passphrase(header, len, hex);
                if (r < 0)
                        *ret_reason = "the key does not open any keyslot of the LUKS header";
        }
        secret_free(hex);
        secret_free(key);
        free(header);
        return r;
}

static int keys_show(struct session *s, const char *volume_id)
{
        char record[KEYWRAP_RECORD_MAX];
        struct keywrap_info info;
        struct ceph_image *img;
        const char *why = NULL;
        int r;

        if (open_volume(s, volume_id, &img) < 0)
                return 1;
        r = keys_read_record(img, record, sizeof(record));
        ceph_image_close(img);
        if (r == -ENOENT) {
                printf("volume %s: no wrapped key record\n", volume_id);
                return 1;
        }
        if (r >= 0)
                r = keywrap_parse(record, &info, &why);
        if (r < 0) {
                log_error("volume %s: key record unusable: %s", volume_id,
                          why ? why : strerror(-r));
                return 1;
        }
        printf("volume %s: key record v%u, %s, KEK %s, created %s\n", volume_id, info.version,
               info.algorithm, info.kek_id, info.created);
        return 0;
}

static int keys_verify(struct session *s, const char *volume_id)
{
        struct ceph_image *img;
        const char *why = "unknown";
        int r;

        if (open_volume(s, volume_id, &img) < 0)
                return 1;
        r = check_key(s, volume_id, img, &why);
        ceph_image_close(img);
        if (r < 0) {
                printf("volume %s: NOT verified: %s\n", volume_id, why);
                return 1;
        }
        printf("volume %s: verified: the %s key opens the LUKS keyslot\n", volume_id,
               keys_provider_name(s->keys));
        return 0;
}

static int keys_passphrase(struct session *s, const char *volume_id, bool tty)
{
        struct secret *key = NULL, *hex = NULL;
        struct ceph_image *img;
        const char *why = NULL;
        int r, code = 1;

        if (isatty(STDOUT_FILENO) && !tty) {
                log_error("refusing to print a passphrase to a terminal; redirect stdout to a "
                          "file or pipe, or add --tty");
                return 1;
        }
        if (open_volume(s, volume_id, &img) < 0)
                return 1;
        r = keys_lookup(s->keys, volume_id, img, &key, &why);
        if (r >= 0)
                r = secret_to_hex(key, &hex);
        if (r < 0) {
                log_error("volume %s: no usable key: %s", volume_id, why ? why : strerror(-r));
                goto out;
        }
        /* write(2), not stdio: stdio's buffer is ordinary heap that nobody wipes. */
        if (fflush(stdout) != 0 || fd_write_all(STDOUT_FILENO, hex->data, hex->len) < 0) {
                log_error("volume %s: cannot write the passphrase to stdout", volume_id);
                goto out;
        }
        log_warn("volume %s: LUKS passphrase printed for recovery (uid %d)", volume_id,
                 (int)getuid());
        code = 0;
out:
        secret_free(hex);
        secret_free(key);
        ceph_image_close(img);
        return code;
}

/* ---- audit ------------------------------------------------------------ */

struct finding {
        const char *class; /* verified | luks-foreign | plain | broken */
        char detail[FORMAT_REASON_MAX];
};

static void classify(struct session *s, const char *volume_id, struct ceph_image *img,
                     struct finding *f)
{
        char record[KEYWRAP_RECORD_MAX], first[LUKS_SECTOR];
        bool metadata = keys_stored_in_image(s->keys);
        bool has_record = false, has_header;
        const char *why = NULL;
        int r;

        r = ceph_image_read(img, 0, sizeof(first), (unsigned char *)first);
        has_header = r >= 0 && luks_has_magic((unsigned char *)first, sizeof(first), NULL);
        if (metadata)
                has_record = keys_read_record(img, record, sizeof(record)) != -ENOENT;
        if (r < 0) {
                f->class = "broken";
                snprintf(f->detail, sizeof(f->detail), "cannot read the image: %s", strerror(-r));
        } else if (has_header && (has_record || !metadata)) {
                r = check_key(s, volume_id, img, &why);
                f->class = r >= 0 ? "verified" : has_record ? "broken" : "luks-foreign";
                snprintf(f->detail, sizeof(f->detail), "%s",
                         r >= 0 ? "key opens the LUKS keyslot" : why);
        } else if (has_header) {
                f->class = "luks-foreign";
                snprintf(f->detail, sizeof(f->detail),
                         "LUKS header without a wrapped key (made by Cinder or by hand)");
        } else if (has_record) {
                f->class = "broken";
                snprintf(f->detail, sizeof(f->detail),
                         "wrapped key but no LUKS header (interrupted format? run: format %s)",
                         volume_id);
        } else {
                f->class = "plain";
                snprintf(f->detail, sizeof(f->detail), "no LUKS header, no wrapped key");
        }
}

/* The volume id in an image name, or NULL for images that are not volumes. */
static const char *volume_id_of(const struct config *c, const char *name)
{
        size_t n = strlen(c->image_prefix);

        return strncmp(name, c->image_prefix, n) == 0 && uuid_is_valid(name + n) ? name + n
                                                                                    : NULL;
}

static void print_finding(json_object *list, const char *id, const char *name,
                          const struct finding *f)
{
        json_object *o;

        if (!list) {
                printf("%-36s  %-12s  %s\n", id, f->class, f->detail);
                return;
        }
        o = json_object_new_object();
        json_object_object_add(o, "volume_id", json_object_new_string(id));
        json_object_object_add(o, "image", json_object_new_string(name));
        json_object_object_add(o, "class", json_object_new_string(f->class));
        json_object_object_add(o, "detail", json_object_new_string(f->detail));
        json_object_array_add(list, o);
}

static int keys_audit(struct session *s, bool json)
{
        json_object *list = json ? json_object_new_array() : NULL;
        unsigned broken = 0, volumes = 0;
        char **names = NULL;
        size_t n = 0;
        int r;

        r = ceph_pool_list_images(s->cluster, s->config->pool, &names, &n);
        if (r < 0) {
                log_error("cannot list images of pool %s: %s", s->config->pool, strerror(-r));
                json_object_put(list);
                return 1;
        }
        for (size_t i = 0; i < n; i++) {
                const char *id = volume_id_of(s->config, names[i]);
                struct finding f = {"broken", ""};
                struct ceph_image *img;

                if (!id)
                        continue;
                volumes++;
                r = ceph_image_open(s->cluster, s->config->pool, names[i], &img);
                if (r < 0)
                        snprintf(f.detail, sizeof(f.detail), "cannot open: %s", strerror(-r));
                else
                        classify(s, id, img, &f);
                if (r >= 0)
                        ceph_image_close(img);
                broken += strcmp(f.class, "broken") == 0;
                print_finding(list, id, names[i], &f);
        }
        if (list) {
                printf("%s\n", json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY |
                                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(list);
        }
        log_info("audit of pool %s: %u volumes, %u broken", s->config->pool, volumes, broken);
        ceph_names_free(names, n);
        return broken ? 1 : 0;
}

/* ---- rewrap ----------------------------------------------------------- */

/* The key record's own lock (rbd.h), not librbd's exclusive lock: the
 * guest writing to the image keeps that one, and librbd has it make the
 * metadata write for us. One rewrap at a time writes a record; a holder
 * provably gone (lockcookie.h) is broken, a live one waited for. */
static int lock_record(struct session *s, const char *id, struct ceph_image *img, char *cookie,
                       size_t size)
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
static int rewrap_one(struct session *s, const char *id, const char *name, bool dry_run,
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
        struct session *session;
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

static int keys_rewrap_all(struct session *s, bool dry_run)
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
                const char *id = volume_id_of(s->config, names[i]);

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

/* ---- dispatch --------------------------------------------------------- */

static int usage(const char *what)
{
        fprintf(stderr, "rbd-luks-agent keys: %s\n\n%s", what, cli_keys_usage);
        return 2;
}

static int needs_volume_id(int argc, char **argv, int extra_ok)
{
        if (argc < 2 || argc > 2 + extra_ok)
                return usage("give one VOLUME_ID");
        if (!uuid_is_valid(argv[1]))
                return usage("VOLUME_ID must be a UUID");
        return 0;
}

static int dispatch(struct session *s, int argc, char **argv)
{
        const char *cmd = argv[0];
        bool flag = argc > 2 || (argc == 2 && argv[1][0] == '-');

        if (strcmp(cmd, "show") == 0)
                return keys_show(s, argv[1]);
        if (strcmp(cmd, "verify") == 0)
                return keys_verify(s, argv[1]);
        if (strcmp(cmd, "passphrase") == 0)
                return keys_passphrase(s, argv[1], argc == 3);
        if (strcmp(cmd, "audit") == 0)
                return keys_audit(s, flag);
        return keys_rewrap_all(s, flag);
}

/* Checks the arguments before anything connects to Ceph. */
static int check_arguments(int argc, char **argv)
{
        const char *cmd = argv[0];

        if (strcmp(cmd, "show") == 0 || strcmp(cmd, "verify") == 0)
                return needs_volume_id(argc, argv, 0);
        if (strcmp(cmd, "passphrase") == 0) {
                int r = needs_volume_id(argc, argv, 1);

                if (r == 0 && argc == 3 && strcmp(argv[2], "--tty") != 0)
                        return usage("passphrase takes only --tty after VOLUME_ID");
                return r;
        }
        if (strcmp(cmd, "audit") == 0 || strcmp(cmd, "rewrap") == 0) {
                const char *flag = strcmp(cmd, "audit") == 0 ? "--json" : "--dry-run";

                if (argc > 2 || (argc == 2 && strcmp(argv[1], flag) != 0))
                        return usage(strcmp(cmd, "audit") == 0 ? "audit takes only --json"
                                                                : "rewrap takes only --dry-run");
                return 0;
        }
        return usage("unknown keys command");
}

int cli_keys(const struct config *c, int argc, char **argv)
{
        struct session s;
        int code;

        /* argv[0] is "keys". Line-buffered: a long audit or rewrap shows
         * its progress, and a killed one leaves every line it finished. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2)
                return usage("no keys command given");
        code = check_arguments(argc - 1, argv + 1);
        if (code)
                return code;
        if (session_open(c, &s) < 0) {
                session_close(&s);
                return 1;
        }
        code = dispatch(&s, argc - 1, argv + 1);
        session_close(&s);
        return code;
}
