/* format_convert: a volume whose image holds plain data (a volume from a
 * Glance image, or any written copy) becomes a LUKS volume with the same
 * bytes, in one pass inside the cluster (format_internal.h).
 *
 *   IMG      the volume's image, plain; its state "converting payload=P
 *            offset=O time=T into=IMG.rbd-luks-agent.new"
 *   IMG.rbd-luks-agent.new    created at payload + offset bytes; the key's
 *            record, the header map entry, state "writing", the header;
 *            then every byte of IMG copied into its payload through
 *            librbd's LUKS layer, read back (after a reopen, from the
 *            OSDs) and compared; state "formatted"
 *   rename IMG -> IMG.rbd-luks-agent.plain, IMG.rbd-luks-agent.new -> IMG
 *   remove IMG.rbd-luks-agent.plain
 *
 * A crash before the first rename leaves IMG as it was (the next attempt
 * removes the unfinished .new and starts again); between the renames, a
 * replay finds no IMG but a finished .new and renames it; after them, a
 * replay finds IMG finished and removes a leftover .plain. Only a .new in
 * state "formatted" has been read back in full, and a .plain exists only
 * after that. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "format_internal.h"
#include "base/log.h"
#include "ceph/ceph.h"
#include "base/secret.h"

#define CONVERT_CHUNK (4u << 20)
#define NEW_SUFFIX ".rbd-luks-agent.new"
#define PLAIN_SUFFIX ".rbd-luks-agent.plain"
#define PROGRESS_EVERY_S 10
/* The volume's image name and the longer suffix. */
#define CONVERT_NAME_MAX (FORMAT_IMAGE_NAME_MAX + 24)

struct convert {
        struct job *j;
        char new_name[CONVERT_NAME_MAX], plain_name[CONVERT_NAME_MAX];
        char volume_image[FORMAT_IMAGE_NAME_MAX];
        struct ceph_image *dst, *src;
        unsigned char (*digests)[SHA256_DIGEST_LENGTH];
        unsigned char *buf;
        uint64_t chunks;
        struct timespec started;
};

static double seconds_since(const struct timespec *t)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void names(struct job *j, char *new_name, size_t new_size, char *plain_name,
                  size_t plain_size)
{
        snprintf(new_name, new_size, "%.*s%s", FORMAT_IMAGE_NAME_MAX - 1, j->image_name, NEW_SUFFIX);
        snprintf(plain_name, plain_size, "%.*s%s", FORMAT_IMAGE_NAME_MAX - 1, j->image_name,
                 PLAIN_SUFFIX);
}

static const char *pool_of(const struct job *j)
{
        return j->ctx->config->pool;
}

/* Ends the job with a Ceph error about image NAME. */
static void end_ceph(struct job *j, const char *what, const char *name, int r)
{
        job_end(j, OUTCOME_FAILED, ceph_error_is_transient(r) || r == -EBUSY,
            "converting: cannot %s %s/%s: %s", what, pool_of(j), name, strerror(-r));
}

static void progress(struct convert *cv, const char *what, uint64_t done, uint64_t total,
                     time_t *last)
{
        double s = seconds_since(&cv->started);

        if (done < total && time(NULL) - *last < PROGRESS_EVERY_S)
                return;
        *last = time(NULL);
        log_info("volume %s: converting: %s %" PRIu64 " of %" PRIu64 " MiB (%u%%), %.1f MiB/s",
                 cv->j->volume_id, what, done >> 20, total >> 20,
                 total ? (unsigned)(done * 100 / total) : 100u,
                 s > 0 ? (double)done / 1048576.0 / s : 0.0);
}

/* The bytes of the chunk at pos (the last one may be short). */
static size_t chunk_at(const struct job *j, uint64_t pos)
{
        return j->payload - pos < CONVERT_CHUNK ? (size_t)(j->payload - pos) : CONVERT_CHUNK;
}

/* The chunk at pos of img (named name) into cv->buf; ends the job on an
 * error, saying what it was reading for. */
static int read_chunk(struct convert *cv, struct ceph_image *img, const char *name,
                      const char *what, uint64_t pos)
{
        int r = ceph_image_read(img, pos, chunk_at(cv->j, pos), cv->buf);

        if (r < 0)
                end_ceph(cv->j, what, name, r);
        return r;
}

/* Every byte of the plain image into dst's payload; a digest of each chunk
 * kept for the read-back. */
