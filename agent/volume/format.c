/* format: one volume from "new raw image" to "LUKS1 image" (format.h):
 * the image opened, a finished header decided without a lock, the lock,
 * what the image holds read, and on a blank image the write order (the
 * key's record, the header map entry, state `writing`, the image grown,
 * the key slots, the first 4 KiB, state `formatted`). The decisions on
 * what was read are format_decide.c's, the key format_key.c's, the shared
 * context and client format_context.c's, an extend format_extend.c's
 * (format_internal.h: what they share). */
#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "records/lockcookie.h"
#include "base/log.h"
#include "format_internal.h"
#include "luks/luks.h"
#include "ceph/ceph.h"
#include "base/secret.h"

#define LOCK_WAIT_REPORT_S 2

void job_end_ceph_error(struct job *j, const char *what, int r)
{
        /* Blocklisted (e.g. after `rbd lock break`): only a new client helps. */
        if (r == -ESHUTDOWN)
                j->retire_client = true;
        job_end(j, OUTCOME_FAILED, ceph_error_is_transient(r), "%s %s/%s: %s", what,
            j->ctx->config->pool, j->image_name, strerror(-r));
}

/* ---- the advisory lock ------------------------------------------------ */

static int take_lock(struct job *j, char *cookie, size_t size)
{
        char holder[LOCKCOOKIE_MAX];
        time_t started;
        int r;

        lockcookie_make(&j->ctx->lock_owner, cookie, size);
        started = time(NULL);
        r = ceph_image_lock(j->image, cookie, holder, sizeof(holder));
        /* librbd waits, inside the call, for a dead holder's watch to time
         * out (30 s by default): say so, or the agent looks frozen. */
        if (time(NULL) - started >= LOCK_WAIT_REPORT_S)
                log_info("volume %s: waited %lld s for the lock on %s/%s (a previous holder had "
                         "died; its lock went when its watch timed out)",
                         j->volume_id, (long long)(time(NULL) - started), j->ctx->config->pool,
                         j->image_name);
        if (r == -EBUSY &&
            lockcookie_is_stale(&j->ctx->lock_owner, holder, j->ctx->config->lock_stale_after_s)) {
                log_warn("volume %s: breaking stale lock on %s/%s held by \"%s\"", j->volume_id,
                         j->ctx->config->pool, j->image_name, holder);
                r = ceph_image_break_lock(j->image, holder);
                if (r >= 0 || r == -ENOENT)
                        r = ceph_image_lock(j->image, cookie, holder, sizeof(holder));
        }
        if (r == -EBUSY) {
                job_end(j, OUTCOME_FAILED, true, "image %s/%s is locked by \"%s\"",
                    j->ctx->config->pool, j->image_name, holder);
        } else if (r == -EINVAL || r == -EEXIST) {
                /* librbd refuses to break a lock this very client holds,
                 * left from an attempt whose unlock failed. */
                j->retire_client = true;
                job_end(j, OUTCOME_FAILED, true,
                    "image %s/%s is locked by this agent's own Ceph client (an earlier attempt "
                    "could not unlock it); retrying with a new client",
                    j->ctx->config->pool, j->image_name);
        } else if (r < 0) {
                job_end_ceph_error(j, "cannot lock", r);
        }
        return r;
}

/* ---- reading what the image holds ----------------------------------- */

/* j->state and j->has_state from the image's metadata; a missing state
 * is no error. */
static int read_state(struct job *j)
{
        int r = ceph_image_meta_get(j->image, FORMAT_STATE_KEY, j->state, sizeof(j->state));

        j->has_state = r >= 0;
        return r == -ENOENT ? 0 : r;
}

/* Reads size, state and the first bytes; computes offset. */
static int inspect(struct job *j)
{
        struct format_context *ctx = j->ctx;
        uint64_t object_size;
        int r;

        r = ceph_image_size(j->image, &j->size);
        if (r >= 0)
                r = ceph_image_object_size(j->image, &object_size);
        if (r >= 0)
                r = luks_payload_offset(&ctx->luks, object_size < PHDR_BLOCK ? PHDR_BLOCK
                                                                               : object_size,
                                        &j->offset);
        if (r < 0) {
                job_end_ceph_error(j, "cannot inspect", r);
                return r;
        }
        j->probe = calloc(1, j->offset);
        if (!j->probe)
                return -ENOMEM;
        r = ceph_image_read(j->image, 0, j->size < j->offset ? j->size : j->offset, j->probe);
        if (r >= 0)
                r = read_state(j);
        if (r < 0)
                job_end_ceph_error(j, "cannot read", r);
        return r;
}

