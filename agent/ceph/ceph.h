/* ceph: the agent's window on Ceph, through librados and librbd.
 *
 * Only the files of ceph/ include rados/librbd headers. A struct ceph_cluster is one
 * connected client (thread-safe; shared by workers); a struct ceph_image one
 * open image. Functions return 0 or the negative errno librados/librbd
 * gave; ceph_error_is_transient() says which of those may pass by waiting. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ceph_cluster;
struct ceph_image;

struct ceph_connect_params {
        const char *conf;
        const char *client;  /* without "client." */
        const char *keyring; /* NULL: as ceph.conf says */
        unsigned timeout_s;
};

int ceph_cluster_connect(const struct ceph_connect_params *p, struct ceph_cluster **ret);
void ceph_cluster_disconnect(struct ceph_cluster *c);

/* Names of every image in pool, sorted; free with ceph_names_free. At most
 * CEPH_LIST_MAX names (-E2BIG beyond). */
#define CEPH_LIST_MAX 1000000
int ceph_pool_list_images(struct ceph_cluster *c, const char *pool, char ***ret_names,
                         size_t *ret_count);
void ceph_names_free(char **names, size_t count);
/* Whether the sorted list from ceph_pool_list_images holds name. */
bool ceph_names_contain(char *const *names, size_t count, const char *name);

int ceph_image_open(struct ceph_cluster *c, const char *pool, const char *name,
                   struct ceph_image **ret);
void ceph_image_close(struct ceph_image *img);

int ceph_image_size(struct ceph_image *img, uint64_t *ret_size);
int ceph_image_object_size(struct ceph_image *img, uint64_t *ret_object_size);
int ceph_image_resize(struct ceph_image *img, uint64_t size);
/* A new image NAME of size bytes in model's pool, with model's features
 * and object size. -EEXIST when there is one. */
int ceph_image_create_like(struct ceph_image *model, const char *name, uint64_t size);
/* Rename or remove an image (not open here); -ENOENT when there is none,
 * -EBUSY while a client has it open, -ENOTEMPTY while it has snapshots. */
int ceph_pool_rename(struct ceph_cluster *c, const char *pool, const char *from, const char *to);
int ceph_pool_remove(struct ceph_cluster *c, const char *pool, const char *name);
/* librbd's own LUKS1 layer on img with this passphrase (len bytes, not
 * NUL-terminated): from then on img's size is the payload and reads and
 * writes go through the cipher. librbd keeps its own copy of the
 * passphrase while it loads the header. */
int ceph_image_load_luks(struct ceph_image *img, const char *passphrase, size_t len);

/* Exclusive lock for the time of a format. With the exclusive-lock image
 * feature (Cinder's default) this is librbd's managed lock: a client that
 * dies loses it once its watch times out, when the next one asks. Without
 * the feature it is a legacy advisory lock named by cookie, which outlives
 * its holder (see ceph_image_break_lock). -EBUSY when another client holds
 * it; *ret_holder then names the holder (a legacy lock's cookie). */
int ceph_image_lock(struct ceph_image *img, const char *cookie, char *ret_holder,
                   size_t holder_size);
int ceph_image_unlock(struct ceph_image *img, const char *cookie);
/* Breaks the legacy lock whose cookie is stale_cookie, whoever holds it. */
int ceph_image_break_lock(struct ceph_image *img, const char *stale_cookie);

/* The agent's own advisory lock on an image's key record, for the writers
 * that read a record and write it again (keys rewrap): a RADOS lock named
 * CEPH_RECORD_LOCK on the image's header object. librbd's exclusive lock
 * (ceph_image_lock) is another lock on that object, so this one never takes
 * the data path away from the image's writer (a guest's qemu). Like a
 * legacy lock it outlives a holder that dies: break a stale one with
 * ceph_image_break_record_lock. -EBUSY when another cookie holds it;
 * *ret_holder then names that cookie. -EEXIST: this client holds it under
 * this cookie already. */
#define CEPH_RECORD_LOCK "rbd-luks-agent.record"
int ceph_image_record_lock(struct ceph_image *img, const char *cookie, char *ret_holder,
                          size_t holder_size);
int ceph_image_record_unlock(struct ceph_image *img, const char *cookie);
int ceph_image_break_record_lock(struct ceph_image *img, const char *stale_cookie);

/* True in *ret when any object of [from, size) is allocated, parent
 * included; *ret_offset (may be NULL) is where the first one starts.
 * From 0, an object map that says no object exists answers at once;
 * otherwise librbd walks the image (rbd_diff_iterate2). */
int ceph_image_has_data(struct ceph_image *img, uint64_t from, bool *ret, uint64_t *ret_offset);

int ceph_image_read(struct ceph_image *img, uint64_t offset, size_t length, unsigned char *buf);
int ceph_image_write(struct ceph_image *img, uint64_t offset, size_t length,
                    const unsigned char *buf);
int ceph_image_flush(struct ceph_image *img);

/* Image metadata (rbd image-meta). get: -ENOENT when absent; value is
 * NUL-terminated and truncated to value_size - 1 (-ERANGE if it did not fit).
 * set and remove need no lock from the caller: on an image with the
 * exclusive-lock feature librbd has the lock's owner (a running guest's
 * qemu) make the change, or, when nobody holds the lock, takes it for
 * itself and hands it over to the next client that asks. */
int ceph_image_meta_get(struct ceph_image *img, const char *key, char *value, size_t value_size);
int ceph_image_meta_set(struct ceph_image *img, const char *key, const char *value);
int ceph_image_meta_remove(struct ceph_image *img, const char *key);

bool ceph_error_is_transient(int r);

/* Small maps kept in the omap of one RADOS object in the pool: the volume
 * index (CEPH_INDEX_OBJECT, volume_index.h) and the header map
 * (CEPH_HEADERS_OBJECT, header_map.h). One entry per key with a short text
 * value. set and remove are one RADOS write each (set creates the object;
 * remove of an absent key or object is 0); get is -ENOENT for an absent
 * key, and -ERANGE when the value does not fit. each() calls fn for every
 * entry whose key starts with prefix ("" for all), in key order,
 * CEPH_INDEX_PAGE per RADOS read, with an empty value for one longer than
 * CEPH_INDEX_VALUE_MAX; a non-zero return from fn stops the walk and is
 * returned. *ret_reads (may be NULL) counts the RADOS reads. A missing
 * object is an empty map. -EINVAL: key empty or too long. */
#define CEPH_INDEX_OBJECT "rbd-luks-agent.index"
#define CEPH_HEADERS_OBJECT "rbd-luks-agent.headers"
#define CEPH_INDEX_KEY_MAX 128
#define CEPH_INDEX_VALUE_MAX 2048
#define CEPH_INDEX_PAGE 1024
typedef int (*ceph_index_fn)(void *opaque, const char *key, const char *value);
int ceph_omap_set(struct ceph_cluster *c, const char *pool, const char *object, const char *key,
                 const char *value);
int ceph_omap_remove(struct ceph_cluster *c, const char *pool, const char *object,
                    const char *key);
int ceph_omap_get(struct ceph_cluster *c, const char *pool, const char *object, const char *key,
                 char *value, size_t size);
int ceph_omap_each(struct ceph_cluster *c, const char *pool, const char *object, const char *prefix,
                  ceph_index_fn fn, void *opaque, size_t *ret_reads);