static int copy_payload(struct convert *cv)
{
        struct job *j = cv->j;
        time_t last = time(NULL);
        uint64_t pos;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &cv->started);
        for (pos = 0; pos < j->payload; pos += CONVERT_CHUNK) {
                size_t n = chunk_at(j, pos);

                if ((r = read_chunk(cv, j->image, j->image_name, "read", pos)) < 0)
                        return r;
                SHA256(cv->buf, n, cv->digests[pos / CONVERT_CHUNK]);
                r = ceph_image_write(cv->dst, pos, n, cv->buf);
                if (r < 0) {
                        end_ceph(j, "write", cv->new_name, r);
                        return r;
                }
                progress(cv, "copied", pos + n, j->payload, &last);
        }
        r = ceph_image_flush(cv->dst);
        if (r < 0)
                end_ceph(j, "flush", cv->new_name, r);
        return r;
}

/* dst reopened (nothing from this client's cache) and read back through
 * the LUKS layer: each chunk must match what was read from the plain image. */
static int verify_payload(struct convert *cv, const struct secret *passphrase)
{
        struct job *j = cv->j;
        unsigned char digest[SHA256_DIGEST_LENGTH];
        time_t last = time(NULL);
        uint64_t pos, size = 0;
        int r;

        ceph_image_close(cv->dst);
        cv->dst = NULL;
        r = ceph_image_open(j->cluster, pool_of(j), cv->new_name, &cv->dst);
        if (r >= 0)
                r = ceph_image_load_luks(cv->dst, (const char *)passphrase->data, passphrase->len);
        if (r >= 0)
                r = ceph_image_size(cv->dst, &size);
        if (r < 0) {
                end_ceph(j, "reopen, through librbd's LUKS layer,", cv->new_name, r);
                return r;
        }
        if (size != j->payload) {
                job_end(j, OUTCOME_FAILED, false,
                    "converting: %s/%s shows %" PRIu64 " bytes through librbd's LUKS layer, "
                    "not the %" PRIu64 " copied; the plain image is kept",
                    pool_of(j), cv->new_name, size, j->payload);
                return -EIO;
        }
        clock_gettime(CLOCK_MONOTONIC, &cv->started);
        for (pos = 0; pos < j->payload; pos += CONVERT_CHUNK) {
                size_t n = chunk_at(j, pos);

                if ((r = read_chunk(cv, cv->dst, cv->new_name, "read back", pos)) < 0)
                        return r;
                SHA256(cv->buf, n, digest);
                if (memcmp(digest, cv->digests[pos / CONVERT_CHUNK], sizeof(digest)) != 0) {
                        job_end(j, OUTCOME_FAILED, false,
                            "converting: %s/%s does not read back what was copied (bytes %" PRIu64
                            " to %" PRIu64 " differ); the plain image is kept",
                            pool_of(j), cv->new_name, pos, pos + n);
                        return -EIO;
                }
                progress(cv, "read back", pos + n, j->payload, &last);
        }
        return 0;
}

/* The unfinished copy of an earlier attempt, gone; ENOENT is fine. */
static int remove_unfinished(struct job *j, const char *new_name)
{
        int r = ceph_pool_remove(j->cluster, pool_of(j), new_name);

        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                end_ceph(j, "remove the unfinished copy", new_name, r);
                return r;
        }
        log_info("volume %s: removed %s/%s, the unfinished copy of an interrupted conversion",
                 j->volume_id, pool_of(j), new_name);
        return 0;
}

/* The job works on the new image (its writes, state and errors name it),
 * or back on the volume's. */
static void work_on_new(struct convert *cv, bool on_new)
{
        struct job *j = cv->j;

        j->image = on_new ? cv->dst : cv->src;
        /* Both fit: the volume's name is at most 64 + 64 bytes (prefix, id). */
        snprintf(j->image_name, sizeof(j->image_name), "%.*s", FORMAT_IMAGE_NAME_MAX - 1,
                 on_new ? cv->new_name : cv->volume_image);
}

/* The new image with the key's record, the header map entry, state
 * "writing" and the header: as format_blank_image does in place. */
