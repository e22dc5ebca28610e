/* rbd: librados/librbd behind the small interface of rbd.h.
 *
 * One rados client is shared by every worker (librados is thread-safe);
 * each open image has its own io context so a worker never waits on
 * another's image. */
#include "ceph.h"

#include <errno.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCKER_LIST_MAX 4096
/* An object map past this size (a 4 PiB image of 4 MiB objects) is left
 * to librbd's own walk. */
#define OBJECT_MAP_READ_MAX (256u << 20)

struct ceph_cluster {
        rados_t rados;
};

struct ceph_image {
        rados_ioctx_t io;
        rbd_image_t image;
        bool managed_lock; /* holds librbd's exclusive lock, not a legacy one */
};

static int set_options(rados_t rados, const struct ceph_connect_params *p)
{
        static const char *const timeouts[] = {"client_mount_timeout", "rados_mon_op_timeout",
                                               "rados_osd_op_timeout"};
        char seconds[16];
        int r;

        snprintf(seconds, sizeof(seconds), "%u", p->timeout_s);
        for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
                r = rados_conf_set(rados, timeouts[i], seconds);
                if (r < 0)
                        return r;
        }
        /* The agent reports errors itself; Ceph's own stderr lines would
         * interleave with our log. */
        r = rados_conf_set(rados, "log_to_stderr", "false");
        if (r >= 0)
                r = rados_conf_set(rados, "err_to_stderr", "false");
        if (r >= 0 && p->keyring)
                r = rados_conf_set(rados, "keyring", p->keyring);
        return r;
}

