/* config_values: the value parsers config_keys[] names, one per kind of
 * value (numbers, sizes, paths, names, the name lists of [volume], the
 * choices of [agent], [keys] and [luks]), and the few tables they read.
 * Each takes the key's text as the file gives it, stores it in the struct
 * config field the key names, or reports what is wrong through
 * config_bad_value() (config_internal.h) and returns -EINVAL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"
#include "base/text.h"
#include "luks/luks.h" /* LUKS_PBKDF2_MIN_ITERATIONS; declarations only */

/* qemu's LUKS driver opens these; cryptsetup takes cipher and mode apart. */
static const struct {
        const char *spec, *cipher, *mode;
} ciphers[] = {
        {"aes-xts-plain64", "aes", "xts-plain64"},
        {"serpent-xts-plain64", "serpent", "xts-plain64"},
        {"twofish-xts-plain64", "twofish", "xts-plain64"},
        {"aes-cbc-essiv:sha256", "aes", "cbc-essiv:sha256"},
};

static const char *const hashes[] = {"sha1", "sha256", "sha512"};

static const char *const provider_names[] = {
        [KEY_PROVIDER_FILE] = "file",
        [KEY_PROVIDER_COMMAND] = "command",
        [KEY_PROVIDER_METADATA] = "metadata",
};

static const char *const role_names[] = {
        [ROLE_VOLUME] = "volume",
        [ROLE_COMPUTE] = "compute",
};

/* ---- value parsers ------------------------------------------------------ */

void *config_field_of(struct load *l, const struct key_def *k)
{
        struct config *c = l->config;

        if (k->section == SECTION_SECRET)
                return (char *)&c->secrets[c->n_secrets - 1] + k->offset;
        return (char *)c + k->offset;
}

int config_store_string(struct load *l, char **field, const char *value)
{
        char *copy = strdup(value);

        if (!copy) {
                l->error = -ENOMEM;
                return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
}

/* Decimal only: a sign, hex or trailing text is more likely a typo than intent. */
int config_parse_number(struct load *l, const struct key_def *k, const char *value,
                        unsigned long long *ret)
{
        unsigned long long n;
        char range[48];
        char *end;

        if (k->range)
                snprintf(range, sizeof(range), "%s", k->range);
        else
                snprintf(range, sizeof(range), "%llu..%llu", k->min, k->max);
        if (value[0] < '0' || value[0] > '9')
                return config_bad_value(l, k, value, "not a decimal number (allowed: %s)", range);
        errno = 0;
        n = strtoull(value, &end, 10);
        if (*end != '\0')
                return config_bad_value(l, k, value, "not a decimal number (allowed: %s)", range);
        if (errno == ERANGE || n < k->min || n > k->max)
                return config_bad_value(l, k, value, "out of range (allowed: %s)", range);
        *ret = n;
        return 0;
}

int config_parse_unsigned(struct load *l, const struct key_def *k, const char *value)
{
        unsigned long long n;
        int r = config_parse_number(l, k, value, &n);

        if (r == 0)
                *(unsigned *)config_field_of(l, k) = (unsigned)n;
        return r;
}

int config_parse_size(struct load *l, const struct key_def *k, const char *value)
{
        unsigned long long n;
        int r = config_parse_number(l, k, value, &n);

        if (r == 0)
                *(size_t *)config_field_of(l, k) = (size_t)n;
        return r;
}

/* The agent runs from / under systemd; a relative path would mean nothing. */
int config_parse_path(struct load *l, const struct key_def *k, const char *value)
{
        if (value[0] != '/')
                return config_bad_value(l, k, value, "must be an absolute path");
        return config_store_string(l, config_field_of(l, k), value);
}

/* Ceph user, pool and image names and volume type ids: what needs no quoting
 * anywhere (rbd specs, log lines, file names). */
bool config_name_ok(const char *s, size_t n, size_t max)
{
        return n > 0 && n <= max && text_is_portable(s, n);
}

int config_parse_name(struct load *l, const struct key_def *k, const char *value)
{
        if (!config_name_ok(value, strlen(value), k->max))
                return config_bad_value(l, k, value, "not a valid name (allowed: " NAME_RULE ")",
                                        k->max);
        return config_store_string(l, config_field_of(l, k), value);
}

/* ceph.conf and keyrings say "client.cinder", librados wants "cinder". */
int config_parse_client(struct load *l, const struct key_def *k, const char *value)
{
        if (strncmp(value, "client.", strlen("client.")) == 0)
                return config_bad_value(l, k, value,
                                        "give the cephx user without \"client.\" (client = %s)",
                                        value + strlen("client."));
        return config_parse_name(l, k, value);
}

int config_parse_role(struct load *l, const struct key_def *k, const char *value)
{
        for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
                if (strcmp(value, role_names[i]) == 0) {
                        l->config->role = (enum agent_role)i;
                        return 0;
                }
        }
        return config_bad_value(l, k, value, "allowed: volume, compute");
}

