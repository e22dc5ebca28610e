/* ceph_data: an image's contents (ceph.h): whether any object of a range
 * is allocated (the object map read in one RADOS read when it can answer,
 * else librbd's walk), and reads, writes and flushes. */
#include "ceph_internal.h"

#include <errno.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An object map past this size (a 4 PiB image of 4 MiB objects) is left
 * to librbd's own walk. */
#define OBJECT_MAP_READ_MAX (256u << 20)

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