int ceph_cluster_connect(const struct ceph_connect_params *p, struct ceph_cluster **ret)
{
        struct ceph_cluster *c;
        char name[128];
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        snprintf(name, sizeof(name), "client.%s", p->client);
        r = rados_create2(&c->rados, "ceph", name, 0);
        if (r < 0) {
                free(c);
                return r;
        }
        r = rados_conf_read_file(c->rados, p->conf);
        if (r >= 0)
                r = set_options(c->rados, p);
        if (r >= 0)
                r = rados_connect(c->rados);
        if (r < 0) {
                rados_shutdown(c->rados);
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void ceph_cluster_disconnect(struct ceph_cluster *c)
{
        if (!c)
                return;
        rados_shutdown(c->rados);
        free(c);
}

static int compare_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void ceph_names_free(char **names, size_t count)
{
        if (!names)
                return;
        for (size_t i = 0; i < count; i++)
                free(names[i]);
        free(names);
}

bool ceph_names_contain(char *const *names, size_t count, const char *name)
{
        size_t lo = 0, hi = count;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int d = strcmp(names[mid], name);

                if (d == 0)
                        return true;
                if (d < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

/* Copies librbd's list into plain strings the caller owns. */
static int copy_names(rbd_image_spec_t *specs, size_t n, char ***ret_names)
{
        char **names = calloc(n ? n : 1, sizeof(*names));

        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                names[i] = strdup(specs[i].name);
                if (!names[i]) {
                        ceph_names_free(names, i);
                        return -ENOMEM;
                }
        }
        qsort(names, n, sizeof(*names), compare_names);
        *ret_names = names;
        return 0;
}

int ceph_pool_list_images(struct ceph_cluster *c, const char *pool, char ***ret_names,
                         size_t *ret_count)
{
        rbd_image_spec_t *specs = NULL;
        rados_ioctx_t io;
        size_t n = 64;
        int r;

        r = rados_ioctx_create(c->rados, pool, &io);
        if (r < 0)
                return r;
        for (;;) {
                free(specs);
                specs = calloc(n, sizeof(*specs));
                if (!specs) {
                        r = -ENOMEM;
                        break;
                }
                r = rbd_list2(io, specs, &n);
                if (r != -ERANGE)
                        break;
                if (n > CEPH_LIST_MAX) {
                        r = -E2BIG;
                        n = 0;
                        break;
                }
        }
        if (r >= 0) {
                r = copy_names(specs, n, ret_names);
                if (r >= 0)
                        *ret_count = n;
                rbd_image_spec_list_cleanup(specs, n);
        }
        free(specs);
        rados_ioctx_destroy(io);
        return r;
}

int ceph_image_open(struct ceph_cluster *c, const char *pool, const char *name,
                   struct ceph_image **ret)
{
        struct ceph_image *img;
        int r;

        img = calloc(1, sizeof(*img));
        if (!img)
                return -ENOMEM;
        r = rados_ioctx_create(c->rados, pool, &img->io);
        if (r < 0) {
                free(img);
                return r;
        }
        r = rbd_open(img->io, name, &img->image, NULL);
        if (r < 0) {
                rados_ioctx_destroy(img->io);
                free(img);
                return r;
        }
        *ret = img;
        return 0;
}

void ceph_image_close(struct ceph_image *img)
{
        if (!img)
                return;
        rbd_close(img->image);
        rados_ioctx_destroy(img->io);
        free(img);
}

int ceph_image_size(struct ceph_image *img, uint64_t *ret_size)
{
        return rbd_get_size(img->image, ret_size);
}

int ceph_image_object_size(struct ceph_image *img, uint64_t *ret_object_size)
{
        rbd_image_info_t info;
        int r = rbd_stat(img->image, &info, sizeof(info));

        if (r < 0)
                return r;
        *ret_object_size = info.obj_size;
        return 0;
}

int ceph_image_resize(struct ceph_image *img, uint64_t size)
{
        /* Never shrink: a smaller image would cut data off. */
        return rbd_resize2(img->image, size, false, NULL, NULL);
}

int ceph_image_create_like(struct ceph_image *model, const char *name, uint64_t size)
{
        rbd_image_options_t opts;
        uint64_t features = 0;
        uint8_t order = 0;
        rbd_image_info_t info;
        int r;

        r = rbd_get_features(model->image, &features);
        if (r >= 0)
                r = rbd_stat(model->image, &info, sizeof(info));
        if (r < 0)
                return r;
        order = (uint8_t)info.order;
        rbd_image_options_create(&opts);
        r = rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FEATURES, features);
        if (r >= 0)
                r = rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_ORDER, order);
        if (r >= 0)
                r = rbd_create4(model->io, name, size, opts);
        rbd_image_options_destroy(opts);
        return r;
}

int ceph_pool_rename(struct ceph_cluster *c, const char *pool, const char *from, const char *to)
{
        rados_ioctx_t io;
        int r = rados_ioctx_create(c->rados, pool, &io);

        if (r < 0)
                return r;
        r = rbd_rename(io, from, to);
        rados_ioctx_destroy(io);
        return r;
}

int ceph_pool_remove(struct ceph_cluster *c, const char *pool, const char *name)
{
        rados_ioctx_t io;
        int r = rados_ioctx_create(c->rados, pool, &io);

        if (r < 0)
                return r;
        r = rbd_remove(io, name);
        rados_ioctx_destroy(io);
        return r;
}

int ceph_image_load_luks(struct ceph_image *img, const char *passphrase, size_t len)
{
        rbd_encryption_luks1_format_options_t opts = {
                .alg = RBD_ENCRYPTION_ALGORITHM_AES256,
                .passphrase = passphrase,
                .passphrase_size = len,
        };

        return rbd_encryption_load(img->image, RBD_ENCRYPTION_FORMAT_LUKS1, &opts, sizeof(opts));
}

/* The holders of one lock, as librados lists them: NUL-separated clients
 * and cookies, in the same order. */
struct lockers {
        char clients[LOCKER_LIST_MAX], cookies[LOCKER_LIST_MAX];
        ssize_t n;
};

/* The lockers of librbd's own lock (oid NULL) or of the record lock on the
 * header object oid; returns their number. */
static ssize_t list_lockers(struct ceph_image *img, const char *oid, struct lockers *l)
{
        char tag[256], addrs[LOCKER_LIST_MAX];
        size_t tag_len = sizeof(tag), addrs_len = sizeof(addrs);
        size_t clients_len = sizeof(l->clients), cookies_len = sizeof(l->cookies);
        int exclusive;

        if (oid)
                l->n = rados_list_lockers(img->io, oid, CEPH_RECORD_LOCK, &exclusive, tag, &tag_len,
                                          l->clients, &clients_len, l->cookies, &cookies_len,
                                          addrs, &addrs_len);
        else
                l->n = rbd_list_lockers(img->image, &exclusive, tag, &tag_len, l->clients,
                                        &clients_len, l->cookies, &cookies_len, addrs, &addrs_len);
        return l->n;
}

/* The client that holds the lock under cookie, or NULL. */
static const char *locker_with_cookie(const struct lockers *l, const char *cookie)
{
        const char *client = l->clients, *c = l->cookies;

        for (ssize_t i = 0; i < l->n; i++) {
                if (strcmp(c, cookie) == 0)
                        return client;
                client += strlen(client) + 1;
                c += strlen(c) + 1;
        }
        return NULL;
}

/* The first holder's cookie into ret_holder ("" when none is listed). */
static void first_holder(struct ceph_image *img, const char *oid, char *ret_holder,
                         size_t holder_size)
{
        struct lockers l;

        if (!ret_holder || !holder_size)
                return;
        ret_holder[0] = '\0';
        if (list_lockers(img, oid, &l) > 0)
                snprintf(ret_holder, holder_size, "%s", l.cookies);
}

/* librbd's managed exclusive lock and legacy advisory locks share one
 * lock on the header object: with the exclusive-lock feature, a legacy lock
 * would stop librbd itself from writing (EROFS). */
static int managed_lock(struct ceph_image *img, char *ret_holder, size_t holder_size)
{
        struct lockers l;
        rbd_lock_mode_t mode;
        char *owners[4];
        size_t n = 4;
        int r;

        /* librbd waits, without end, on a lock taken with `rbd lock add`
         * (its cookie is not librbd's "auto <id>"): report it as busy. */
        if (list_lockers(img, NULL, &l) > 0 && strncmp(l.cookies, "auto ", 5) != 0) {
                if (ret_holder && holder_size)
                        snprintf(ret_holder, holder_size, "%s (advisory lock)", l.cookies);
                return -EBUSY;
        }
        r = rbd_lock_acquire(img->image, RBD_LOCK_MODE_EXCLUSIVE);

        if (r >= 0) {
                img->managed_lock = true;
                return 0;
        }
        if (r != -EROFS && r != -EBUSY)
                return r;
        if (ret_holder && holder_size) {
                snprintf(ret_holder, holder_size, "another client");
                if (rbd_lock_get_owners(img->image, &mode, owners, &n) >= 0 && n > 0) {
                        snprintf(ret_holder, holder_size, "%s", owners[0]);
                        rbd_lock_get_owners_cleanup(owners, n);
                }
        }
        return -EBUSY;
}

int ceph_image_lock(struct ceph_image *img, const char *cookie, char *ret_holder,
                   size_t holder_size)
{
        uint64_t features;
        int r = rbd_get_features(img->image, &features);

        if (r < 0)
                return r;
        if (features & RBD_FEATURE_EXCLUSIVE_LOCK)
                return managed_lock(img, ret_holder, holder_size);
        r = rbd_lock_exclusive(img->image, cookie);
        if (r == -EBUSY)
                first_holder(img, NULL, ret_holder, holder_size);
        return r;
}

int ceph_image_unlock(struct ceph_image *img, const char *cookie)
{
        if (img->managed_lock) {
                img->managed_lock = false;
                return rbd_lock_release(img->image);
        }
        return rbd_unlock(img->image, cookie);
}

/* Breaks the lock held under stale_cookie: librbd's own (oid NULL) or the
 * record lock on the header object oid. */
static int break_locker(struct ceph_image *img, const char *oid, const char *stale_cookie)
{
        struct lockers l;
        const char *client;

        if (list_lockers(img, oid, &l) < 0)
                return (int)l.n;
        client = locker_with_cookie(&l, stale_cookie);
        if (!client)
                return -ENOENT;
        return oid ? rados_break_lock(img->io, oid, CEPH_RECORD_LOCK, client, stale_cookie)
                   : rbd_break_lock(img->image, client, stale_cookie);
}

int ceph_image_break_lock(struct ceph_image *img, const char *stale_cookie)
{
        return break_locker(img, NULL, stale_cookie);
}

/* ---- the key record's lock -------------------------------------------- */

/* The image's header object, where librbd keeps its own lock and the
 * image metadata. */
static int header_object(struct ceph_image *img, char *oid, size_t size)
{
        char id[96];
        int r = rbd_get_id(img->image, id, sizeof(id));

        if (r < 0)
                return r;
        snprintf(oid, size, "rbd_header.%s", id);
        return 0;
}

int ceph_image_record_lock(struct ceph_image *img, const char *cookie, char *ret_holder,
                          size_t holder_size)
{
        char oid[128];
        int r = header_object(img, oid, sizeof(oid));

        if (r < 0)
                return r;
        /* No duration: like a legacy lock it stays until unlocked or
         * broken, and its cookie says when a holder is gone. */
        r = rados_lock_exclusive(img->io, oid, CEPH_RECORD_LOCK, cookie,
                                 "rbd-luks-agent: one writer of the key record", NULL, 0);
        if (r == -EBUSY)
                first_holder(img, oid, ret_holder, holder_size);
        return r;
}

int ceph_image_record_unlock(struct ceph_image *img, const char *cookie)
{
        char oid[128];
        int r = header_object(img, oid, sizeof(oid));

        return r < 0 ? r : rados_unlock(img->io, oid, CEPH_RECORD_LOCK, cookie);
}

int ceph_image_break_record_lock(struct ceph_image *img, const char *stale_cookie)
{
        char oid[128];
        int r = header_object(img, oid, sizeof(oid));

        return r < 0 ? r : break_locker(img, oid, stale_cookie);
}

/* The object map as RADOS stores it (Ceph's BitVector<2> encoding, the
 * same since object maps exist): a length-prefixed header {u8 version 1,
 * u8 compat 1, u32 length 8, u64 element count}, then 2 bits per object,
 * four to a byte, then CRCs. */
enum { MAP_HEADER_BYTES = 4 + 14 };

static bool object_map_header_is(const unsigned char *b, uint64_t objects)
{
        static const unsigned char head[10] = {14, 0, 0, 0, 1, 1, 8, 0, 0, 0};
        uint64_t count = 0;

        for (int i = 7; i >= 0; i--)
                count = count << 8 | b[10 + i];
        return memcmp(b, head, sizeof(head)) == 0 && count == objects;
}

/* The fast way to know an image has no object at all, for the whole-image
 * check before a format (docs/decisions.md): read its object map in one
 * RADOS read and see every entry "nonexistent". librbd's own walk
 * (rbd_diff_iterate2) trusts the same map but maps every object on the
 * way, 353 ms at 4 TiB. 1: no object exists. 0: cannot tell (no object
 * map, flagged invalid, a parent, an unexpected encoding, any entry not
 * zero): the caller asks librbd. */
static int object_map_says_empty(struct ceph_image *img, uint64_t size)
{
        rbd_linked_image_spec_t parent;
        rbd_snap_spec_t parent_snap;
        rbd_image_info_t info;
        uint64_t features, flags, objects, bytes, stored = 0;
        unsigned char *map = NULL;
        char id[96], oid[128];
        int r, empty = 0;

        if (rbd_get_features(img->image, &features) < 0 ||
            !(features & RBD_FEATURE_OBJECT_MAP) || rbd_get_flags(img->image, &flags) < 0 ||
            (flags & RBD_FLAG_OBJECT_MAP_INVALID) || rbd_stat(img->image, &info, sizeof(info)) < 0 ||
            info.obj_size == 0 || rbd_get_id(img->image, id, sizeof(id)) < 0)
                return 0;
        r = rbd_get_parent(img->image, &parent, &parent_snap);
        if (r == 0) {
                rbd_linked_image_spec_cleanup(&parent);
                rbd_snap_spec_cleanup(&parent_snap);
        }
        if (r != -ENOENT)
                return 0;
        objects = size / info.obj_size + (size % info.obj_size != 0);
        bytes = (objects + 3) / 4;
        snprintf(oid, sizeof(oid), "rbd_object_map.%s", id);
        if (rados_stat(img->io, oid, &stored, NULL) < 0 || stored < MAP_HEADER_BYTES + bytes ||
            stored > OBJECT_MAP_READ_MAX || !(map = malloc(stored)))
                return 0;
        if (rados_read(img->io, oid, (char *)map, stored, 0) == (int)stored &&
            object_map_header_is(map, objects)) {
                empty = 1;
                for (uint64_t i = 0; i < bytes && empty; i++)
                        empty = map[MAP_HEADER_BYTES + i] == 0;
        }
        free(map);
        return empty;
}

struct first_extent {
        bool found;
        uint64_t offset;
};

static int stop_at_first_extent(uint64_t offset, size_t length, int exists, void *arg)
{
        struct first_extent *first = arg;

        (void)length;
        if (!exists)
                return 0;
        first->found = true;
        first->offset = offset;
        return -ECANCELED;
}

int ceph_image_has_data(struct ceph_image *img, uint64_t from, bool *ret, uint64_t *ret_offset)
{
        struct first_extent first = {false, 0};
        uint64_t size;
        int r;

        r = rbd_get_size(img->image, &size);
        if (r < 0)
                return r;
        if (from >= size || (from == 0 && object_map_says_empty(img, size) == 1)) {
                *ret = false;
                return 0;
        }
        /* whole_object: with object-map/fast-diff this reads the object map
         * instead of asking every object; librbd still maps each object of
         * the image, 353 ms at 4 TiB. include_parent: a clone's parent data
         * is data too. */
        r = rbd_diff_iterate2(img->image, NULL, from, size - from, 1, 1, stop_at_first_extent,
                              &first);
        if (r < 0 && !(r == -ECANCELED && first.found))
                return r;
        *ret = first.found;
        if (ret_offset)
                *ret_offset = first.offset;
        return 0;
}

int ceph_image_read(struct ceph_image *img, uint64_t offset, size_t length, unsigned char *buf)
{
        ssize_t n = rbd_read(img->image, offset, length, (char *)buf);

        if (n < 0)
                return (int)n;
        /* librbd returns short reads only past the end of the image. */
        if ((size_t)n < length)
                memset(buf + n, 0, length - (size_t)n);
        return 0;
}

int ceph_image_write(struct ceph_image *img, uint64_t offset, size_t length,
                    const unsigned char *buf)
{
        ssize_t n = rbd_write(img->image, offset, length, (const char *)buf);

        if (n < 0)
                return (int)n;
        return (size_t)n == length ? 0 : -EIO;
}

int ceph_image_flush(struct ceph_image *img)
{
        return rbd_flush(img->image);
}

int ceph_image_meta_get(struct ceph_image *img, const char *key, char *value, size_t value_size)
{
        size_t len = value_size;
        int r = rbd_metadata_get(img->image, key, value, &len);

        if (r < 0)
                return r;
        value[value_size - 1] = '\0';
        return 0;
}

int ceph_image_meta_set(struct ceph_image *img, const char *key, const char *value)
{
        return rbd_metadata_set(img->image, key, value);
}

int ceph_image_meta_remove(struct ceph_image *img, const char *key)
{
        return rbd_metadata_remove(img->image, key);
}

bool ceph_error_is_transient(int r)
{
        switch (-r) {
        case ETIMEDOUT:
        case ENOTCONN:
        case ESHUTDOWN:
        case ECONNREFUSED:
        case ECONNRESET:
        case EHOSTUNREACH:
        case EAGAIN:
        case EBUSY:
        case EINTR:
        case EIO:
                return true;
        default:
                return false;
        }
}

/* ---- the pool's volume index (one object's omap) ------------------------ */

static int index_io(struct ceph_cluster *c, const char *pool, rados_ioctx_t *ret)
{
        return rados_ioctx_create(c->rados, pool, ret);
}

/* Runs op (and releases it) on object. */
static int index_write(struct ceph_cluster *c, const char *pool, const char *object,
                       rados_write_op_t op)
{
        rados_ioctx_t io;
        int r = index_io(c, pool, &io);

        if (r >= 0) {
                r = rados_write_op_operate(op, io, object, NULL, 0);
                rados_ioctx_destroy(io);
        }
        rados_release_write_op(op);
        return r;
}

int ceph_omap_set(struct ceph_cluster *c, const char *pool, const char *object, const char *key,
                 const char *value)
{
        size_t key_len = strlen(key), value_len = strlen(value);
        rados_write_op_t op;

        if (key_len == 0 || key_len > CEPH_INDEX_KEY_MAX || value_len > CEPH_INDEX_VALUE_MAX)
                return -EINVAL;
        op = rados_create_write_op();
        if (!op)
                return -ENOMEM;
        rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
        rados_write_op_omap_set2(op, &key, &value, &key_len, &value_len, 1);
        return index_write(c, pool, object, op);
}

int ceph_omap_remove(struct ceph_cluster *c, const char *pool, const char *object, const char *key)
{
        size_t key_len = strlen(key);
        rados_write_op_t op;
        int r;

        if (key_len == 0 || key_len > CEPH_INDEX_KEY_MAX)
                return -EINVAL;
        op = rados_create_write_op();
        if (!op)
                return -ENOMEM;
        rados_write_op_omap_rm_keys2(op, &key, &key_len, 1);
        r = index_write(c, pool, object, op);
        return r == -ENOENT ? 0 : r; /* no such object: nothing to remove */
}

/* Copies one omap value out, NUL-terminated; -ERANGE when it is too long. */
static int copy_value(const char *val, size_t val_len, char *value, size_t size)
{
        if (val_len >= size)
                return -ERANGE;
        memcpy(value, val, val_len);
        value[val_len] = '\0';
        return 0;
}

int ceph_omap_get(struct ceph_cluster *c, const char *pool, const char *object, const char *key,
                 char *value, size_t size)
{
        size_t key_len = strlen(key), k_len = 0, v_len = 0;
        rados_omap_iter_t iter = NULL;
        rados_read_op_t op;
        rados_ioctx_t io;
        char *k = NULL, *v = NULL;
        int r, prval = 0;

        if (key_len == 0 || key_len > CEPH_INDEX_KEY_MAX || size == 0)
                return -EINVAL;
        r = index_io(c, pool, &io);
        if (r < 0)
                return r;
        op = rados_create_read_op();
        if (!op) {
                rados_ioctx_destroy(io);
                return -ENOMEM;
        }
        rados_read_op_omap_get_vals_by_keys2(op, &key, 1, &key_len, &iter, &prval);
        r = rados_read_op_operate(op, io, object, 0);
        if (r >= 0)
                r = prval;
        if (r >= 0)
                r = rados_omap_get_next2(iter, &k, &v, &k_len, &v_len);
        if (r >= 0)
                r = k ? copy_value(v, v_len, value, size) : -ENOENT;
        if (iter)
                rados_omap_get_end(iter);
        rados_release_read_op(op);
        rados_ioctx_destroy(io);
        return r;
}

/* One page of object's map after `after` ("" from the start), keys
 * starting with prefix; *ret_more when there is more. */
static int index_page(rados_ioctx_t io, const char *object, const char *prefix, const char *after,
                      ceph_index_fn fn, void *opaque, char *ret_last, bool *ret_more,
                      size_t *ret_count)
{
        rados_omap_iter_t iter = NULL;
        unsigned char more = 0;
        rados_read_op_t op = rados_create_read_op();
        int r, prval = 0;

        if (!op)
                return -ENOMEM;
        rados_read_op_omap_get_vals2(op, after, prefix, CEPH_INDEX_PAGE, &iter, &more, &prval);
        r = rados_read_op_operate(op, io, object, 0);
        if (r >= 0)
                r = prval;
        *ret_count = 0;
        while (r >= 0) {
                char *k = NULL, *v = NULL, key[CEPH_INDEX_KEY_MAX + 1], value[CEPH_INDEX_VALUE_MAX + 1];
                size_t k_len = 0, v_len = 0;

                r = rados_omap_get_next2(iter, &k, &v, &k_len, &v_len);
                if (r < 0 || !k)
                        break;
                /* Entries the agent did not write are passed on as empty,
                 * so the caller can name them rather than lose them. */
                if (copy_value(k, k_len, key, sizeof(key)) < 0)
                        continue;
                if (copy_value(v, v_len, value, sizeof(value)) < 0 || memchr(value, '\0', v_len))
                        value[0] = '\0';
                memcpy(ret_last, key, k_len + 1);
                (*ret_count)++;
                r = fn(opaque, key, value);
                if (r != 0)
                        break;
        }
        if (iter)
                rados_omap_get_end(iter);
        rados_release_read_op(op);
        *ret_more = more != 0;
        return r;
}

int ceph_omap_each(struct ceph_cluster *c, const char *pool, const char *object, const char *prefix,
                  ceph_index_fn fn, void *opaque, size_t *ret_reads)
{
        char last[CEPH_INDEX_KEY_MAX + 1] = "";
        size_t reads = 0, count;
        bool more = true;
        rados_ioctx_t io;
        int r;

        r = index_io(c, pool, &io);
        if (r < 0)
                return r;
        while (more) {
                r = index_page(io, object, prefix, last, fn, opaque, last, &more, &count);
                reads++;
                if (r == -ENOENT && reads == 1) /* no such object yet: empty */
                        r = 0;
                if (r != 0 || count == 0)
                        break;
        }
        rados_ioctx_destroy(io);
        if (ret_reads)
                *ret_reads = reads;
        return r;
}
