/* config_keys: the keys of the INI file (config_internal.h): one table
 * names every key with its section, parser, field in struct config and
 * limits, indexed by enum key_id; config_new() gives every key its
 * default, and workers = 0 becomes the number of CPUs. Returns 0 or a
 * negative errno; nothing here logs. */
#include "config_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luks/luks.h" /* LUKS_PBKDF2_MIN_ITERATIONS; declarations only */

#define MAX_WORKERS 64
#define MAX_URI 512
#define MAX_HOST 255           /* event.h's EVENT_HOST_MAX less the NUL */
#define MAX_USAGE_NAME 127     /* compute/virt.h's VIRT_USAGE_ID_MAX less the NUL */
#define MAX_ENTITY 100
/* AMQP 0-9-1 short strings hold 255 bytes; names are at most 127 by the spec. */
#define MAX_AMQP_HOST 255
#define MAX_AMQP_TEXT 255
#define MAX_AMQP_NAME 127

const char *const config_section_names[N_SECTIONS] = {
        "agent", "ceph", "volume", "compute", "keys", "luks", "retry", "amqp", "secret"};

#define FIELD(f) offsetof(struct config, f)
#define REQUIRED true
#define OPTIONAL false
#define KEY(s, name, parser, f, req) {SECTION_##s, name, parser, FIELD(f), 0, 0, req, NULL}
#define NAME(s, name, parser, f, len, req) \
        {SECTION_##s, name, parser, FIELD(f), 0, len, req, NULL}
#define NUMBER(s, name, f, lo, hi) \
        {SECTION_##s, name, config_parse_unsigned, FIELD(f), lo, hi, false, NULL}
#define SECRET(name, parser, f, len, req) \
        {SECTION_SECRET, name, parser, offsetof(struct config_secret, f), 0, len, req, NULL}

/* Every key the file may hold; indexed by enum key_id for the checks that
 * look at several keys. */
const struct key_def config_keys[N_KEYS] = {
        [KEY_ROLE] = KEY(AGENT, "role", config_parse_role, role, REQUIRED),
        [KEY_HOOK_FILE] = KEY(AGENT, "hook_file", config_parse_path, hook_file, REQUIRED),
        [KEY_STATE_DIR] = KEY(AGENT, "state_dir", config_parse_path, state_dir, REQUIRED),
        [KEY_LOG_LEVEL] = KEY(AGENT, "log_level", config_parse_log_level, log_level, OPTIONAL),
        [KEY_LOG_FORMAT] = KEY(AGENT, "log_format", config_parse_log_format, log_format, OPTIONAL),
        [KEY_WORKERS] = NUMBER(AGENT, "workers", workers, 0, MAX_WORKERS),
        [KEY_MAX_LINE_BYTES] = {SECTION_AGENT, "max_line_bytes", config_parse_size,
                                FIELD(max_line_bytes), 4096, 16777216, OPTIONAL, NULL},
        [KEY_MAX_JSON_DEPTH] = NUMBER(AGENT, "max_json_depth", max_json_depth, 4, 256),
        [KEY_MAX_PENDING] = NUMBER(AGENT, "max_pending", max_pending, 1, 65536),
        [KEY_POLL_INTERVAL_MS] = NUMBER(AGENT, "poll_interval_ms", poll_interval_ms, 10, 60000),
        [KEY_HEALTH_INTERVAL] = NUMBER(AGENT, "health_interval", health_interval_s, 1, 3600),
        [KEY_LOG_FILE] = KEY(AGENT, "log_file", config_parse_path, log_file, OPTIONAL),

        [KEY_CEPH_CONF] = KEY(CEPH, "conf", config_parse_path, ceph_conf, REQUIRED),
        [KEY_CEPH_CLIENT] = NAME(CEPH, "client", config_parse_client, ceph_client, 64, REQUIRED),
        [KEY_CEPH_KEYRING] = KEY(CEPH, "keyring", config_parse_path, ceph_keyring, OPTIONAL),
        [KEY_POOL] = NAME(CEPH, "pool", config_parse_name, pool, 100, REQUIRED),
        [KEY_IMAGE_PREFIX] = NAME(CEPH, "image_prefix", config_parse_name, image_prefix, 64,
                                  OPTIONAL),
        [KEY_CEPH_TIMEOUT_S] = NUMBER(CEPH, "timeout_s", ceph_timeout_s, 1, 3600),

        [KEY_TYPES] = KEY(VOLUME, "types", config_parse_types, types, REQUIRED),
        [KEY_BACKENDS] = KEY(VOLUME, "backends", config_parse_backends, backends, OPTIONAL),
        [KEY_LOCK_STALE_AFTER_S] = NUMBER(VOLUME, "lock_stale_after_s", lock_stale_after_s, 10,
                                          86400),
        [KEY_DELETED_KEYS] = KEY(VOLUME, "deleted_keys", config_parse_deleted_keys,
                                 shred_deleted_keys, OPTIONAL),
        [KEY_MAX_CONVERT_GIB] = NUMBER(VOLUME, "max_convert_gib", max_convert_gib, 0, 4096),
        [KEY_AUDIT_INTERVAL_S] = NUMBER(VOLUME, "audit_interval_s", audit_interval_s, 0, 86400),

        [KEY_PROVIDER] = KEY(KEYS, "provider", config_parse_provider, key_provider, REQUIRED),
        [KEY_KEY_DIRECTORY] = KEY(KEYS, "directory", config_parse_path, key_directory, OPTIONAL),
        [KEY_KEY_COMMAND] = KEY(KEYS, "command", config_parse_path, key_command, OPTIONAL),
        [KEY_COMMAND_TIMEOUT_MS] = NUMBER(KEYS, "command_timeout_ms", key_command_timeout_ms,
                                          100, 600000),
        [KEY_KEK_ID] = NAME(KEYS, "kek_id", config_parse_name, kek_id, MAX_KEK_ID, OPTIONAL),
        [KEY_KEK_FILE] = KEY(KEYS, "kek_file", config_parse_path, kek_file, OPTIONAL),
        [KEY_OLD_KEKS] = KEY(KEYS, "old_keks", config_parse_old_keks, old_kek_ids, OPTIONAL),

        [KEY_CIPHER] = KEY(LUKS, "cipher", config_parse_cipher, cipher, OPTIONAL),
        [KEY_KEY_BITS] = NUMBER(LUKS, "key_bits", key_bits, 128, 512),
        [KEY_HASH] = KEY(LUKS, "hash", config_parse_hash, hash, OPTIONAL),
        [KEY_ITER_TIME_MS] = NUMBER(LUKS, "iter_time_ms", iter_time_ms, 1, 60000),
        [KEY_ITERATIONS] = NUMBER(LUKS, "iterations", iterations, LUKS_PBKDF2_MIN_ITERATIONS,
                                  100000000),
        [KEY_KDF] = KEY(LUKS, "kdf", config_parse_kdf, kdf_fast, OPTIONAL),
        [KEY_KEYSLOT_WRITER] = KEY(LUKS, "keyslot_writer", config_parse_keyslot_writer,
                                   keyslot_by_libcryptsetup, OPTIONAL),

        [KEY_RETRY_INITIAL_MS] = NUMBER(RETRY, "initial_ms", retry_initial_ms, 10, 600000),
        [KEY_RETRY_MAX_MS] = NUMBER(RETRY, "max_ms", retry_max_ms, 10, 3600000),
        [KEY_RETRY_GIVE_UP_S] = NUMBER(RETRY, "give_up_after_s", retry_give_up_s, 1, 604800),

        [KEY_URI] = NAME(COMPUTE, "uri", config_compute_parse_uri, libvirt_uri, MAX_URI, OPTIONAL),
        [KEY_HOST] = NAME(COMPUTE, "host", config_compute_parse_host, compute_host, MAX_HOST,
                          OPTIONAL),
        [KEY_COMPUTE_TYPES] = KEY(COMPUTE, "types", config_parse_types, types, OPTIONAL),
        [KEY_COMPUTE_PRIVATE] = KEY(COMPUTE, "private", config_parse_bool, compute_private, OPTIONAL),
        [KEY_RECONCILE_INTERVAL_S] = NUMBER(COMPUTE, "reconcile_interval_s",
                                            reconcile_interval_s, 10, 86400),
        [KEY_GC_INTERVAL_S] = {SECTION_COMPUTE, "gc_interval_s", config_compute_parse_gc_interval,
                               FIELD(gc_interval_s), 0, 604800, OPTIONAL,
                               "0 (never) or 60..604800"},
        [KEY_GC_GRACE_S] = NUMBER(COMPUTE, "gc_grace_s", gc_grace_s, 0, 604800),
        [KEY_COMPUTE_BACKENDS] = KEY(COMPUTE, "backends", config_parse_backends, backends,
                                     OPTIONAL),
        [KEY_ZONES] = KEY(COMPUTE, "availability_zones", config_parse_zones, zones, OPTIONAL),
        [KEY_ON_RAW_DISK] = KEY(COMPUTE, "on_raw_disk", config_parse_on_raw_disk,
                                raw_disk_alert_only, OPTIONAL),
        [KEY_SASL_USER] = NAME(COMPUTE, "sasl_user", config_parse_word, libvirt_sasl_user,
                               MAX_AMQP_TEXT, OPTIONAL),
        [KEY_SASL_PASSWORD_FILE] = KEY(COMPUTE, "sasl_password_file", config_parse_path,
                                       libvirt_sasl_password_file, OPTIONAL),

        [KEY_AMQP_HOST] = NAME(AMQP, "host", config_amqp_parse_host, amqp_host, MAX_AMQP_HOST,
                               OPTIONAL),
        [KEY_AMQP_PORT] = NUMBER(AMQP, "port", amqp_port, 1, 65535),
        [KEY_AMQP_VHOST] = NAME(AMQP, "vhost", config_parse_word, amqp_vhost, MAX_AMQP_TEXT,
                                OPTIONAL),
        [KEY_AMQP_USER] = NAME(AMQP, "user", config_parse_word, amqp_user, MAX_AMQP_TEXT,
                               OPTIONAL),
        [KEY_AMQP_PASSWORD_FILE] = KEY(AMQP, "password_file", config_parse_path, amqp_password_file,
                                       OPTIONAL),
        [KEY_AMQP_EXCHANGE] = NAME(AMQP, "exchange", config_parse_name, amqp_exchange,
                                   MAX_AMQP_NAME, OPTIONAL),
        [KEY_AMQP_QUEUE] = NAME(AMQP, "queue", config_amqp_parse_queue, amqp_queue, MAX_AMQP_NAME,
                                OPTIONAL),
        [KEY_AMQP_ROUTING_KEYS] = KEY(AMQP, "routing_keys", config_amqp_parse_routing_keys,
                                      amqp_routing_keys, OPTIONAL),
        [KEY_AMQP_PREFETCH] = NUMBER(AMQP, "prefetch", amqp_prefetch, 1, 65535),
        [KEY_AMQP_HEARTBEAT_S] = {SECTION_AMQP, "heartbeat_s", config_parse_unsigned,
                                  FIELD(amqp_heartbeat_s), 0, 600, OPTIONAL,
                                  "0 (no heartbeats) or 1..600"},
        [KEY_AMQP_BATCH_MAX] = NUMBER(AMQP, "batch_max", amqp_batch_max, 1, 4096),
        [KEY_AMQP_BATCH_MS] = NUMBER(AMQP, "batch_ms", amqp_batch_ms, 0, 1000),
        [KEY_AMQP_TLS] = KEY(AMQP, "tls", config_parse_bool, amqp_tls, OPTIONAL),
        [KEY_AMQP_TLS_CA_FILE] = KEY(AMQP, "tls_ca_file", config_parse_path, amqp_tls_ca_file,
                                     OPTIONAL),
        [KEY_AMQP_TLS_VERIFY] = KEY(AMQP, "tls_verify", config_parse_bool, amqp_tls_verify, OPTIONAL),

        [KEY_SECRET_UUID] = SECRET("uuid", config_secrets_parse_uuid, uuid, 0, REQUIRED),
        [KEY_SECRET_USAGE] = SECRET("usage", config_secrets_parse_usage, usage, 0, REQUIRED),
        [KEY_SECRET_USAGE_NAME] = SECRET("usage_name", config_secrets_parse_usage_name, usage_id,
                                         MAX_USAGE_NAME, OPTIONAL),
        [KEY_SECRET_VOLUME] = SECRET("volume", config_secrets_parse_uuid, usage_id, 0, OPTIONAL),
        [KEY_SECRET_KEYRING] = SECRET("keyring", config_parse_path, keyring, 0, OPTIONAL),
        [KEY_SECRET_ENTITY] = SECRET("entity", config_secrets_parse_entity, entity, MAX_ENTITY,
                                     OPTIONAL),
        [KEY_SECRET_KEY_FILE] = SECRET("key_file", config_parse_path, key_file, 0, OPTIONAL),
        [KEY_SECRET_PRIVATE] = SECRET("private", config_parse_bool, private_value, 0, OPTIONAL),
};

int config_new(const char *path, struct config **ret)
{
        struct config *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        *c = (struct config){
                .role = ROLE_VOLUME,
                .log_level = LOG_LEVEL_INFO,
                .log_format = LOG_FORMAT_TEXT,
                .max_line_bytes = 1048576,
                .max_json_depth = 32,
                .max_pending = 1024,
                .poll_interval_ms = 1000,
                .health_interval_s = 10,
                .ceph_timeout_s = 30,
                .lock_stale_after_s = 600,
                .max_convert_gib = 64,
                .audit_interval_s = 600,
                .compute_private = true,
                .reconcile_interval_s = 300,
                .gc_interval_s = 3600,
                .gc_grace_s = 3600,
                .key_provider = KEY_PROVIDER_FILE,
                .key_command_timeout_ms = 10000,
                .key_bits = 512,
                .iter_time_ms = 2000,
                .retry_initial_ms = 1000,
                .retry_max_ms = 60000,
                .retry_give_up_s = 3600,
                .amqp_port = 5672,
                .amqp_prefetch = 256,
                .amqp_heartbeat_s = 30,
                .amqp_batch_max = 64,
                .amqp_batch_ms = 20,
                .amqp_tls_verify = true,
        };
        c->path = strdup(path);
        c->image_prefix = strdup("volume-");
        c->cipher = strdup("aes");
        c->cipher_mode = strdup("xts-plain64");
        c->hash = strdup("sha256");
        c->libvirt_uri = strdup("qemu:///system");
        c->amqp_host = strdup("127.0.0.1");
        c->amqp_vhost = strdup("/");
        c->amqp_exchange = strdup("openstack");
        c->amqp_queue = strdup("rbd-luks-agent");
        c->amqp_routing_keys[0] = strdup("notifications_luks.info");
        c->n_amqp_routing_keys = 1;
        if (!c->path || !c->image_prefix || !c->cipher || !c->cipher_mode || !c->hash ||
            !c->libvirt_uri || !c->amqp_host || !c->amqp_vhost || !c->amqp_exchange ||
            !c->amqp_queue || !c->amqp_routing_keys[0]) {
                config_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

unsigned config_resolve_workers(unsigned workers)
{
        long cpus;

        if (workers > 0)
                return workers;
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus < 1)
                return 1;
        return cpus > MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus;
}
