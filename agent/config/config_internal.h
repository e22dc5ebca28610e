/* config_internal: what config.c and the modules beside it
 * (config_keys.c, config_problems.c, config_checks.c, config_values.c,
 * config_compute.c, config_amqp.c, config_environment.c) share while one
 * file is loaded. Private: nothing outside agent/config/ includes it;
 * config.h is the interface. config_keys.c owns the key table,
 * config_problems.c the problem list; each section module parses and
 * checks its own keys into struct config through the helpers here. Parsers return 0 or a negative errno and
 * report through config_bad_value(); checks report through config_problem();
 * nothing logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config.h"

#define SECRET_PREFIX "secret:"
#define NAME_RULE "1 to %llu characters of A-Z a-z 0-9 _ . -"
#define MAX_TYPE_ID 64
/* keywrap.h's KEYWRAP_KEK_ID_MAX: the ids the metadata provider accepts,
 * checked here so check-config finds them. */
#define MAX_KEK_ID 32

/* SECTION_SECRET is every [secret:NAME]; the others appear once. */
enum section { SECTION_AGENT, SECTION_CEPH, SECTION_VOLUME, SECTION_COMPUTE, SECTION_KEYS,
               SECTION_LUKS, SECTION_RETRY, SECTION_AMQP, SECTION_SECRET, N_SECTIONS };
/* Where a key line is, besides one of the sections above. */
#define SECTION_NONE (-1)
#define SECTION_UNKNOWN (-2)

enum key_id {
        KEY_ROLE, KEY_HOOK_FILE, KEY_STATE_DIR, KEY_LOG_LEVEL, KEY_LOG_FORMAT, KEY_WORKERS,
        KEY_MAX_LINE_BYTES, KEY_MAX_JSON_DEPTH, KEY_MAX_PENDING, KEY_POLL_INTERVAL_MS,
        KEY_HEALTH_INTERVAL, KEY_LOG_FILE,
        KEY_CEPH_CONF, KEY_CEPH_CLIENT, KEY_CEPH_KEYRING, KEY_POOL, KEY_IMAGE_PREFIX,
        KEY_CEPH_TIMEOUT_S,
        KEY_TYPES, KEY_BACKENDS, KEY_LOCK_STALE_AFTER_S, KEY_DELETED_KEYS, KEY_MAX_CONVERT_GIB,
        KEY_AUDIT_INTERVAL_S,
        KEY_PROVIDER, KEY_KEY_DIRECTORY, KEY_KEY_COMMAND, KEY_COMMAND_TIMEOUT_MS, KEY_KEK_ID,
        KEY_KEK_FILE, KEY_OLD_KEKS,
        KEY_CIPHER, KEY_KEY_BITS, KEY_HASH, KEY_ITER_TIME_MS, KEY_ITERATIONS, KEY_KDF,
        KEY_KEYSLOT_WRITER,
        KEY_RETRY_INITIAL_MS, KEY_RETRY_MAX_MS, KEY_RETRY_GIVE_UP_S,
        KEY_URI, KEY_HOST, KEY_COMPUTE_TYPES, KEY_COMPUTE_PRIVATE, KEY_RECONCILE_INTERVAL_S,
        KEY_GC_INTERVAL_S, KEY_GC_GRACE_S, KEY_COMPUTE_BACKENDS, KEY_ZONES, KEY_ON_RAW_DISK,
        KEY_SASL_USER, KEY_SASL_PASSWORD_FILE,
        KEY_AMQP_HOST, KEY_AMQP_PORT, KEY_AMQP_VHOST, KEY_AMQP_USER, KEY_AMQP_PASSWORD_FILE,
        KEY_AMQP_EXCHANGE, KEY_AMQP_QUEUE, KEY_AMQP_ROUTING_KEYS, KEY_AMQP_PREFETCH,
        KEY_AMQP_HEARTBEAT_S, KEY_AMQP_BATCH_MAX, KEY_AMQP_BATCH_MS, KEY_AMQP_TLS,
        KEY_AMQP_TLS_CA_FILE, KEY_AMQP_TLS_VERIFY,
        /* [secret:NAME] keys last: they are tracked per section. */
        KEY_SECRET_UUID, KEY_SECRET_USAGE, KEY_SECRET_USAGE_NAME, KEY_SECRET_VOLUME,
        KEY_SECRET_KEYRING, KEY_SECRET_ENTITY, KEY_SECRET_KEY_FILE, KEY_SECRET_PRIVATE,
        N_KEYS
};
#define KEY_SECRET_FIRST KEY_SECRET_UUID
#define N_SECRET_KEYS (N_KEYS - KEY_SECRET_FIRST)

