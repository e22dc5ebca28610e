/* provider_metadata: the "metadata" provider. The agent generates each volume's
 * key and keeps it with the volume: wrapped with the current KEK
 * (keywrap.h) in the image's metadata under KEYS_METADATA_KEY. The record is
 * written before any LUKS header, so no header can exist whose key was
 * lost; a replay finds the record and reuses the key (keys.h). */
#include "keys_provider.h"

#include <errno.h>
#include <string.h>

#include "ceph/ceph.h"
#include "base/reason.h"

int keys_read_record(struct ceph_image *image, char *record, size_t size)
{
        return ceph_image_meta_get(image, KEYS_METADATA_KEY, record, size);
}

static int read_record(struct ceph_image *image, const char *volume_id, char *record,
                       size_t size, const char **ret_reason)
{
        int r;

        if (!image)
                return reason_set(-EINVAL, ret_reason, "metadata provider needs the image");
        r = keys_read_record(image, record, size);
        if (r == -ENOENT)
                return reason_format(r, ret_reason, "no wrapped key in the metadata of volume %s",
                                     volume_id);
        if (r == -ERANGE)
                return reason_format(-EBADMSG, ret_reason,
                                     "wrapped key record of volume %s is longer than %d bytes",
                                     volume_id, KEYWRAP_RECORD_MAX - 1);
        if (r < 0)
                return reason_format(r, ret_reason, "cannot read the key record of volume %s: %s",
                                     volume_id, strerror(-r));
        return 0;
}

static int metadata_lookup(struct keys *k, const char *volume_id, struct ceph_image *image,
                           struct secret **ret_key, const char **ret_reason)
{
        char record[KEYWRAP_RECORD_MAX];
        int r = read_record(image, volume_id, record, sizeof(record), ret_reason);

        if (r < 0)
                return r;
        return keywrap_open(k->keks, k->n_keks, volume_id, record, ret_key, ret_reason);
}

static int store_record(struct ceph_image *image, const char *volume_id, const char *record,
                        const char **ret_reason)
{
        int r = ceph_image_meta_set(image, KEYS_METADATA_KEY, record);

        if (r < 0)
                return reason_format(r, ret_reason, "cannot store the key record of volume %s: %s",
                                     volume_id, strerror(-r));
        return 0;
}

/* A key and its sealed record, nothing stored: the caller stores it with
 * metadata_store once lookup has said -ENOENT, under its image lock, so a
 * second key for one image can never be made. */
static int metadata_generate(struct keys *k, const char *volume_id, struct secret **ret_key,
                             struct keys_record *ret_record, const char **ret_reason)
{
        struct secret *key = NULL;
        int r;

        r = keywrap_generate_key(&key);
        if (r < 0)
                return reason_format(r, ret_reason, "cannot generate a key: %s", strerror(-r));
        r = keywrap_seal(k->keks[0], volume_id, key, ret_record->text, sizeof(ret_record->text),
                         ret_reason);
        if (r < 0) {
                secret_free(key);
                return r;
        }
        *ret_key = key;
        return 0;
}

static int metadata_store(struct keys *k, const char *volume_id, struct ceph_image *image,
                          const struct keys_record *record, const char **ret_reason)
{
        (void)k;
        if (!image)
                return reason_set(-EINVAL, ret_reason, "metadata provider needs the image");
        return store_record(image, volume_id, record->text, ret_reason);
}

int keys_rewrap_record(struct keys *k, const char *volume_id, const char *record, bool dry_run,
                       struct keys_record *ret_record, bool *ret_changed, const char **ret_reason)
{
        struct keywrap_info info;
        struct secret *key = NULL;
        int r;

