/* format: one volume from "new raw image" to "LUKS1 image" (format.h). */
#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
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
#include "records/volume_index.h"
#include "base/secret.h"

#define FORMAT_FAST_KDF_MIN_KEY_BYTES 32u
#define LOCK_WAIT_REPORT_S 2

void job_end(struct job *j, enum outcome o, bool transient, const char *fmt, ...)
{
        va_list ap;

        j->result->outcome = o;
        j->result->transient = transient;
        va_start(ap, fmt);
        vsnprintf(j->result->reason, sizeof(j->result->reason), fmt, ap);
        va_end(ap);
}

void job_end_ceph_error(struct job *j, const char *what, int r)
{
        /* Blocklisted (e.g. after `rbd lock break`): only a new client helps. */
        if (r == -ESHUTDOWN)
                j->retire_client = true;
        job_end(j, OUTCOME_FAILED, ceph_error_is_transient(r), "%s %s/%s: %s", what,
            j->ctx->config->pool, j->image_name, strerror(-r));
}

int format_context_new(const struct config *c, struct keys *keys, struct format_context **ret)
{
        struct format_context *ctx;
        int r;

        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->config = c;
        ctx->keys = keys;
        ctx->luks = (struct luks_params){
                .cipher = c->cipher,
                .cipher_mode = c->cipher_mode,
                .key_bytes = c->key_bits / 8,
                .hash = c->hash,
                .iterations = c->iterations,
        };
        if (!ctx->luks.iterations) {
                r = luks_calibrate(c->hash, ctx->luks.key_bytes, c->iter_time_ms,
                                   &ctx->luks.iterations);
                if (r < 0) {
                        free(ctx);
                        return r;
                }
        }
        /* The agent writes key slot 0 itself where it can, once keyslot.c
         * has agreed with libcryptsetup on this host (a few ms). */
        ctx->luks.own_keyslot =
                !c->keyslot_by_libcryptsetup && luks_own_keyslot_supported(&ctx->luks);
        if (ctx->luks.own_keyslot) {
                ctx->keyslot_self_test = luks_self_test();
                ctx->luks.own_keyslot = ctx->keyslot_self_test == 0;
        }
        r = lockcookie_owner_init(&ctx->lock_owner);
        if (r < 0) {
                free(ctx);
                return r;
        }
        pthread_mutex_init(&ctx->connect_lock, NULL);
        *ret = ctx;
        return 0;
}

void format_context_free(struct format_context *ctx)
{
        if (!ctx)
                return;
        if (ctx->client)
                ceph_cluster_disconnect(ctx->client->cluster);
        free(ctx->client);
        pthread_mutex_destroy(&ctx->connect_lock);
        free(ctx);
}

unsigned format_context_iterations(const struct format_context *ctx)
{
        return ctx->luks.iterations;
}

int format_context_keyslot_writer(const struct format_context *ctx, const char **ret_why)
{
        if (ctx->luks.own_keyslot) {
                *ret_why = "self-test against libcryptsetup passed";
                return 1;
        }
        if (ctx->keyslot_self_test < 0) {
                *ret_why = "the agent's key-slot writer failed its self-test against libcryptsetup";
                return ctx->keyslot_self_test;
        }
        *ret_why = ctx->config->keyslot_by_libcryptsetup
                           ? "keyslot_writer = libcryptsetup"
                           : "the agent's key-slot writer handles aes-xts-plain64 with sha256 only";
        return 0;
}

static int acquire_client(struct format_context *ctx, struct client **ret)
{
        const struct config *c = ctx->config;
        struct ceph_connect_params p = {c->ceph_conf, c->ceph_client, c->ceph_keyring,
                                       c->ceph_timeout_s};
        struct client *fresh;
        int r = 0;

        pthread_mutex_lock(&ctx->connect_lock);
        if (!ctx->client) {
                fresh = calloc(1, sizeof(*fresh));
                r = fresh ? ceph_cluster_connect(&p, &fresh->cluster) : -ENOMEM;
                if (r < 0)
                        free(fresh);
                else
                        ctx->client = fresh;
        }
        if (r >= 0) {
                ctx->client->users++;
                *ret = ctx->client;
        }
        pthread_mutex_unlock(&ctx->connect_lock);
        return r;
}

