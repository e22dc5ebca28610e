/* ceph_lock: the locks on an image (ceph.h): the exclusive lock for the
 * time of a format (librbd's managed lock, or a legacy advisory lock on an
 * image without the exclusive-lock feature), and the key record's lock, a
 * RADOS lock of the agent's own on the image's header object; a stale
 * holder's lock broken by its cookie. */
#include "ceph_internal.h"

#include <errno.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <string.h>

#define LOCKER_LIST_MAX 4096

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
