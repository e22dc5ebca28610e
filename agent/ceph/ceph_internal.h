/* ceph_internal: what the files of ceph/ (ceph.c, ceph_lock.c,
 * ceph_data.c, ceph_omap.c) share: the structs behind ceph.h's handles.
 * Not an interface for anyone else; only ceph/ includes librados and
 * librbd. */
#pragma once

#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdbool.h>

#include "ceph.h"

struct ceph_cluster {
        rados_t rados;
};

struct ceph_image {
        rados_ioctx_t io;
        rbd_image_t image;
        bool managed_lock; /* holds librbd's exclusive lock, not a legacy one */
};