/* Where each [secret:NAME]'s keys are, like key_lines/key_bad below. */
struct secret_keys {
        unsigned lines[N_SECRET_KEYS];
        bool bad[N_SECRET_KEYS];
};

struct load {
        const char *path;
        FILE *file;
        int read_errno;
        struct config *config;
        struct config_problems *problems;
        size_t first_problem; /* entries of *problems from before this load */
        unsigned problem_lines[CONFIG_MAX_PROBLEMS];
        size_t n_problems; /* including dropped ones */
        unsigned lineno;
        size_t bytes;
        bool expect_handler; /* the current line can only be key = value */
        bool handled;        /* inih called the handler for the current line */
        int section;         /* enum section, SECTION_NONE or SECTION_UNKNOWN */
        char section_label[80];             /* "agent", "secret:NAME": for messages */
        unsigned section_lines[N_SECTIONS]; /* first header, 0: absent */
        unsigned key_lines[N_KEYS];         /* 0: not in the file; not for secret keys */
        bool key_bad[N_KEYS];               /* set but unusable: skip later checks */
        struct secret_keys secret_keys[CONFIG_MAX_SECRETS]; /* per config->secrets[i] */
        int error;                          /* fatal, e.g. -ENOMEM */
};

struct key_def;
typedef int (*key_parser)(struct load *l, const struct key_def *k, const char *value);

struct key_def {
        enum section section;
        const char *name;
        key_parser parse;
        size_t offset;               /* of the field in struct config (config_secret) */
        unsigned long long min, max; /* numbers: range; names: max is the length */
        bool required;
        const char *range; /* numbers: "allowed" text when not min..max */
};

/* Every key the file may hold, indexed by enum key_id (config_keys.c). */
extern const struct key_def config_keys[N_KEYS];
/* The name of each section (enum section) in the file, "secret" for every
 * [secret:NAME]. */
extern const char *const config_section_names[N_SECTIONS];

/* A path config_check_environment() looks at and what it must allow. */
struct env_check {
        enum key_id key;
        const char *what;
        bool directory;
        int mode;
        const char *can; /* what mode means, for the message */
        bool feed;       /* the feed command uses it */
};

/* How much config_load_mode() checks beyond the file itself. */
enum load_mode {
        LOAD_FILE,
        LOAD_ENVIRONMENT, /* what the roles use; not [amqp]'s files */
        LOAD_FEED,        /* what feed uses: no Ceph, keys or secrets */
        LOAD_ALL,         /* check-config: both */
};

/* ---- config_keys.c: defaults -------------------------------------------- */

/* A struct config for path holding every default; -ENOMEM. */
int config_new(const char *path, struct config **ret);
/* workers as the file gave it; 0: one per CPU, at most the table's limit. */
unsigned config_resolve_workers(unsigned workers);

/* ---- config_problems.c: problems ---------------------------------------- */

/* "FILE:LINE: message", kept in line order. */
__attribute__((format(printf, 3, 4))) void config_problem(struct load *l, unsigned line,
                                                          const char *fmt, ...);
/* "key = 'value': why" at the current line; returns -EINVAL for the parser
 * (-ENOMEM when the message cannot be made). */
__attribute__((format(printf, 4, 5))) int config_bad_value(struct load *l,
                                                           const struct key_def *k,
                                                           const char *value, const char *fmt,
                                                           ...);
/* Whether a problem is already listed at line. */
bool config_has_problem_at(const struct load *l, unsigned line);
/* Where key k was seen (0: not yet): once per file, or for a secret key in
 * the current [secret:NAME]. */
unsigned *config_line_of(struct load *l, const struct key_def *k);

/* ---- config_checks.c: checks across keys -------------------------------- */

/* Whether section s (enum section) is one the file's role uses. */
bool config_section_in_role(const struct load *l, int s);
void config_check_roles(struct load *l);
void config_check_required(struct load *l);
void config_check_provider(struct load *l);
void config_check_luks(struct load *l);
void config_check_retry(struct load *l);