static int make_new_image(struct convert *cv, const struct format_convert_key *key)
{
        struct job *j = cv->j;
        const char *why = NULL;
        int r;

        r = ceph_image_create_like(cv->src, cv->new_name, j->payload + j->offset);
        if (r >= 0)
                r = ceph_image_open(j->cluster, pool_of(j), cv->new_name, &cv->dst);
        if (r < 0) {
                end_ceph(j, "create", cv->new_name, r);
                return r;
        }
        work_on_new(cv, true);
        if (key->new_key &&
            (r = keys_store(j->ctx->keys, j->volume_id, cv->dst, key->record, &why)) < 0)
                job_end_key_error(j, r, why);
        else if ((r = format_map_put_own(j, key->uuid, key->new_key ? key->record->text : NULL)) >= 0 &&
                 (r = job_set_state(j, "writing", NULL)) >= 0)
                r = format_write_header(j, key->header, key->used);
        work_on_new(cv, false);
        return r;
}

void format_convert(struct job *j, const struct format_convert_key *key)
{
        const struct config *c = j->ctx->config;
        struct convert cv = {.j = j, .src = j->image};
        char state[STATE_MAX];
        double copy_s = 0, verify_s = 0;
        int r;

        if ((uint64_t)c->max_convert_gib << 30 < j->payload) {
                job_end(j, OUTCOME_REFUSED, false,
                    "image holds data (%s) and is %" PRIu64 " bytes, more than [volume] "
                    "max_convert_gib = %u GiB allows converting; not formatting, not converting",
                    key->where, j->payload, c->max_convert_gib);
                return;
        }
        names(j, cv.new_name, sizeof(cv.new_name), cv.plain_name, sizeof(cv.plain_name));
        snprintf(cv.volume_image, sizeof(cv.volume_image), "%s", j->image_name);
        cv.chunks = (j->payload + CONVERT_CHUNK - 1) / CONVERT_CHUNK;
        cv.digests = calloc(cv.chunks, sizeof(*cv.digests));
        cv.buf = malloc(CONVERT_CHUNK);
        if (!cv.digests || !cv.buf) {
                job_end(j, OUTCOME_FAILED, true, "converting: out of memory");
                goto out;
        }
        if (remove_unfinished(j, cv.new_name) < 0)
                goto out;
        snprintf(state, sizeof(state), "converting payload=%" PRIu64 " offset=%" PRIu64
                 " time=%lld into=%.120s", j->payload, j->offset, (long long)time(NULL), cv.new_name);
        r = ceph_image_meta_set(j->image, FORMAT_STATE_KEY, state);
        if (r < 0) {
                job_end_ceph_error(j, "cannot record state of", r);
                goto out;
        }
        log_info("volume %s: converting: %s/%s holds data (%s); copying its %" PRIu64
                 " bytes into a new LUKS image %s",
                 j->volume_id, pool_of(j), j->image_name, key->where, j->payload, cv.new_name);
        if (make_new_image(&cv, key) < 0)
                goto failed;
        r = ceph_image_load_luks(cv.dst, (const char *)key->passphrase->data, key->passphrase->len);
        if (r < 0) {
                end_ceph(j, "load librbd's LUKS layer on", cv.new_name, r);
                goto failed;
        }
        if (copy_payload(&cv) < 0)
                goto failed;
        copy_s = seconds_since(&cv.started);
        if (verify_payload(&cv, key->passphrase) < 0)
                goto failed;
        verify_s = seconds_since(&cv.started);
        /* Finished and read back: only now may it take the volume's name. */
        ceph_image_close(cv.dst);
        cv.dst = NULL;
        r = ceph_image_open(j->cluster, pool_of(j), cv.new_name, &cv.dst);
        if (r >= 0) {
                snprintf(state, sizeof(state), "formatted payload=%" PRIu64 " offset=%" PRIu64
                         " uuid=%s time=%lld " FORMAT_CONVERTED_MARK "=%lld", j->payload,
                         j->offset, key->uuid, (long long)time(NULL), (long long)time(NULL));
                r = ceph_image_meta_set(cv.dst, FORMAT_STATE_KEY, state);
                if (r < 0) {
                        end_ceph(j, "record the state of", cv.new_name, r);
                        goto failed;
                }
                ceph_image_close(cv.dst);
                cv.dst = NULL;
        } else {
                end_ceph(j, "reopen", cv.new_name, r);
                goto failed;
        }
        r = ceph_pool_rename(j->cluster, pool_of(j), j->image_name, cv.plain_name);
        if (r < 0) {
                end_ceph(j, "rename the plain image to", cv.plain_name, r);
                goto failed;
        }
        r = ceph_pool_rename(j->cluster, pool_of(j), cv.new_name, j->image_name);
        if (r < 0) {
                /* A replay renames it (format_convert_finish). */
                end_ceph(j, "rename the converted image to", j->image_name, r);
                goto out;
        }
        j->remove_plain = true;
        job_end(j, OUTCOME_CONVERTED, false,
            "converted: %" PRIu64 " bytes of data copied into LUKS1 %s-%s (payload offset %" PRIu64
            ", header %s) through librbd's LUKS layer and read back, %.1f MiB/s copy, %.1f MiB/s "
            "read-back; the plain image is removed",
            j->payload, j->ctx->luks.cipher, j->ctx->luks.cipher_mode, j->offset, key->uuid,
            copy_s > 0 ? (double)j->payload / 1048576.0 / copy_s : 0.0,
            verify_s > 0 ? (double)j->payload / 1048576.0 / verify_s : 0.0);
        j->result->header = FORMAT_HEADER_OURS;
        snprintf(j->result->luks_uuid, sizeof(j->result->luks_uuid), "%s", key->uuid);
        goto out;
failed:
        /* The plain image is as it was; the copy goes (best effort: the
         * next attempt removes it first in any case). */
        ceph_image_close(cv.dst);
        cv.dst = NULL;
        if (ceph_pool_remove(j->cluster, pool_of(j), cv.new_name) < 0)
                log_warn("volume %s: converting failed; %s/%s is left for the next attempt to "
                         "remove", j->volume_id, pool_of(j), cv.new_name);
        (void)ceph_image_meta_remove(j->image, FORMAT_STATE_KEY);
out:
        ceph_image_close(cv.dst);
        if (cv.buf)
                explicit_bzero(cv.buf, CONVERT_CHUNK);
        free(cv.buf);
        free(cv.digests);
}

