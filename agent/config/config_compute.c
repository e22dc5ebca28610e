/* config_compute: the compute role's sections of the INI file, [compute]
 * and the repeating [secret:NAME] (see config.h and config_internal.h).
 *
 * Each [secret:NAME] gets its entry in config->secrets at its header, so its
 * keys have somewhere to go; its keys are tracked per section (struct
 * secret_keys) and checked together once the file is read: usage and the
 * usage id, where the value comes from, and that no two sections claim one
 * libvirt secret. Parsers return 0 or a negative errno; problems go to the
 * load's list (config_problem()); nothing here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "base/secret.h"
#include "base/uuid.h"

#define MAX_SECRET_NAME 64
/* role_compute reads key files with secretfile_read() up to this size. */
#define MAX_KEY_FILE_BYTES (SECRET_MAX_BYTES - 1)

static const char *const usage_names[] = {
        [CONFIG_SECRET_CEPH] = "ceph",
        [CONFIG_SECRET_VOLUME] = "volume",
};

/* The usage id of a [secret:NAME] and the usage it belongs to. */
static const struct {
        enum key_id key;
        enum config_secret_usage usage;
} usage_keys[] = {
        {KEY_SECRET_USAGE_NAME, CONFIG_SECRET_CEPH},
        {KEY_SECRET_VOLUME, CONFIG_SECRET_VOLUME},
};

/* ---- [compute] ------------------------------------------------------------ */

/* libvirt parses the URI itself; this only keeps it one plain word. */
int config_compute_parse_uri(struct load *l, const struct key_def *k, const char *value)
{
        size_t n = strlen(value);

        if (n == 0 || n > k->max || !config_printable(value, n, false))
                return config_bad_value(l, k, value,
                                        "not a libvirt URI (allowed: 1 to %llu printable ASCII "
                                        "characters, no spaces)",
                                        k->max);
        return config_store_string(l, config_field_of(l, k), value);
}

/* Empty: the hostname, looked up when the agent runs. */
int config_compute_parse_host(struct load *l, const struct key_def *k, const char *value)
{
        char **field = config_field_of(l, k);

        if (value[0] == '\0') {
                free(*field);
                *field = NULL;
                return 0;
        }
        if (!config_name_ok(value, strlen(value), k->max))
                return config_bad_value(l, k, value,
                                        "not a valid host name (allowed: " NAME_RULE
                                        ", or empty for this machine's hostname)",
                                        k->max);
        return config_store_string(l, field, value);
}

/* Collecting more often than once a minute would only load libvirt. */
int config_compute_parse_gc_interval(struct load *l, const struct key_def *k, const char *value)
{
        unsigned long long n;
        int r = config_parse_number(l, k, value, &n);

        if (r < 0)
                return r;
        if (n > 0 && n < 60)
                return config_bad_value(l, k, value, "out of range (allowed: %s)", k->range);
        *(unsigned *)config_field_of(l, k) = (unsigned)n;
        return 0;
}

/* The compute role's defaults that differ from the volume role's. */
void config_compute_check(struct load *l)
{
        bool user = l->key_lines[KEY_SASL_USER], password = l->key_lines[KEY_SASL_PASSWORD_FILE];

        if (l->config->role == ROLE_COMPUTE && !l->key_lines[KEY_COMPUTE_TYPES])
                l->config->all_types = true;
        if (user != password)
                config_problem(l, l->key_lines[user ? KEY_SASL_USER : KEY_SASL_PASSWORD_FILE],
                               "%s is set without %s: a SASL login to libvirt needs both",
                               user ? "sasl_user" : "sasl_password_file",
                               user ? "sasl_password_file" : "sasl_user");
}

/* ---- [secret:NAME] ------------------------------------------------------- */

/* 8-4-4-4-12 hex digits, kept in lowercase as libvirt prints UUIDs, so
 * one UUID has one spelling in every comparison. */
int config_secrets_parse_uuid(struct load *l, const struct key_def *k, const char *value)
{
        char lower[UUID_LEN + 1];

        if (!uuid_is_valid(value))
                return config_bad_value(l, k, value,
                                        "not a UUID (allowed: 8-4-4-4-12 hexadecimal digits)");
        uuid_lower(value, lower);
        return config_store_string(l, config_field_of(l, k), lower);
}

int config_secrets_parse_usage(struct load *l, const struct key_def *k, const char *value)
{
        for (size_t i = 0; i < sizeof(usage_names) / sizeof(usage_names[0]); i++) {
                if (strcmp(value, usage_names[i]) == 0) {
                        *(enum config_secret_usage *)config_field_of(l, k) =
                                (enum config_secret_usage)i;
                        return 0;
                }
        }
        return config_bad_value(l, k, value, "allowed: ceph, volume");
}

/* libvirt's <name> text: spaces are fine ("client.cinder secret"),
 * control characters cannot go into XML. */
