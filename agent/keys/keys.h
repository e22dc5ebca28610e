/* keys: where a volume's key comes from — the callers' side (the roles,
 * the commands). The providers' interface is keys_provider.h; no caller
 * asks which provider is active, only what it can do (keys_can_generate,
 * keys_stored_in_image).
 *
 * A provider looks a key up by volume id and, when it can, generates and
 * stores a new one (the metadata provider does; the file and command
 * providers only look up). Keys are raw bytes in a
 * struct secret; the LUKS passphrase is their lowercase hex (secret.h).
 * Errors: -ENOENT no key for this volume yet (may appear later: retryable),
 * -EOPNOTSUPP provider cannot generate, -EBADMSG key of a size outside
 * KEYS_MIN_BYTES..KEYS_MAX_BYTES (or a key file that changed size while
 * read), -EPERM key file with group/other permission bits, -ELOOP key file
 * is a symbolic link, -EINVAL volume id not a UUID or key file not a
 * regular file, -ETIMEDOUT command too slow, -EIO command failed
 * or could not be started. *ret_reason, when not NULL, gets a static or
 * thread-local description fit for a log, valid until the thread's next
 * keys_* call. */
#pragma once

#include <stdbool.h>

#include "config/config.h"
#include "keywrap.h"
#include "base/secret.h"

struct ceph_image;

/* Image metadata key of the metadata provider's wrapped key record. */
#define KEYS_METADATA_KEY "rbd-luks-agent.key"

#define KEYS_MIN_BYTES 16
#define KEYS_MAX_BYTES 64
#define KEYS_COMMAND_STDERR_MAX 512

struct keys;

/* Sets up the configured provider (the metadata provider loads its KEKs,
 * failing as keywrap_load_kek() does). */
int keys_open(const struct config *c, struct keys **ret, const char **ret_reason);
void keys_close(struct keys *k);

const char *keys_provider_name(const struct keys *k);

/* Whether the provider keeps each volume's key in the volume's own image
 * (its wrapped record in the image metadata, KEYS_METADATA_KEY: the
 * metadata provider). Then keys_lookup needs the image, keys_read_record
 * finds the record, and keys_rewrap, keys_rewrap_record, keys_record_opens
 * and keys_rebind work; otherwise they return -EOPNOTSUPP and the image
 * holds no key of the agent's. */
bool keys_stored_in_image(const struct keys *k);

/* Whether a keys_* error may pass by waiting, whatever the provider, so the
 * caller retries under [retry] instead of ending as failed: -ETIMEDOUT and
 * -EIO (a key command too slow or failed; a Ceph read of the record),
 * -EAGAIN, -ENOMEM (locked memory is a budget other threads give back) and
 * -ESHUTDOWN (a blocklisted Ceph client: the caller connects anew). It is
 * the union of what the volume and compute roles each retried.
 * -ENOENT is not here: whether a missing key may still appear depends on
 * who makes it (keys_can_generate) and on which call failed, which only
 * the caller knows. Everything else (a bad key, a record that does not
 * open, an unknown KEK) will not pass. */
bool keys_error_is_transient(int r);

/* image: the volume's image, open and locked by the caller; providers that
 * keep keys elsewhere ignore it (it may be NULL for them). */
int keys_lookup(struct keys *k, const char *volume_id, struct ceph_image *image,
                struct secret **ret_key, const char **ret_reason);

/* A new key in two steps, for a caller that works with it (the format path
 * derives the LUKS key slot) before it knows it will keep it (while the
 * image is still being checked for data): keys_generate draws the key and
 * makes its record in memory, storing nothing; keys_store stores that
 * record under the caller's image lock. -EOPNOTSUPP from a provider that
 * cannot generate (keys_can_generate). */
struct keys_record {
        char text[KEYWRAP_RECORD_MAX];
};
bool keys_can_generate(const struct keys *k);
int keys_generate(struct keys *k, const char *volume_id, struct secret **ret_key,
                  struct keys_record *ret_record, const char **ret_reason);
int keys_store(struct keys *k, const char *volume_id, struct ceph_image *image,
               const struct keys_record *record, const char **ret_reason);

/* Metadata provider: re-wraps the image's key record with the current KEK
 * when another KEK wrapped it (*ret_changed), in one metadata write, then
 * reads it back to check it opens. dry_run only reports. The caller holds
 * the image's record lock (ceph_image_record_lock), so that no other writer
 * comes between the read and the write. -ENOENT: no record; -EOPNOTSUPP:
 * not the metadata provider. */
int keys_rewrap(struct keys *k, const char *volume_id, struct ceph_image *image, bool dry_run,
                bool *ret_changed, const char **ret_reason);

/* Metadata provider: record (sealed for volume_id) sealed again with the
 * current KEK into *ret_record when another KEK wrapped it (*ret_changed;
 * with dry_run only reported). Nothing stored: for the copies the header
 * map keeps (header_map.h). */
int keys_rewrap_record(struct keys *k, const char *volume_id, const char *record, bool dry_run,
                       struct keys_record *ret_record, bool *ret_changed, const char **ret_reason);
/* Metadata provider: 0 when record opens for volume_id; keywrap_open's
 * errors otherwise. */
int keys_record_opens(struct keys *k, const char *volume_id, const char *record,
                      const char **ret_reason);
/* Metadata provider: the key that record (as stored for from_volume_id)
 * wraps, sealed again for volume_id with the current KEK into
 * *ret_record; nothing stored (keys_store does). For a header copied from
 * another volume (header_map.h). -EOPNOTSUPP: not the metadata provider;
 * record errors as keywrap_open's. */
int keys_rebind(struct keys *k, const char *from_volume_id, const char *record,
                const char *volume_id, struct keys_record *ret_record, const char **ret_reason);
/* The image's key record as stored (metadata provider); -ENOENT if none. */
int keys_read_record(struct ceph_image *image, char *record, size_t size);
