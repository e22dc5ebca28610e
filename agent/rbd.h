/* rbd: the agent's window on Ceph, through librados and librbd.
 *
 * Only this file includes rados/librbd headers. A struct rbd_cluster is one
 * connected client (thread-safe; shared by workers); a struct rbd_image one
 * open image. Functions return 0 or the negative errno librados/librbd
 * gave; rbd_error_is_transient() says which of those may pass by waiting. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rbd_cluster;
struct rbd_image;

struct rbd_connect_params {
        const char *conf;
        const char *client;  /* without "client." */
        const char *keyring; /* NULL: as ceph.conf says */
        unsigned timeout_s;
};

int rbd_cluster_connect(const struct rbd_connect_params *p, struct rbd_cluster **ret);
void rbd_cluster_disconnect(struct rbd_cluster *c);

/* Names of every image in pool, sorted; free with rbd_names_free. At most
 * RBD_LIST_MAX names (-E2BIG beyond). */
#define RBD_LIST_MAX 1000000
int rbd_pool_list_images(struct rbd_cluster *c, const char *pool, char ***ret_names,
                         size_t *ret_count);
void rbd_names_free(char **names, size_t count);
/* Whether the sorted list from rbd_pool_list_images holds name. */
bool rbd_names_contain(char *const *names, size_t count, const char *name);

int rbd_image_open(struct rbd_cluster *c, const char *pool, const char *name,
                   struct rbd_image **ret);
void rbd_image_close(struct rbd_image *img);

int rbd_image_size(struct rbd_image *img, uint64_t *ret_size);
int rbd_image_object_size(struct rbd_image *img, uint64_t *ret_object_size);
int rbd_image_resize(struct rbd_image *img, uint64_t size);
/* A new image NAME of size bytes in model's pool, with model's features
 * and object size. -EEXIST when there is one. */
int rbd_image_create_like(struct rbd_image *model, const char *name, uint64_t size);
/* Rename or remove an image (not open here); -ENOENT when there is none,
 * -EBUSY while a client has it open, -ENOTEMPTY while it has snapshots. */
int rbd_pool_rename(struct rbd_cluster *c, const char *pool, const char *from, const char *to);
int rbd_pool_remove(struct rbd_cluster *c, const char *pool, const char *name);
/* librbd's own LUKS1 layer on img with this passphrase (len bytes, not
 * NUL-terminated): from then on img's size is the payload and reads and
 * writes go through the cipher. librbd keeps its own copy of the
 * passphrase while it loads the header. */
int rbd_image_load_luks(struct rbd_image *img, const char *passphrase, size_t len);

/* Exclusive lock for the time of a format. With the exclusive-lock image
 * feature (Cinder's default) this is librbd's managed lock: a client that
 * dies loses it once its watch times out, when the next one asks. Without
 * the feature it is a legacy advisory lock named by cookie, which outlives
 * its holder (see rbd_image_break_lock). -EBUSY when another client holds
 * it; *ret_holder then names the holder (a legacy lock's cookie). */
int rbd_image_lock(struct rbd_image *img, const char *cookie, char *ret_holder,
                   size_t holder_size);
int rbd_image_unlock(struct rbd_image *img, const char *cookie);
/* Breaks the legacy lock whose cookie is stale_cookie, whoever holds it. */
int rbd_image_break_lock(struct rbd_image *img, const char *stale_cookie);

/* The agent's own advisory lock on an image's key record, for the writers
 * that read a record and write it again (keys rewrap): a RADOS lock named
 * RBD_RECORD_LOCK on the image's header object. librbd's exclusive lock
 * (rbd_image_lock) is another lock on that object, so this one never takes
 * the data path away from the image's writer (a guest's qemu). Like a
 * legacy lock it outlives a holder that dies: break a stale one with
 * rbd_image_break_record_lock. -EBUSY when another cookie holds it;
 * *ret_holder then names that cookie. -EEXIST: this client holds it under
 * this cookie already. */
#define RBD_RECORD_LOCK "rbd-luks-agent.record"
int rbd_image_record_lock(struct rbd_image *img, const char *cookie, char *ret_holder,
                          size_t holder_size);
int rbd_image_record_unlock(struct rbd_image *img, const char *cookie);
int rbd_image_break_record_lock(struct rbd_image *img, const char *stale_cookie);

/* True in *ret when any object of [from, size) is allocated, parent
 * included; *ret_offset (may be NULL) is where the first one starts.
 * From 0, an object map that says no object exists answers at once;
 * otherwise librbd walks the image (rbd_diff_iterate2). */
int rbd_image_has_data(struct rbd_image *img, uint64_t from, bool *ret, uint64_t *ret_offset);

int rbd_image_read(struct rbd_image *img, uint64_t offset, size_t length, unsigned char *buf);
int rbd_image_write(struct rbd_image *img, uint64_t offset, size_t length,
                    const unsigned char *buf);
int rbd_image_flush(struct rbd_image *img);

/* Image metadata (rbd image-meta). get: -ENOENT when absent; value is
 * NUL-terminated and truncated to value_size - 1 (-ERANGE if it did not fit).
 * set and remove need no lock from the caller: on an image with the
 * exclusive-lock feature librbd has the lock's owner (a running guest's
 * qemu) make the change, or, when nobody holds the lock, takes it for
 * itself and hands it over to the next client that asks. */
int rbd_image_meta_get(struct rbd_image *img, const char *key, char *value, size_t value_size);
int rbd_image_meta_set(struct rbd_image *img, const char *key, const char *value);
int rbd_image_meta_remove(struct rbd_image *img, const char *key);

bool rbd_error_is_transient(int r);

/* Small maps kept in the omap of one RADOS object in the pool: the volume
 * index (RBD_INDEX_OBJECT, volume_index.h) and the header map
 * (RBD_HEADERS_OBJECT, header_map.h). One entry per key with a short text
 * value. set and remove are one RADOS write each (set creates the object;
 * remove of an absent key or object is 0); get is -ENOENT for an absent
 * key, and -ERANGE when the value does not fit. each() calls fn for every
 * entry whose key starts with prefix ("" for all), in key order,
 * RBD_INDEX_PAGE per RADOS read, with an empty value for one longer than
 * RBD_INDEX_VALUE_MAX; a non-zero return from fn stops the walk and is
 * returned. *ret_reads (may be NULL) counts the RADOS reads. A missing
 * object is an empty map. -EINVAL: key empty or too long. */
#define RBD_INDEX_OBJECT "rbd-luks-agent.index"
#define RBD_HEADERS_OBJECT "rbd-luks-agent.headers"
#define RBD_INDEX_KEY_MAX 128
#define RBD_INDEX_VALUE_MAX 2048
#define RBD_INDEX_PAGE 1024
typedef int (*rbd_index_fn)(void *opaque, const char *key, const char *value);
int rbd_omap_set(struct rbd_cluster *c, const char *pool, const char *object, const char *key,
                 const char *value);
int rbd_omap_remove(struct rbd_cluster *c, const char *pool, const char *object,
                    const char *key);
int rbd_omap_get(struct rbd_cluster *c, const char *pool, const char *object, const char *key,
                 char *value, size_t size);
int rbd_omap_each(struct rbd_cluster *c, const char *pool, const char *object, const char *prefix,
                  rbd_index_fn fn, void *opaque, size_t *ret_reads);