static void release_client(struct format_context *ctx, struct client *client, bool retire)
{
        pthread_mutex_lock(&ctx->connect_lock);
        if (retire && ctx->client == client) {
                log_warn("retiring this agent's Ceph client; the next format connects anew");
                ctx->client = NULL;
        }
        if (--client->users == 0 && ctx->client != client) {
                ceph_cluster_disconnect(client->cluster);
                free(client);
        }
        pthread_mutex_unlock(&ctx->connect_lock);
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

/* ---- deciding --------------------------------------------------------- */

bool job_state_uuid(const char *state, char ret[40])
{
        const char *at = strstr(state, " uuid=");
        size_t n;

        if (!at)
                return false;
        at += strlen(" uuid=");
        n = strcspn(at, " ");
        if (n == 0 || n >= 40)
                return false;
        memcpy(ret, at, n);
        ret[n] = '\0';
        return true;
}

bool job_parse_state(const char *state, const char *word, uint64_t *payload,
                     uint64_t *offset)
{
        char fmt[64];

        snprintf(fmt, sizeof(fmt), "%s payload=%%" SCNu64 " offset=%%" SCNu64, word);
        return sscanf(state, fmt, payload, offset) == 2;
}

static const unsigned char *first_nonzero(const unsigned char *buf, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (buf[i])
                        return buf + i;
        return NULL;
}

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

/* The image holds data (what, for reasons): converted (j->convert, 0),
 * or refused when conversion is off (-1, ended). */
static int data_found(struct job *j, const char *article, const char *what)
{
        if (!j->ctx->config->max_convert_gib) {
                job_end(j, OUTCOME_REFUSED, false,
                    "image holds data (%s); not formatting (conversion is off: [volume] "
                    "max_convert_gib = 0)",
                    what);
                return -1;
        }
        j->convert = true;
        snprintf(j->convert_where, sizeof(j->convert_where), "%s %s", article, what);
        return 0;
}

/* No header yet: may we write one? Sets j->payload and j->check_from.
 * 0 yes, as far as sizes, state and the header area tell (the allocated
 * extents are checked by format_blank_image); -1 decided. */
static int decide_blank_image(struct job *j, uint64_t requested)
{
        uint64_t payload, offset, from = 0;
        const unsigned char *nonzero;

        if (j->has_state && job_parse_state(j->state, "writing", &payload, &offset)) {
                /* Resuming our own format: the header area may hold our
                 * partial write; nothing else may. */
                if (offset != j->offset || (j->size != payload && j->size != payload + offset)) {
                        job_end(j, OUTCOME_REFUSED, false,
                            "interrupted format state \"%s\" does not match the image (%" PRIu64
                            " bytes, header %" PRIu64 " bytes)",
                            j->state, j->size, j->offset);
                        return -1;
                }
                j->payload = payload;
                from = offset;
                /* Never grown: not one header byte went out, so the header
                 * area must be as blank as on a new image. Grown: the first
                 * 4 KiB go out last and must still be zero; the rest is
                 * checked against the key-slot areas once the header's
                 * layout is known (format_blank_image). */
                if (j->size == payload)
                        nonzero = first_nonzero(j->probe, j->size < j->offset ? j->size : j->offset);
                else
                        nonzero = first_nonzero(j->probe, PHDR_BLOCK);
                if (nonzero) {
                        job_end(j, OUTCOME_REFUSED, false,
                            "interrupted format state \"%s\", but the image holds data at offset "
                            "%td, where this agent %s; not formatting",
                            j->state, nonzero - j->probe,
                            j->size == payload ? "had not written yet (the image was never grown)"
                                               : "writes the first 4 KiB last");
                        return -1;
                }
                j->resume_in_header = j->size != payload;
        } else {
                j->payload = requested ? requested : j->size;
                if (j->size != j->payload) {
                        job_end(j, OUTCOME_REFUSED, false,
                            "image is %" PRIu64 " bytes but the volume is %" PRIu64
                            " bytes; not formatting",
                            j->size, j->payload);
                        return -1;
                }
                nonzero = first_nonzero(j->probe, j->size < j->offset ? j->size : j->offset);
                if (nonzero) {
                        char what[80];

                        snprintf(what, sizeof(what), "non-zero byte at offset %td where the header goes",
                                 nonzero - j->probe);
                        if (data_found(j, "a", what) < 0)
                                return -1;
                }
        }
        j->check_from = from;
        if (j->payload == 0) {
                job_end(j, OUTCOME_REFUSED, false, "image is empty (0 bytes); not formatting");
                return -1;
        }
        return 0;
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
                return data_found(j, "an", what);
        }
        return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* A key made elsewhere may not be there yet; what may pass for every
 * provider is keys_error_is_transient's; a provider that makes keys keeps
 * them in Ceph, whose passing errors pass here too. A bad key, a record
 * that does not open or an unknown KEK will not. */
void job_end_key_error(struct job *j, int r, const char *why)
{
        struct keys *keys = j->ctx->keys;
        bool generates = keys_can_generate(keys);
        bool transient = (r == -ENOENT && !generates) || keys_error_is_transient(r) ||
                         (generates && ceph_error_is_transient(r));

        job_end(j, OUTCOME_FAILED, transient, "no usable key (%s provider): %s",
            keys_provider_name(keys), why ? why : strerror(-r));
}

/* The passphrase: the volume's key looked up, or, from a provider that
 * makes keys and has none for this volume yet, a new one whose record
 * *ret_record holds until keys_store (*ret_new). */
static int get_passphrase(struct job *j, struct secret **ret, struct keys_record *ret_record,
                          bool *ret_new)
{
        struct keys *keys = j->ctx->keys;
        struct secret *key = NULL;
        const char *why = NULL;
        int r;

        *ret_new = false;
        r = keys_lookup(keys, j->volume_id, j->image, &key, &why);
        if (r == -ENOENT && keys_can_generate(keys)) {
                r = keys_generate(keys, j->volume_id, &key, ret_record, &why);
                *ret_new = r >= 0;
        }
        if (r < 0) {
                job_end_key_error(j, r, why);
                return r;
        }
        /* Stretching is what makes a guessable passphrase costly; kdf = fast
         * skips it, which only a key too long to guess may do. */
        if (j->ctx->config->kdf_fast && key->len < FORMAT_FAST_KDF_MIN_KEY_BYTES) {
                job_end(j, OUTCOME_FAILED, false,
                    "kdf = fast needs a key of at least %u bits; this volume's key (%s provider) "
                    "has %zu: nothing written (use 32-byte keys, or kdf = standard)",
                    FORMAT_FAST_KDF_MIN_KEY_BYTES * 8, keys_provider_name(keys), key->len * 8);
                secret_free(key);
                return -EINVAL;
        }
        r = secret_to_hex(key, ret);
        secret_free(key);
        if (r < 0)
                job_end(j, OUTCOME_FAILED, r == -ENOMEM, "cannot hold passphrase: %s", strerror(-r));
        return r;
}

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
        r = get_passphrase(j, &passphrase, &record, &new_key);
        if (r >= 0) {
                r = luks_build_header(&ctx->luks, j->offset, passphrase, &header, &used);
                if (r < 0)
                        end_header_error(j, r);
        }
        if (r >= 0 && j->resume_in_header) {
                const unsigned char *nonzero =
                        used < j->offset ? first_nonzero(j->probe + used, j->offset - used) : NULL;

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
static bool peek(struct job *j, unsigned char head[PHDR_BLOCK])
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

        if (!peek(j, head))
                return true;
        if (j->size < sizeof(head) || !luks_has_magic(head, sizeof(head), NULL) ||
            (j->has_state && job_parse_state(j->state, "writing", &payload, &offset)))
                return false;
        decide_existing_header(j, head, sizeof(head));
        return true;
}

/* The ending when the image cannot be opened (r). */
static void open_failed(struct job *j, int r)
{
        if (r == -ENOENT)
                job_end(j, OUTCOME_FAILED, false, "image %s/%s does not exist",
                    j->ctx->config->pool, j->image_name);
        else
                job_end_ceph_error(j, "cannot open", r);
}

/* j->image opened; false (ended) when it cannot be. */
static bool open_image(struct job *j, struct ceph_cluster *cluster)
{
        int r = ceph_image_open(cluster, j->ctx->config->pool, j->image_name, &j->image);

        if (r < 0)
                open_failed(j, r);
        return r >= 0;
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
                open_failed(j, r);
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
        else if (decide_blank_image(j, size_bytes) == 0)
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

void format_volume(struct format_context *ctx, const char *volume_id, uint64_t size_bytes,
                   struct format_result *ret)
{
        struct job j = {.ctx = ctx, .volume_id = volume_id, .result = ret};
        struct client *client;
        int r;

        *ret = (struct format_result){.outcome = OUTCOME_FAILED};
        snprintf(j.image_name, sizeof(j.image_name), "%s%s", ctx->config->image_prefix,
                 volume_id);
        r = acquire_client(ctx, &client);
        if (r < 0) {
                job_end(&j, OUTCOME_FAILED, true, "cannot connect to Ceph as client.%s: %s",
                    ctx->config->ceph_client, strerror(-r));
                return;
        }
        format_open_image(&j, client->cluster, size_bytes);
        release_client(ctx, client, j.retire_client);
}

/* ---- extend ------------------------------------------------------------ */

/* The image's first 4 KiB and the state, read (no lock, as for
 * decided_unlocked): true when the header is ours and finished, with the
 * state's payload and offset (into j) and the header's UUID; false (ended)
 * otherwise. */
static bool extendable(struct job *j, char ret_uuid[40])
{
        unsigned char head[PHDR_BLOCK];
        uint64_t payload, offset;

        if (!peek(j, head))
                return false;
        if (j->has_state && job_parse_state(j->state, "writing", &payload, &offset)) {
                job_end(j, OUTCOME_SKIPPED, false, "its format has not finished (%s); that format "
                    "sizes the image from its own event", j->state);
                return false;
        }
        if (!j->has_state || !job_parse_state(j->state, "formatted", &j->payload, &j->offset)) {
                job_end(j, OUTCOME_SKIPPED, false,
                    "not formatted by rbd-luks-agent: nothing to grow");
                return false;
        }
        if (j->size < sizeof(head) || !luks_has_magic(head, sizeof(head), NULL)) {
                job_end(j, OUTCOME_FAILED, false, "state says formatted (%s) but the image does not "
                    "start with a LUKS header; not resized", j->state);
                return false;
        }
        (void)luks_header_uuid(head, sizeof(head), ret_uuid);
        return true;
}

/* To size_bytes + the payload offset, never smaller; the state's payload=
 * follows. */
static void grow_to(struct job *j, uint64_t size_bytes, const char *uuid)
{
        uint64_t offset = j->offset, target = size_bytes + offset, was = j->size;
        int r;

        if (was > target) {
                job_end(j, OUTCOME_SKIPPED, false, "image is %" PRIu64 " bytes, more than the %" PRIu64
                    " of this size and the payload offset: never shrunk", was, target);
                return;
        }
        if (was == target && j->payload == size_bytes) {
                job_end(j, OUTCOME_SKIPPED, false, "image is already %" PRIu64 " bytes (%" PRIu64
                    " for the guest, payload offset %" PRIu64 ")", target, size_bytes, offset);
                return;
        }
        if (was < target && (r = ceph_image_resize(j->image, target)) < 0) {
                job_end_ceph_error(j, "cannot grow", r);
                return;
        }
        j->payload = size_bytes;
        if (job_set_state(j, "formatted", uuid) < 0)
                return;
        job_end(j, OUTCOME_RESIZED, false, "image grown from %" PRIu64 " to %" PRIu64 " bytes: qemu "
            "shows exactly %" PRIu64 " bytes (payload offset %" PRIu64 ")", was, target,
            size_bytes, offset);
}

void format_extend(struct format_context *ctx, const char *volume_id, uint64_t size_bytes,
                   struct format_result *ret)
{
        struct job j = {.ctx = ctx, .volume_id = volume_id, .result = ret};
        struct client *client;
        char uuid[40] = "";
        int r;

        *ret = (struct format_result){.outcome = OUTCOME_FAILED};
        snprintf(j.image_name, sizeof(j.image_name), "%s%s", ctx->config->image_prefix,
                 volume_id);
        r = acquire_client(ctx, &client);
        if (r < 0) {
                job_end(&j, OUTCOME_FAILED, true, "cannot connect to Ceph as client.%s: %s",
                    ctx->config->ceph_client, strerror(-r));
                return;
        }
        if (open_image(&j, client->cluster)) {
                if (extendable(&j, uuid))
                        grow_to(&j, size_bytes, uuid);
                ceph_image_close(j.image);
        }
        release_client(ctx, client, j.retire_client);
}

/* ---- the volume index ------------------------------------------------- */

int format_index_put(struct format_context *ctx, const struct volume_index_entry *e)
{
        struct client *client;
        int r = acquire_client(ctx, &client);

        if (r < 0)
                return r;
        r = volume_index_put(client->cluster, ctx->config->pool, e);
        release_client(ctx, client, r == -ESHUTDOWN);
        return r;
}

int format_with_client(struct format_context *ctx, int (*fn)(struct ceph_cluster *, void *),
                       void *opaque)
{
        struct client *client;
        int r = acquire_client(ctx, &client);

        if (r < 0)
                return r;
        r = fn(client->cluster, opaque);
        release_client(ctx, client, r == -ESHUTDOWN);
        return r;
}

struct restore_search_args {
        struct format_context *ctx;
        const char *source;
        struct format_restore_targets *ret;
};

static int find_restored_on(struct ceph_cluster *cluster, void *opaque)
{
        struct restore_search_args *a = opaque;

        return format_find_restored(a->ctx, cluster, a->source, a->ret);
}

int format_restore_targets(struct format_context *ctx, const char *source,
                           struct format_restore_targets *ret)
{
        struct restore_search_args a = {ctx, source, ret};

        return format_with_client(ctx, find_restored_on, &a);
}

int format_index_remove(struct format_context *ctx, const char *volume_id)
{
        struct volume_index_entry e;
        struct client *client;
        int r = acquire_client(ctx, &client);

        if (r < 0)
                return r;
        r = volume_index_get(client->cluster, ctx->config->pool, volume_id, &e);
        if (r >= 0 && e.uuid[0])
                r = format_forget_header(ctx, client->cluster, e.uuid, volume_id);
        else if (r == -ENOENT || r == -EINVAL)
                r = 0;
        if (r >= 0)
                r = volume_index_remove(client->cluster, ctx->config->pool, volume_id);
        release_client(ctx, client, r == -ESHUTDOWN);
        return r;
}