/* The allocated-extent check (ceph_image_has_data: the object map in one
 * RADOS read when it can vouch for the image, else librbd's walk of every
 * object, 353 ms at 4 TiB, docs/performance.md) on a thread of its own,
 * while this worker derives the key slot. Nothing is
 * stored or written before it has said the image is blank. */
struct data_check {
        struct ceph_image *image;
        uint64_t from, at;
        bool data, threaded;
        int r;
        pthread_t thread;
};

static void *data_check_run(void *arg)
{
        struct data_check *c = arg;

        c->r = ceph_image_has_data(c->image, c->from, &c->data, &c->at);
        return NULL;
}

static void data_check_start(struct data_check *c)
{
        c->threaded = pthread_create(&c->thread, NULL, data_check_run, c) == 0;
        if (!c->threaded)
                data_check_run(c);
}

/* 0: no allocated extent, or one and conversion is on (j->convert).
 * -1: refused or failed, which overrides whatever the key or header step
 * ended with (data found is what matters most). */
static int data_check_finish(struct job *j, struct data_check *c)
{
        if (c->threaded)
                pthread_join(c->thread, NULL);
        if (c->r < 0) {
                job_end_ceph_error(j, "cannot list allocated extents of", c->r);
                return -1;
        }
        if (c->data) {
                char what[64];

                snprintf(what, sizeof(what), "allocated extent at offset %" PRIu64, c->at);
                return format_data_found(j, "an", what);
        }
        return 0;
}

/* ---- writing ---------------------------------------------------------- */

int job_set_state(struct job *j, const char *word, const char *uuid)
{
        char state[STATE_MAX];
        int r;

        snprintf(state, sizeof(state), "%s payload=%" PRIu64 " offset=%" PRIu64 "%s%s time=%lld",
                 word, j->payload, j->offset, uuid ? " uuid=" : "", uuid ? uuid : "",
                 (long long)time(NULL));
        r = ceph_image_meta_set(j->image, FORMAT_STATE_KEY, state);
        if (r < 0)
                job_end_ceph_error(j, "cannot record state of", r);
        return r;
}

/* Already LUKS (head: the image's first len bytes): finish our own
 * interrupted format, or decide_finished_header. */
static void decide_existing_header(struct job *j, const unsigned char *head, size_t len)
{
        uint64_t payload, offset;
        unsigned version = 0;
        char uuid[40] = "";
        char state[STATE_MAX];
        int r;

        luks_has_magic(head, len, &version);
        if (!(j->has_state && job_parse_state(j->state, "writing", &payload, &offset))) {
                format_decide_finished_header(j, head, len, version);
                return;
        }
        /* Our header went out, the final state did not: record it now. */
        (void)luks_header_uuid(head, len, uuid);
        if (uuid[0] && format_map_put_own(j, uuid, NULL) < 0)
                return;
        snprintf(state, sizeof(state), "formatted payload=%" PRIu64 " offset=%" PRIu64
                 " uuid=%s time=%lld", payload, offset, uuid, (long long)time(NULL));
        r = ceph_image_meta_set(j->image, FORMAT_STATE_KEY, state);
        if (r < 0) {
                job_end_ceph_error(j, "cannot record state of", r);
                return;
        }
        job_end(j, OUTCOME_FORMATTED, false,
            "LUKS1 header had been written before an interruption; state recorded");
        j->result->header = FORMAT_HEADER_OURS;
        memcpy(j->result->luks_uuid, uuid, sizeof(j->result->luks_uuid));
}

/* Keyslots first, then the 4 KiB holding the magic: until the last write
 * lands, the image does not look like LUKS to anyone. */
int format_write_header(struct job *j, const unsigned char *header, size_t used)
{
        int r;

        r = ceph_image_write(j->image, PHDR_BLOCK, used - PHDR_BLOCK, header + PHDR_BLOCK);
        if (r >= 0)
                r = ceph_image_flush(j->image);
        if (r >= 0)
                r = ceph_image_write(j->image, 0, PHDR_BLOCK, header);
        if (r >= 0)
                r = ceph_image_flush(j->image);
        if (r < 0)
                job_end_ceph_error(j, "cannot write header to", r);
        return r;
}