/* A key with two words for a bool field: first sets first_means, second
 * its opposite; the error lists them in that order. */
static int parse_two_words(struct load *l, const struct key_def *k, const char *value,
                           const char *first, bool first_means, const char *second)
{
        bool *field = config_field_of(l, k);

        if (strcmp(value, first) == 0)
                *field = first_means;
        else if (strcmp(value, second) == 0)
                *field = !first_means;
        else
                return config_bad_value(l, k, value, "allowed: %s, %s", first, second);
        return 0;
}

int config_parse_bool(struct load *l, const struct key_def *k, const char *value)
{
        return parse_two_words(l, k, value, "yes", true, "no");
}

/* n bytes of s are printable ASCII; spaces too when spaces_ok. */
bool config_printable(const char *s, size_t n, bool spaces_ok)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] < (spaces_ok ? ' ' : '!') || s[i] > '~')
                        return false;
        return true;
}

/* One printable word ([amqp] vhost and user, [compute] sasl_user): the
 * other end allows almost anything, the log lines we write it into want
 * one word. */
int config_parse_word(struct load *l, const struct key_def *k, const char *value)
{
        size_t n = strlen(value);

        if (n == 0 || n > k->max || !config_printable(value, n, false))
                return config_bad_value(l, k, value,
                                        "allowed: 1 to %llu printable ASCII characters, no spaces",
                                        k->max);
        return config_store_string(l, config_field_of(l, k), value);
}

int config_parse_log_level(struct load *l, const struct key_def *k, const char *value)
{
        if (log_level_from_string(value, &l->config->log_level) < 0)
                return config_bad_value(l, k, value, "allowed: error, warn, info, debug");
        return 0;
}

int config_parse_log_format(struct load *l, const struct key_def *k, const char *value)
{
        if (log_format_from_string(value, &l->config->log_format) < 0)
                return config_bad_value(l, k, value, "allowed: text, json");
        return 0;
}

int config_parse_provider(struct load *l, const struct key_def *k, const char *value)
{
        for (size_t i = 0; i < sizeof(provider_names) / sizeof(provider_names[0]); i++) {
                if (strcmp(value, provider_names[i]) == 0) {
                        l->config->key_provider = (enum key_provider_kind)i;
                        return 0;
                }
        }
        return config_bad_value(l, k, value, "allowed: file, command, metadata");
}

int config_parse_cipher(struct load *l, const struct key_def *k, const char *value)
{
        struct config *c = l->config;

        for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
                if (strcmp(value, ciphers[i].spec) != 0)
                        continue;
                if (config_store_string(l, &c->cipher, ciphers[i].cipher) < 0 ||
                    config_store_string(l, &c->cipher_mode, ciphers[i].mode) < 0)
                        return -ENOMEM;
                return 0;
        }
        return config_bad_value(
                l, k, value,
                "allowed: aes-xts-plain64, serpent-xts-plain64, twofish-xts-plain64, "
                "aes-cbc-essiv:sha256");
}

int config_parse_hash(struct load *l, const struct key_def *k, const char *value)
{
        for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
                if (strcmp(value, hashes[i]) == 0)
                        return config_store_string(l, config_field_of(l, k), value);
        return config_bad_value(l, k, value, "allowed: sha1, sha256, sha512");
}