/* ---- config_values.c: value helpers ------------------------------------- */

/* Key k's field in struct config, or in the current [secret:NAME]'s
 * struct config_secret. */
void *config_field_of(struct load *l, const struct key_def *k);
int config_store_string(struct load *l, char **field, const char *value);
int config_parse_number(struct load *l, const struct key_def *k, const char *value,
                        unsigned long long *ret);
int config_parse_name(struct load *l, const struct key_def *k, const char *value);
bool config_name_ok(const char *s, size_t n, size_t max);
bool config_printable(const char *s, size_t n, bool spaces_ok);
void config_trim_blanks(const char **s, size_t *n);

/* ---- config_values.c: the parsers config_keys[] names ------------------- */

int config_parse_unsigned(struct load *l, const struct key_def *k, const char *value);
int config_parse_size(struct load *l, const struct key_def *k, const char *value);
int config_parse_path(struct load *l, const struct key_def *k, const char *value);
int config_parse_client(struct load *l, const struct key_def *k, const char *value);
int config_parse_role(struct load *l, const struct key_def *k, const char *value);
int config_parse_word(struct load *l, const struct key_def *k, const char *value);
int config_parse_log_level(struct load *l, const struct key_def *k, const char *value);
int config_parse_log_format(struct load *l, const struct key_def *k, const char *value);
int config_parse_types(struct load *l, const struct key_def *k, const char *value);
int config_parse_backends(struct load *l, const struct key_def *k, const char *value);
int config_parse_zones(struct load *l, const struct key_def *k, const char *value);
int config_parse_on_raw_disk(struct load *l, const struct key_def *k, const char *value);
int config_parse_provider(struct load *l, const struct key_def *k, const char *value);
int config_parse_old_keks(struct load *l, const struct key_def *k, const char *value);
int config_parse_cipher(struct load *l, const struct key_def *k, const char *value);
int config_parse_hash(struct load *l, const struct key_def *k, const char *value);
int config_parse_kdf(struct load *l, const struct key_def *k, const char *value);
int config_parse_deleted_keys(struct load *l, const struct key_def *k, const char *value);
int config_parse_keyslot_writer(struct load *l, const struct key_def *k, const char *value);
int config_parse_bool(struct load *l, const struct key_def *k, const char *value);

/* ---- config_compute.c: [compute] and [secret:NAME] ----------------------- */

int config_compute_parse_uri(struct load *l, const struct key_def *k, const char *value);
int config_compute_parse_host(struct load *l, const struct key_def *k, const char *value);
int config_compute_parse_gc_interval(struct load *l, const struct key_def *k, const char *value);
void config_compute_check(struct load *l);
int config_secrets_parse_uuid(struct load *l, const struct key_def *k, const char *value);
int config_secrets_parse_usage(struct load *l, const struct key_def *k, const char *value);
int config_secrets_parse_usage_name(struct load *l, const struct key_def *k, const char *value);
int config_secrets_parse_entity(struct load *l, const struct key_def *k, const char *value);
/* At a [secret:NAME] header, NAME being the n bytes at name. */
void config_secrets_enter(struct load *l, const char *name, size_t n);
void config_secrets_check(struct load *l);
void config_secrets_check_files(struct load *l);

/* ---- config_amqp.c: [amqp] ---------------------------------------------- */

int config_amqp_parse_host(struct load *l, const struct key_def *k, const char *value);
int config_amqp_parse_queue(struct load *l, const struct key_def *k, const char *value);
int config_amqp_parse_routing_keys(struct load *l, const struct key_def *k, const char *value);
void config_amqp_clear_routing_keys(struct config *c);
void config_amqp_check(struct load *l);
void config_amqp_check_feed(struct load *l);
void config_amqp_check_password_file(struct load *l);

/* ---- config_environment.c: what the file points at ----------------------- */

void config_check_path(struct load *l, const struct env_check *e, unsigned line,
                       const char *path);
void config_check_password_file(struct load *l, enum key_id key);
bool config_check_private_file(struct load *l, unsigned line, const char *what,
                               const char *path, struct stat *st);
void config_check_environment(struct load *l, enum load_mode mode);
