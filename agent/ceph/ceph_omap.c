/* ceph_omap: small maps kept in the omap of one RADOS object in the pool
 * (ceph.h): the volume index's and the header map's store. One RADOS
 * write per set or remove; reads a page of CEPH_INDEX_PAGE entries at a
 * time. */
#include "ceph_internal.h"

#include <errno.h>
#include <rados/librados.h>
#include <string.h>

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