/* kdf = fast: the minimum count (bool kdf_fast). */
int config_parse_kdf(struct load *l, const struct key_def *k, const char *value)
{
        return parse_two_words(l, k, value, "standard", false, "fast");
}

/* deleted_keys = shred (bool shred_deleted_keys). */
int config_parse_deleted_keys(struct load *l, const struct key_def *k, const char *value)
{
        return parse_two_words(l, k, value, "keep", false, "shred");
}

/* keyslot_writer = libcryptsetup (bool keyslot_by_libcryptsetup). */
int config_parse_keyslot_writer(struct load *l, const struct key_def *k, const char *value)
{
        return parse_two_words(l, k, value, "agent", false, "libcryptsetup");
}

void config_trim_blanks(const char **s, size_t *n)
{
        while (*n > 0 && (**s == ' ' || **s == '\t'))
                (*s)++, (*n)--;
        while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
                (*n)--;
}

/* A comma-separated list of names ([volume] types, [volume] backends):
 * where it goes, how many it may hold and what its items are called. */
struct name_list {
        char **items;
        size_t *n;
        size_t max;
        const char *what;   /* "volume type id", "backend name" */
        const char *plural; /* "volume types", "backends" */
};

static void name_list_clear(const struct name_list *list)
{
        while (*list->n > 0)
                free(list->items[--*list->n]);
}

/* One element, trimmed of blanks around the commas. */
static int add_name(struct load *l, const struct key_def *k, const char *value,
                    const struct name_list *list, const char *s, size_t n)
{
        config_trim_blanks(&s, &n);
        if (n == 0)
                return config_bad_value(l, k, value, "empty %s in the list", list->what);
        if (n == 1 && *s == '*')
                return config_bad_value(l, k, value, "* must stand alone");
        if (!config_name_ok(s, n, MAX_TYPE_ID))
                return config_bad_value(l, k, value,
                                        "'%.*s' is not a valid %s (allowed: " NAME_RULE ")",
                                        (int)n, s, list->what, (unsigned long long)MAX_TYPE_ID);
        if (*list->n == list->max)
                return config_bad_value(l, k, value, "more than %zu %s", list->max, list->plural);
        list->items[*list->n] = strndup(s, n);
        if (!list->items[*list->n]) {
                l->error = -ENOMEM;
                return -ENOMEM;
        }
        (*list->n)++;
        return 0;
}

/* All or nothing: half a list would act on the wrong volumes. */
static int parse_name_list(struct load *l, const struct key_def *k, const char *value,
                           const struct name_list *list)
{
        const char *p = value;
        int r;

        name_list_clear(list);
        for (;;) {
                const char *comma = strchrnul(p, ',');

                r = add_name(l, k, value, list, p, (size_t)(comma - p));
                if (r < 0 || *comma == '\0')
                        break;
                p = comma + 1;
        }
        if (r < 0)
                name_list_clear(list);
        return r;
}

int config_parse_types(struct load *l, const struct key_def *k, const char *value)
{
        struct config *c = l->config;
        const struct name_list list = {c->types, &c->n_types, CONFIG_MAX_TYPES,
                                       "volume type id", "volume types"};

        /* [volume] and [compute] share the list; the file holds one of them. */
        name_list_clear(&list);
        c->all_types = strcmp(value, "*") == 0;
        if (c->all_types)
                return 0;
        return parse_name_list(l, k, value, &list);
}

int config_parse_backends(struct load *l, const struct key_def *k, const char *value)
{
        struct config *c = l->config;
        const struct name_list list = {c->backends, &c->n_backends, CONFIG_MAX_BACKENDS,
                                       "backend name", "backends"};

        return parse_name_list(l, k, value, &list);
}

int config_parse_zones(struct load *l, const struct key_def *k, const char *value)
{
        struct config *c = l->config;
        const struct name_list list = {c->zones, &c->n_zones, CONFIG_MAX_ZONES,
                                       "availability zone name", "availability zones"};

        return parse_name_list(l, k, value, &list);
}