/* Locked memory is one budget per process (RLIMIT_MEMLOCK) that other
 * workers give back when their format ends: running out is worth a retry,
 * and the reason names the limit. */
static void end_header_error(struct job *j, int r)
{
        size_t limit = secret_lock_limit();

        if (r == -ENOMEM && limit != SIZE_MAX)
                job_end(j, OUTCOME_FAILED, true,
                    "cannot build LUKS header: no locked memory left for key material "
                    "(RLIMIT_MEMLOCK %zu KiB, shared by all workers)",
                    limit / 1024);
        else
                job_end(j, OUTCOME_FAILED, r == -ENOMEM, "cannot build LUKS header: %s",
                    strerror(-r));
}

/* Key, header (PBKDF2) and the allocated-extent check side by side; then,
 * on a blank image only, the new key's record, the state and the writes. */
static void format_blank_image(struct job *j)
{
        struct format_context *ctx = j->ctx;
        struct data_check check = {.image = j->image, .from = j->check_from};
        struct secret *passphrase = NULL;
        struct keys_record record;
        unsigned char *header = NULL;
        const char *why = NULL;
        char uuid[40] = "";
        bool new_key = false;
        size_t used = 0;
        int r;

        if (!j->convert)
                data_check_start(&check);
        r = format_get_passphrase(j, &passphrase, &record, &new_key);
        if (r >= 0) {
                r = luks_build_header(&ctx->luks, j->offset, passphrase, &header, &used);
                if (r < 0)
                        end_header_error(j, r);
        }
        if (r >= 0 && j->resume_in_header) {
                const unsigned char *nonzero =
                        used < j->offset
                                ? format_first_nonzero(j->probe + used, j->offset - used)
                                : NULL;

                if (nonzero) {
                        job_end(j, OUTCOME_REFUSED, false,
                            "interrupted format state \"%s\", but the image holds data at offset "
                            "%td, past the key-slot areas this agent writes (they end at %zu); "
                            "not formatting",
                            j->state, nonzero - j->probe, used);
                        r = -EEXIST;
                }
        }
        if ((!j->convert && data_check_finish(j, &check) < 0) || r < 0)
                goto out;
        if (j->convert) {
                struct format_convert_key key = {passphrase, &record, new_key, header, used,
                                                 uuid, j->convert_where};

                (void)luks_header_uuid(header, j->offset, uuid);
                format_convert(j, &key);
                goto out;
        }
        /* The record goes out before any header byte (a replay finds it). */
        if (new_key && (r = keys_store(ctx->keys, j->volume_id, j->image, &record, &why)) < 0) {
                job_end_key_error(j, r, why);
                goto out;
        }
        (void)luks_header_uuid(header, j->offset, uuid);
        /* In the header map before the header exists: every copy of it can
         * find its key (header_map.h). */
        if (format_map_put_own(j, uuid, new_key ? record.text : NULL) < 0)
                goto out;
        if (!j->has_state && job_set_state(j, "writing", NULL) < 0)
                goto out;
        if (j->size != j->payload + j->offset) {
                r = ceph_image_resize(j->image, j->payload + j->offset);
                if (r < 0) {
                        job_end_ceph_error(j, "cannot grow", r);
                        goto out;
                }
        }
        if (format_write_header(j, header, used) < 0 || job_set_state(j, "formatted", uuid) < 0)
                goto out;
        job_end(j, OUTCOME_FORMATTED, false,
            "LUKS1 %s-%s %u-bit key, %u PBKDF2 iterations, payload offset %" PRIu64
            ", image grown to %" PRIu64 " bytes",
            ctx->luks.cipher, ctx->luks.cipher_mode, ctx->luks.key_bytes * 8,
            ctx->luks.iterations, j->offset, j->payload + j->offset);
        j->result->header = FORMAT_HEADER_OURS;
        memcpy(j->result->luks_uuid, uuid, sizeof(j->result->luks_uuid));
out:
        free(header);
        secret_free(passphrase);
}

/* j->size, the state, and the first PHDR_BLOCK bytes into head when the
 * image has that many; reads only, no lock. false (ended) on an error. */