int config_secrets_parse_usage_name(struct load *l, const struct key_def *k, const char *value)
{
        size_t n = strlen(value);

        if (n == 0 || n > k->max || !config_printable(value, n, true))
                return config_bad_value(l, k, value,
                                        "not a usage name (allowed: 1 to %llu printable ASCII "
                                        "characters)",
                                        k->max);
        return config_store_string(l, config_field_of(l, k), value);
}

/* The keyring section is [TYPE.ID]; a bare ID would never be found. */
int config_secrets_parse_entity(struct load *l, const struct key_def *k, const char *value)
{
        const char *dot = strchr(value, '.');

        if (!config_name_ok(value, strlen(value), k->max))
                return config_parse_name(l, k, value); /* says what is allowed */
        if (!dot)
                return config_bad_value(l, k, value,
                                        "give the full cephx entity name (entity = client.%s)",
                                        value);
        if (dot == value || dot[1] == '\0')
                return config_bad_value(l, k, value,
                                        "not a cephx entity name TYPE.ID (e.g. "
                                        "client.cinder)");
        return config_store_string(l, config_field_of(l, k), value);
}

/* A [secret:NAME] gets its config->secrets entry at the header, so its keys
 * have somewhere to go; one that cannot be kept has its keys skipped. */
void config_secrets_enter(struct load *l, const char *name, size_t n)
{
        struct config *c = l->config;
        struct config_secret *secret;

        l->section = SECTION_UNKNOWN;
        if (!config_name_ok(name, n, MAX_SECRET_NAME)) {
                config_problem(l, l->lineno,
                               "[" SECRET_PREFIX
                               "%.*s]: not a valid secret name (allowed: " NAME_RULE ")",
                               (int)n, name, (unsigned long long)MAX_SECRET_NAME);
                return;
        }
        if (c->n_secrets == CONFIG_MAX_SECRETS) {
                config_problem(l, l->lineno,
                               "[" SECRET_PREFIX "%.*s]: more than %d [secret:*] sections", (int)n,
                               name, CONFIG_MAX_SECRETS);
                return;
        }
        for (size_t i = 0; i < c->n_secrets; i++) {
                if (strlen(c->secrets[i].name) == n && memcmp(c->secrets[i].name, name, n) == 0) {
                        config_problem(l, l->lineno,
                                       "duplicate section [" SECRET_PREFIX
                                       "%.*s] (first at line %u)",
                                       (int)n, name, c->secrets[i].line);
                        break;
                }
        }
        secret = &c->secrets[c->n_secrets];
        secret->name = strndup(name, n);
        if (!secret->name) {
                l->error = -ENOMEM;
                return;
        }
        secret->line = l->lineno;
        c->n_secrets++;
        if (!l->section_lines[SECTION_SECRET])
                l->section_lines[SECTION_SECRET] = l->lineno;
        l->section = SECTION_SECRET;
        snprintf(l->section_label, sizeof(l->section_label), SECRET_PREFIX "%s", secret->name);
}

static unsigned secret_line(const struct load *l, size_t i, enum key_id id)
{
        return l->secret_keys[i].lines[id - KEY_SECRET_FIRST];
}

static bool secret_bad(const struct load *l, size_t i, enum key_id id)
{
        return l->secret_keys[i].bad[id - KEY_SECRET_FIRST];
}

/* The key that holds secret i's usage id when it is usable: usage good,
 * that key set and good, the other usage's key absent; else N_KEYS. */
static enum key_id secret_usage_key(const struct load *l, size_t i)
{
        enum key_id found = N_KEYS;

        if (!secret_line(l, i, KEY_SECRET_USAGE) || secret_bad(l, i, KEY_SECRET_USAGE))
                return N_KEYS;
        for (size_t u = 0; u < sizeof(usage_keys) / sizeof(usage_keys[0]); u++) {
                enum key_id id = usage_keys[u].key;

                if (!secret_line(l, i, id))
                        continue;
                if (usage_keys[u].usage != l->config->secrets[i].usage || secret_bad(l, i, id))
                        return N_KEYS;
                found = id;
        }
        return found;
}

static void check_secret_usage(struct load *l, size_t i)
{
        const struct config_secret *s = &l->config->secrets[i];

        if (!secret_line(l, i, KEY_SECRET_USAGE) || secret_bad(l, i, KEY_SECRET_USAGE))
                return;
        for (size_t u = 0; u < sizeof(usage_keys) / sizeof(usage_keys[0]); u++) {
                enum key_id id = usage_keys[u].key;
                const char *owner = usage_names[usage_keys[u].usage];

                if (usage_keys[u].usage != s->usage && secret_line(l, i, id))
                        config_problem(l, secret_line(l, i, id), "%s is only used by usage = %s",
                                       config_keys[id].name, owner);
                else if (usage_keys[u].usage == s->usage && !secret_line(l, i, id))
                        config_problem(l, s->line,
                                       "missing key '%s' in [" SECRET_PREFIX
                                       "%s] (required by usage = %s)",
                                       config_keys[id].name, s->name, owner);
        }
}