        if (!keys_stored_in_image(k))
                return reason_set(-EOPNOTSUPP, ret_reason, "only the metadata provider wraps keys");
        r = keywrap_parse(record, &info, ret_reason);
        if (r >= 0)
                r = keywrap_open(k->keks, k->n_keks, volume_id, record, &key, ret_reason);
        if (r < 0)
                return r;
        *ret_changed = strcmp(info.kek_id, k->keks[0]->id) != 0;
        if (*ret_changed && !dry_run)
                r = keywrap_seal(k->keks[0], volume_id, key, ret_record->text,
                                 sizeof(ret_record->text), ret_reason);
        secret_free(key);
        return r;
}

int keys_rewrap(struct keys *k, const char *volume_id, struct ceph_image *image, bool dry_run,
                bool *ret_changed, const char **ret_reason)
{
        char record[KEYWRAP_RECORD_MAX];
        struct keys_record fresh;
        struct secret *key = NULL, *again = NULL;
        int r;

        if (!keys_stored_in_image(k))
                return reason_set(-EOPNOTSUPP, ret_reason, "only the metadata provider wraps keys");
        r = read_record(image, volume_id, record, sizeof(record), ret_reason);
        if (r >= 0)
                r = keys_rewrap_record(k, volume_id, record, dry_run, &fresh, ret_changed,
                                       ret_reason);
        if (r < 0 || !*ret_changed || dry_run)
                return r;
        r = keywrap_open(k->keks, k->n_keks, volume_id, record, &key, ret_reason);
        if (r >= 0)
                r = store_record(image, volume_id, fresh.text, ret_reason);
        /* Read back what Ceph holds now: it must give the same key. */
        if (r >= 0)
                r = metadata_lookup(k, volume_id, image, &again, ret_reason);
        if (r >= 0 && !secret_equal(key, again))
                r = reason_format(-EIO, ret_reason, "re-wrapped key of volume %s reads back wrong",
                                  volume_id);
        secret_free(again);
        secret_free(key);
        return r;
}

int keys_record_opens(struct keys *k, const char *volume_id, const char *record,
                      const char **ret_reason)
{
        struct secret *key = NULL;
        int r;

        if (!keys_stored_in_image(k))
                return reason_set(-EOPNOTSUPP, ret_reason, "only the metadata provider wraps keys");
        r = keywrap_open(k->keks, k->n_keks, volume_id, record, &key, ret_reason);
        secret_free(key);
        return r;
}

int keys_rebind(struct keys *k, const char *from_volume_id, const char *record,
                const char *volume_id, struct keys_record *ret_record, const char **ret_reason)
{
        struct secret *key = NULL;
        int r;

        if (!keys_stored_in_image(k))
                return reason_set(-EOPNOTSUPP, ret_reason, "only the metadata provider wraps keys");
        r = keywrap_open(k->keks, k->n_keks, from_volume_id, record, &key, ret_reason);
        if (r >= 0)
                r = keywrap_seal(k->keks[0], volume_id, key, ret_record->text,
                                 sizeof(ret_record->text), ret_reason);
        secret_free(key);
        return r;
}

/* The current KEK first: it wraps; all of them unwrap. */
static int metadata_open(struct keys *k, const char **ret_reason)
{
        const struct config *c = k->config;
        int r;

        r = keywrap_load_kek(c->kek_id, c->kek_file, &k->keks[0], ret_reason);
        if (r < 0)
                return r;
        k->n_keks = 1;
        for (size_t i = 0; i < c->n_old_keks; i++) {
                r = keywrap_load_kek(c->old_kek_ids[i], c->old_kek_files[i], &k->keks[i + 1],
                                     ret_reason);
                if (r < 0)
                        return r;
                k->n_keks++;
        }
        return 0;
}

static void metadata_close(struct keys *k)
{
        for (size_t i = 0; i < k->n_keks; i++)
                keywrap_kek_free(k->keks[i]);
        k->n_keks = 0;
}

const struct keys_provider keys_provider_metadata = {
        .name = "metadata",
        .lookup = metadata_lookup,
        .generate = metadata_generate,
        .store = metadata_store,
        .open = metadata_open,
        .close = metadata_close,
};