bool format_peek(struct job *j, unsigned char head[PHDR_BLOCK])
{
        int r = ceph_image_size(j->image, &j->size);

        if (r >= 0 && j->size >= PHDR_BLOCK)
                r = ceph_image_read(j->image, 0, PHDR_BLOCK, head);
        if (r >= 0)
                r = read_state(j);
        if (r < 0)
                job_end_ceph_error(j, "cannot read", r);
        return r >= 0;
}

/* A header that is there for good (ours and finished, or not ours) is
 * decided from reads alone, before any lock: a replayed event for a volume
 * a guest is using must not take librbd's exclusive lock from its qemu,
 * whose writes would fail (EROFS) until it got the lock back. Only an image
 * that may still be written (blank, or our interrupted format) is locked.
 * true when decided (or failed). */
static bool decided_unlocked(struct job *j)
{
        unsigned char head[PHDR_BLOCK];
        uint64_t payload, offset;

        if (!format_peek(j, head))
                return true;
        if (j->size < sizeof(head) || !luks_has_magic(head, sizeof(head), NULL) ||
            (j->has_state && job_parse_state(j->state, "writing", &payload, &offset)))
                return false;
        decide_existing_header(j, head, sizeof(head));
        return true;
}

/* The ending when the image cannot be opened (r). */
void format_open_failed(struct job *j, int r)
{
        if (r == -ENOENT)
                job_end(j, OUTCOME_FAILED, false, "image %s/%s does not exist",
                    j->ctx->config->pool, j->image_name);
        else
                job_end_ceph_error(j, "cannot open", r);
}

static void format_open_image(struct job *j, struct ceph_cluster *cluster, uint64_t size_bytes)
{
        const struct config *c = j->ctx->config;
        char cookie[LOCKCOOKIE_MAX];
        bool locked = false;
        int r;

        j->cluster = cluster;
        j->requested = size_bytes;
        r = ceph_image_open(cluster, c->pool, j->image_name, &j->image);
        /* No image: perhaps a conversion stopped between its renames. */
        if (r == -ENOENT && format_convert_finish(j))
                goto plain;
        if (r < 0) {
                format_open_failed(j, r);
                return;
        }
        if (decided_unlocked(j)) {
                /* Ours, finished, and converted: its plain image may be left. */
                j->remove_plain = j->result->header == FORMAT_HEADER_OURS &&
                                  j->result->outcome == OUTCOME_SKIPPED &&
                                  strstr(j->state, " " FORMAT_CONVERTED_MARK "=");
                goto out;
        }
        if (take_lock(j, cookie, sizeof(cookie)) < 0)
                goto out;
        locked = true;
        if (inspect(j) < 0) {
                if (!j->result->reason[0])
                        job_end(j, OUTCOME_FAILED, false, "out of memory");
                goto out;
        }
        if (luks_has_magic(j->probe, j->offset, NULL))
                decide_existing_header(j, j->probe, j->offset);
        else if (format_decide_blank_image(j, size_bytes) == 0)
                format_blank_image(j);
out:
        if (locked && (r = ceph_image_unlock(j->image, cookie)) < 0) {
                log_warn("volume %s: cannot unlock %s/%s: %s", j->volume_id, c->pool,
                         j->image_name, strerror(-r));
                j->retire_client = true;
        }
        free(j->probe);
        ceph_image_close(j->image);
plain:
        if (j->remove_plain)
                format_convert_remove_plain(j);
}

bool format_job_begin(struct job *j, struct format_context *ctx, const char *volume_id,
                      struct format_result *ret, struct client **ret_client)
{
        int r;

        *j = (struct job){.ctx = ctx, .volume_id = volume_id, .result = ret};
        *ret = (struct format_result){.outcome = OUTCOME_FAILED};
        snprintf(j->image_name, sizeof(j->image_name), "%s%s", ctx->config->image_prefix,
                 volume_id);
        r = format_client_acquire(ctx, ret_client);
        if (r < 0) {
                job_end(j, OUTCOME_FAILED, true, "cannot connect to Ceph as client.%s: %s",
                    ctx->config->ceph_client, strerror(-r));
                return false;
        }
        return true;
}

void format_volume(struct format_context *ctx, const char *volume_id, uint64_t size_bytes,
                   struct format_result *ret)
{
        struct client *client;
        struct job j;

        if (!format_job_begin(&j, ctx, volume_id, ret, &client))
                return;
        format_open_image(&j, client->cluster, size_bytes);
        format_client_release(ctx, client, j.retire_client);
}
