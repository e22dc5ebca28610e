/* config: the agent's INI file (read with inih), validated in one pass.
 *
 * config_load() never stops at the first problem: it returns every problem
 * it found as "FILE:LINE: message" strings so check-config can print them
 * all. A config with problems is never used to run. Limits: a line of the
 * file is at most CONFIG_MAX_LINE bytes; types at most CONFIG_MAX_TYPES
 * entries, old_keks at most CONFIG_MAX_OLD_KEKS, at most CONFIG_MAX_SECRETS
 * [secret:NAME] sections, routing_keys at most CONFIG_MAX_ROUTING_KEYS.
 *
 * Which sections a file may hold depends on [agent] role: volume needs
 * [volume]; compute may have [compute] and [secret:NAME] sections and must
 * not have [volume]. [ceph] and [keys] are required by both. [amqp] (the
 * broker the feed command consumes from) is allowed with either role and
 * needed only by feed, which also needs its user and password_file. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

#define CONFIG_MAX_LINE 1024
#define CONFIG_MAX_TYPES 64
#define CONFIG_MAX_BACKENDS 16
#define CONFIG_MAX_ZONES 64
#define CONFIG_MAX_PROBLEMS 100
#define CONFIG_MAX_OLD_KEKS 16
#define CONFIG_MAX_SECRETS 16
#define CONFIG_MAX_ROUTING_KEYS 16

enum agent_role { ROLE_VOLUME, ROLE_COMPUTE };
enum key_provider_kind { KEY_PROVIDER_FILE, KEY_PROVIDER_COMMAND, KEY_PROVIDER_METADATA };
/* <usage type='ceph'><name>..</name> or <usage type='volume'><volume>..</volume> */
enum config_secret_usage { CONFIG_SECRET_CEPH, CONFIG_SECRET_VOLUME };

/* One [secret:NAME]: a libvirt secret the compute role keeps defined. Its
 * value comes from keyring (the key of entity) or from key_file, never
 * both. */
struct config_secret {
        char *name; /* NAME of [secret:NAME] */
        char *uuid; /* lowercase */
        enum config_secret_usage usage;
        char *usage_id; /* ceph: usage_name; volume: the volume id (lowercase) */
        char *keyring;  /* with entity, e.g. "client.cinder"; NULL with key_file */
        char *entity;
        char *key_file; /* raw value bytes; NULL with keyring */
        bool private_value;
        unsigned line; /* of the [secret:NAME] header, for run-time messages */
};

struct config {
        char *path;

        /* [agent] */
        enum agent_role role;
        char *hook_file;
        char *state_dir;
        enum log_level log_level;
        enum log_format log_format;
        char *log_file;          /* NULL: stderr only; else stderr and this file (append) */
        unsigned workers;        /* resolved: 0 in the file means one per CPU */
        size_t max_line_bytes;   /* longest hook-file line accepted */
        unsigned max_json_depth; /* deepest JSON nesting accepted */
        unsigned max_pending;    /* events read ahead of the checkpoint */
        unsigned poll_interval_ms;
        unsigned health_interval_s; /* the daemons refresh state_dir/health this often */

        /* [ceph] */
        char *ceph_conf;
        char *ceph_client;  /* user name without "client." */
        char *ceph_keyring; /* NULL: from ceph.conf */
        char *pool;
        char *image_prefix; /* Cinder's volume_name_template prefix */
        unsigned ceph_timeout_s;

        /* [volume] types, or [compute] types (default * there) */
        bool all_types;
        char *types[CONFIG_MAX_TYPES];
        size_t n_types;
        /* [volume] backends: Cinder backend names (host@BACKEND#pool);
         * none = every backend */
        char *backends[CONFIG_MAX_BACKENDS];
        size_t n_backends;
        unsigned lock_stale_after_s;
        /* deleted_keys = shred: a deleted volume's record leaves the header
         * map (header_map.h) with it; keep (default) marks it deleted. */
        bool shred_deleted_keys;
        /* max_convert_gib: the largest image holding data that is converted
         * into LUKS (format_convert.c); 0: none, such images are refused. */
        unsigned max_convert_gib;
        /* audit_interval_s: how often the volume role looks for index
         * entries whose image left the pool without a delete
         * (volume_audit.h); 0: never. */
        unsigned audit_interval_s;

        /* [compute] */
        char *libvirt_uri;
        char *compute_host;   /* NULL: this machine's hostname, at run time */
        bool compute_private; /* volume secrets are private='yes' */
        unsigned reconcile_interval_s;
        unsigned gc_interval_s; /* 0: never */
        unsigned gc_grace_s;
        /* [compute] availability_zones: none = every zone */
        char *zones[CONFIG_MAX_ZONES];
        size_t n_zones;
        bool raw_disk_alert_only; /* on_raw_disk = alert (default pause) */
        /* sasl_user and sasl_password_file: the SASL login to libvirt (both
         * or neither; NULL: none, as Kolla's libvirt_enable_sasl false) */
        char *libvirt_sasl_user;
        char *libvirt_sasl_password_file;

        /* [secret:NAME] sections, in file order */
        struct config_secret secrets[CONFIG_MAX_SECRETS];
        size_t n_secrets;