/* Exactly one place the value comes from. */
static void check_secret_source(struct load *l, size_t i)
{
        const struct config_secret *s = &l->config->secrets[i];
        unsigned keyring = secret_line(l, i, KEY_SECRET_KEYRING);
        unsigned key_file = secret_line(l, i, KEY_SECRET_KEY_FILE);
        unsigned entity = secret_line(l, i, KEY_SECRET_ENTITY);

        if (keyring && key_file)
                config_problem(l, keyring > key_file ? keyring : key_file,
                               "keyring and key_file are mutually exclusive (set only one)");
        else if (!keyring && !key_file)
                config_problem(l, s->line,
                               "missing value source in [" SECRET_PREFIX
                               "%s] (set keyring and entity, or key_file)",
                               s->name);
        if (keyring && !entity)
                config_problem(l, s->line,
                               "missing key 'entity' in [" SECRET_PREFIX
                               "%s] (required by keyring)",
                               s->name);
        if (entity && !keyring)
                config_problem(l, entity, "entity is only used with keyring");
}

/* libvirt holds one secret per UUID and one per usage id; two sections
 * claiming one would undo each other at every reconcile. */
static void check_secret_unique(struct load *l, size_t i)
{
        const struct config_secret *s = &l->config->secrets[i];
        enum key_id usage_key = secret_usage_key(l, i);
        bool uuid_done = !s->uuid, usage_done = usage_key == N_KEYS;

        for (size_t j = 0; j < i && !(uuid_done && usage_done); j++) {
                const struct config_secret *t = &l->config->secrets[j];

                if (!uuid_done && t->uuid && strcmp(s->uuid, t->uuid) == 0) {
                        config_problem(l, secret_line(l, i, KEY_SECRET_UUID),
                                       "uuid '%s' is already used by [" SECRET_PREFIX
                                       "%s] (line %u)",
                                       s->uuid, t->name, t->line);
                        uuid_done = true;
                }
                if (!usage_done && secret_usage_key(l, j) != N_KEYS && s->usage == t->usage &&
                    strcmp(s->usage_id, t->usage_id) == 0) {
                        config_problem(l, secret_line(l, i, usage_key),
                                       "%s '%s' is already used by [" SECRET_PREFIX
                                       "%s] (line %u); libvirt keeps one secret per usage",
                                       config_keys[usage_key].name, s->usage_id, t->name, t->line);
                        usage_done = true;
                }
        }
}

void config_secrets_check(struct load *l)
{
        const struct config *c = l->config;

        if (!config_section_in_role(l, SECTION_SECRET))
                return;
        for (size_t i = 0; i < c->n_secrets; i++) {
                for (int id = KEY_SECRET_FIRST; id < N_KEYS; id++)
                        if (config_keys[id].required && !secret_line(l, i, (enum key_id)id))
                                config_problem(l, c->secrets[i].line,
                                               "missing required key '%s' in [" SECRET_PREFIX "%s]",
                                               config_keys[id].name, c->secrets[i].name);
                check_secret_usage(l, i);
                check_secret_source(l, i);
                check_secret_unique(l, i);
        }
}

/* What role_compute reads a [secret:NAME] value from. */
void config_secrets_check_files(struct load *l)
{
        static const struct env_check keyring = {KEY_SECRET_KEYRING, "keyring", false, R_OK,
                                                 "readable", false};
        const struct config *c = l->config;
        struct stat st;

        for (size_t i = 0; i < c->n_secrets; i++) {
                const struct config_secret *s = &c->secrets[i];
                unsigned line = secret_line(l, i, KEY_SECRET_KEY_FILE);

                if (s->keyring)
                        config_check_path(l, &keyring, secret_line(l, i, KEY_SECRET_KEYRING),
                                          s->keyring);
                if (!s->key_file ||
                    !config_check_private_file(l, line, "key file", s->key_file, &st))
                        continue;
                if (st.st_size == 0 || st.st_size > MAX_KEY_FILE_BYTES)
                        config_problem(l, line, "key file %s is %lld bytes (allowed: 1..%d)",
                                       s->key_file, (long long)st.st_size, MAX_KEY_FILE_BYTES);
                else if (access(s->key_file, R_OK) < 0)
                        config_problem(l, line, "key file %s is not readable: %s", s->key_file,
                                       strerror(errno));
        }
}

const char *config_secret_usage_name(enum config_secret_usage usage)
{
        if ((size_t)usage >= sizeof(usage_names) / sizeof(usage_names[0]))
                return "unknown";
        return usage_names[usage];
}
