/* ceph: librados/librbd behind the small interface of ceph.h: the
 * connection, the pool's images listed, an image opened, sized, created,
 * renamed and removed, librbd's LUKS layer loaded, image metadata. The
 * locks are ceph_lock.c's, an image's contents ceph_data.c's, the omap
 * maps ceph_omap.c's; ceph_internal.h has what they share.
 *
 * One rados client is shared by every worker (librados is thread-safe);
 * each open image has its own io context so a worker never waits on
 * another's image. */
#include "ceph_internal.h"

#include <errno.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