int config_parse_on_raw_disk(struct load *l, const struct key_def *k, const char *value)
{
        if (strcmp(value, "pause") == 0 || strcmp(value, "alert") == 0) {
                l->config->raw_disk_alert_only = strcmp(value, "alert") == 0;
                return 0;
        }
        return config_bad_value(l, k, value, "allowed: pause, alert");
}

static bool old_kek_listed(const struct config *c, const char *id, size_t n)
{
        for (size_t i = 0; i < c->n_old_keks; i++)
                if (strlen(c->old_kek_ids[i]) == n && memcmp(c->old_kek_ids[i], id, n) == 0)
                        return true;
        return false;
}

/* One "ID:PATH" of old_keks, trimmed of blanks around the commas and the
 * colon. The id cannot hold ':', so the first one ends it; a path may not
 * hold ',' (it ends the entry). */
static int add_old_kek(struct load *l, const struct key_def *k, const char *value,
                       const char *s, size_t n)
{
        struct config *c = l->config;
        const char *colon, *id, *path;
        size_t id_len, path_len;

        config_trim_blanks(&s, &n);
        if (n == 0)
                return config_bad_value(l, k, value, "empty entry in the list");
        colon = memchr(s, ':', n);
        if (!colon)
                return config_bad_value(l, k, value, "'%.*s' is not ID:PATH", (int)n, s);
        id = s;
        id_len = (size_t)(colon - s);
        path = colon + 1;
        path_len = n - id_len - 1;
        config_trim_blanks(&id, &id_len);
        config_trim_blanks(&path, &path_len);
        if (!config_name_ok(id, id_len, MAX_KEK_ID))
                return config_bad_value(l, k, value,
                                        "'%.*s' is not a valid KEK id (allowed: " NAME_RULE ")",
                                        (int)id_len, id, (unsigned long long)MAX_KEK_ID);
        if (path_len == 0 || path[0] != '/')
                return config_bad_value(l, k, value, "'%.*s': KEK file must be an absolute path",
                                        (int)n, s);
        if (old_kek_listed(c, id, id_len))
                return config_bad_value(l, k, value, "KEK id '%.*s' is listed twice", (int)id_len,
                                        id);
        if (c->n_old_keks == CONFIG_MAX_OLD_KEKS)
                return config_bad_value(l, k, value, "more than %d old KEKs", CONFIG_MAX_OLD_KEKS);
        c->old_kek_ids[c->n_old_keks] = strndup(id, id_len);
        c->old_kek_files[c->n_old_keks] = strndup(path, path_len);
        c->n_old_keks++; /* counted first, so config_free() frees a half-made pair */
        if (!c->old_kek_ids[c->n_old_keks - 1] || !c->old_kek_files[c->n_old_keks - 1]) {
                l->error = -ENOMEM;
                return -ENOMEM;
        }
        return 0;
}

/* Empty means no old KEKs: what is left once a rotation is over. */
int config_parse_old_keks(struct load *l, const struct key_def *k, const char *value)
{
        struct config *c = l->config;
        const char *p = value;
        int r = 0;

        while (*value != '\0') {
                const char *comma = strchrnul(p, ',');

                r = add_old_kek(l, k, value, p, (size_t)(comma - p));
                if (r < 0 || *comma == '\0')
                        break;
                p = comma + 1;
        }
        if (r < 0) {
                /* All or nothing, like types. */
                while (c->n_old_keks > 0) {
                        c->n_old_keks--;
                        free(c->old_kek_ids[c->n_old_keks]);
                        free(c->old_kek_files[c->n_old_keks]);
                        c->old_kek_ids[c->n_old_keks] = NULL;
                        c->old_kek_files[c->n_old_keks] = NULL;
                }
        }
        return r;
}


const char *config_role_name(enum agent_role role)
{
        if ((size_t)role >= sizeof(role_names) / sizeof(role_names[0]))
                return "unknown";
        return role_names[role];
}

const char *config_key_provider_name(enum key_provider_kind kind)
{
        if ((size_t)kind >= sizeof(provider_names) / sizeof(provider_names[0]))
                return "unknown";
        return provider_names[kind];
}