        /* [keys] */
        enum key_provider_kind key_provider;
        char *key_directory;
        char *key_command;
        unsigned key_command_timeout_ms;
        char *kek_id;   /* metadata: the KEK new keys are wrapped with */
        char *kek_file; /* its 32 bytes */
        /* metadata: KEKs from before a rotation, for reading keys only until
         * "keys rewrap" has wrapped them again with kek_id. */
        char *old_kek_ids[CONFIG_MAX_OLD_KEKS];
        char *old_kek_files[CONFIG_MAX_OLD_KEKS];
        size_t n_old_keks;

        /* [luks] */
        char *cipher;      /* e.g. "aes" */
        char *cipher_mode; /* e.g. "xts-plain64" */
        unsigned key_bits; /* master key size, 512 for AES-256-XTS */
        char *hash;
        unsigned iter_time_ms; /* 0 when iterations is fixed */
        unsigned iterations;   /* 0 until calibrated */
        /* kdf = fast: the minimum count, for keys of 256 bits or more only
         * (a random 256-bit key gains nothing from stretching). The default
         * for provider = metadata when neither iter_time_ms nor iterations
         * is set; standard otherwise. */
        bool kdf_fast;
        /* keyslot_writer = libcryptsetup: key slot 0 by libcryptsetup rather
         * than by the agent's keyslot.c (docs/decisions.md). */
        bool keyslot_by_libcryptsetup;

        /* [retry] */
        unsigned retry_initial_ms;
        unsigned retry_max_ms;
        unsigned retry_give_up_s;

        /* [amqp]: where the feed command consumes notifications from */
        bool has_amqp;           /* the file has an [amqp] section */
        char *amqp_host;         /* host name or IP address */
        unsigned amqp_port;      /* resolved: 5671 with TLS, 5672 without */
        char *amqp_vhost;
        char *amqp_user;          /* NULL: not set (feed requires it) */
        char *amqp_password_file; /* NULL: not set (feed requires it) */
        char *amqp_exchange;      /* a topic exchange; never declared, only bound to */
        char *amqp_queue;         /* declared durable by the feeder */
        char *amqp_routing_keys[CONFIG_MAX_ROUTING_KEYS];
        size_t n_amqp_routing_keys;
        unsigned amqp_prefetch;   /* unacknowledged messages the broker may send */
        unsigned amqp_heartbeat_s; /* 0: no heartbeats */
        unsigned amqp_batch_max;  /* messages per write + fdatasync + ack */
        unsigned amqp_batch_ms;   /* longest wait for a group to fill */
        bool amqp_tls;
        char *amqp_tls_ca_file;   /* NULL: OpenSSL's default CA store */
        bool amqp_tls_verify;     /* certificate chain and host name */
};

struct config_problems {
        char *lines[CONFIG_MAX_PROBLEMS];
        size_t count;
        size_t dropped; /* problems beyond CONFIG_MAX_PROBLEMS */
};

/* Reads and validates path. On success (0) *ret is a config with every
 * default filled in. On -EINVAL the problems are in *problems and *ret is
 * untouched; other negative errnos (e.g. -ENOENT) also add a problem line.
 * check_environment also checks what the file points at that the roles
 * use (directories exist and are usable, key command executable, KEK files
 * private and 32 bytes, secrets' keyrings readable and key files private;
 * not [amqp]'s files, which only feed reads). */
int config_load(const char *path, bool check_environment, struct config **ret,
                struct config_problems *problems);
void config_free(struct config *c);
void config_problems_clear(struct config_problems *p);

/* For the feed command: config_load() without its environment checks
 * (a feeder needs no Ceph, keys or libvirt), plus what feed needs: an
 * [amqp] section with user and password_file, and on disk the hook file's
 * directory, state_dir, the password file (private, 1..4095 bytes) and
 * tls_ca_file. Same returns and problem lines as config_load(). */
int config_load_feed(const char *path, struct config **ret, struct config_problems *problems);

/* For check-config: config_load(path, true, ...) and, when the file has an
 * [amqp] section, what config_load_feed() checks too. */
int config_load_all(const char *path, struct config **ret, struct config_problems *problems);

/* "volume" or "compute", as the file spells it. */
const char *config_role_name(enum agent_role role);

/* "ceph" or "volume", as the file spells it. */
const char *config_secret_usage_name(enum config_secret_usage usage);

/* "file", "command" or "metadata", as the file spells it. */
const char *config_key_provider_name(enum key_provider_kind kind);

/* True when volume type id is one the agent encrypts. A NULL type (volume
 * without a type) matches only "*". */
bool config_wants_type(const struct config *c, const char *type_id);

/* True when a volume on Cinder host volume_host ("host@backend#pool") is
 * one this agent formats: [volume] backends unset, or its backend listed.
 * With backends set, a NULL or empty host, or one without '@', is not. */
bool config_wants_backend(const struct config *c, const char *volume_host);

/* True when a volume in availability zone `zone` is in this compute
 * agent's scope: [compute] availability_zones unset, or the zone listed.
 * An unknown zone (NULL or "") is in scope: fail closed. */
bool config_wants_zone(const struct config *c, const char *zone);
