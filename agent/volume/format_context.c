/* format_context: what every format shares (format.h): the workers'
 * context (LUKS parameters, PBKDF2 calibrated once, the key-slot writer's
 * self-test, the advisory locks' owner), the one Ceph client the workers
 * share and its retirement, and the volume index's calls made on that
 * client for the volume role. Returns 0 or a negative errno; logs only a
 * client retired. */
#include "format.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/log.h"
#include "ceph/ceph.h"
#include "format_internal.h"
#include "luks/luks.h"
#include "records/lockcookie.h"
#include "records/volume_index.h"

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

int format_client_acquire(struct format_context *ctx, struct client **ret)
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

void format_client_release(struct format_context *ctx, struct client *client, bool retire)
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

/* ---- the volume index ------------------------------------------------- */

int format_index_put(struct format_context *ctx, const struct volume_index_entry *e)
{
        struct client *client;
        int r = format_client_acquire(ctx, &client);

        if (r < 0)
                return r;
        r = volume_index_put(client->cluster, ctx->config->pool, e);
        format_client_release(ctx, client, r == -ESHUTDOWN);
        return r;
}

int format_with_client(struct format_context *ctx, int (*fn)(struct ceph_cluster *, void *),
                       void *opaque)
{
        struct client *client;
        int r = format_client_acquire(ctx, &client);

        if (r < 0)
                return r;
        r = fn(client->cluster, opaque);
        format_client_release(ctx, client, r == -ESHUTDOWN);
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
        int r = format_client_acquire(ctx, &client);

        if (r < 0)
                return r;
        r = volume_index_get(client->cluster, ctx->config->pool, volume_id, &e);
        if (r >= 0 && e.uuid[0])
                r = format_forget_header(ctx, client->cluster, e.uuid, volume_id);
        else if (r == -ENOENT || r == -EINVAL)
                r = 0;
        if (r >= 0)
                r = volume_index_remove(client->cluster, ctx->config->pool, volume_id);
        format_client_release(ctx, client, r == -ESHUTDOWN);
        return r;
}