void format_convert_remove_plain(struct job *j)
{
        char new_name[CONVERT_NAME_MAX], plain_name[CONVERT_NAME_MAX];
        int r;

        names(j, new_name, sizeof(new_name), plain_name, sizeof(plain_name));
        r = ceph_pool_remove(j->cluster, pool_of(j), plain_name);
        if (r >= 0)
                log_info("volume %s: converting: removed the plain image %s/%s", j->volume_id,
                         pool_of(j), plain_name);
        else if (r != -ENOENT)
                log_warn("volume %s: converting: cannot remove the plain image %s/%s (%s); a "
                         "replay of the volume's event removes it",
                         j->volume_id, pool_of(j), plain_name, strerror(-r));
}

bool format_convert_finish(struct job *j)
{
        char new_name[CONVERT_NAME_MAX], plain_name[CONVERT_NAME_MAX];
        char state[STATE_MAX] = "";
        struct ceph_image *img = NULL;
        uint64_t payload, offset;
        int r;

        names(j, new_name, sizeof(new_name), plain_name, sizeof(plain_name));
        r = ceph_image_open(j->cluster, pool_of(j), new_name, &img);
        if (r == -ENOENT)
                return false;
        if (r >= 0)
                r = ceph_image_meta_get(img, FORMAT_STATE_KEY, state, sizeof(state));
        ceph_image_close(img);
        if (r < 0 && r != -ENOENT) {
                end_ceph(j, "read the state of", new_name, r);
                return true;
        }
        if (!job_parse_state(state, "formatted", &payload, &offset)) {
                job_end(j, OUTCOME_FAILED, false,
                    "image %s/%s does not exist; %s/%s, an unfinished conversion's copy, does "
                    "(state \"%s\"): not renaming it", pool_of(j), j->image_name, pool_of(j),
                    new_name, state);
                return true;
        }
        r = ceph_pool_rename(j->cluster, pool_of(j), new_name, j->image_name);
        if (r < 0) {
                end_ceph(j, "rename the converted image to", j->image_name, r);
                return true;
        }
        j->remove_plain = true;
        job_end(j, OUTCOME_CONVERTED, false,
            "converted before an interruption: %s/%s, read back in full, renamed to %s; payload "
            "%" PRIu64 " bytes",
            pool_of(j), new_name, j->image_name, payload);
        j->result->header = FORMAT_HEADER_OURS;
        (void)job_state_uuid(state, j->result->luks_uuid);
        return true;
}
