/* config_amqp: the [amqp] section of the INI file, the broker the feed
 * command consumes notifications from (see config.h and config_internal.h).
 *
 * Its values, the ones that depend on each other (TLS, batch and
 * prefetch), what feed needs, and the password file on disk. Parsers return
 * 0 or a negative errno; problems go to the load's list (config_problem());
 * nothing here logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define MAX_ROUTING_KEY 255

/* What getaddrinfo takes without quoting: names, IPv4 and bare IPv6. */
int config_amqp_parse_host(struct load *l, const struct key_def *k, const char *value)
{
        size_t n = strlen(value);

        for (size_t i = 0; i < n; i++)
                if (!config_name_ok(value + i, 1, 1) && value[i] != ':')
                        n = 0;
        if (n == 0 || n > k->max)
                return config_bad_value(
                        l, k, value,
                        "not a host name or IP address (allowed: 1 to %llu characters "
                        "of A-Z a-z 0-9 _ . - :)",
                        k->max);
        return config_store_string(l, config_field_of(l, k), value);
}

/* The broker refuses to let clients declare "amq." queues. */
int config_amqp_parse_queue(struct load *l, const struct key_def *k, const char *value)
{
        if (strncmp(value, "amq.", 4) == 0)
                return config_bad_value(l, k, value,
                                        "names starting with \"amq.\" are reserved by "
                                        "the broker");
        return config_parse_name(l, k, value);
}

/* Topic binding keys: dot-separated words, with * and # as wildcards. */
static bool routing_key_ok(const char *s, size_t n)
{
        if (n == 0 || n > MAX_ROUTING_KEY)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!config_name_ok(s + i, 1, 1) && s[i] != '*' && s[i] != '#')
                        return false;
        return true;
}

void config_amqp_clear_routing_keys(struct config *c)
{
        while (c->n_amqp_routing_keys > 0) {
                c->n_amqp_routing_keys--;
                free(c->amqp_routing_keys[c->n_amqp_routing_keys]);
                c->amqp_routing_keys[c->n_amqp_routing_keys] = NULL;
        }
}

static int add_routing_key(struct load *l, const struct key_def *k, const char *value,
                           const char *s, size_t n)
{
        struct config *c = l->config;

        config_trim_blanks(&s, &n);
        if (n == 0)
                return config_bad_value(l, k, value, "empty routing key in the list");
        if (!routing_key_ok(s, n))
                return config_bad_value(
                        l, k, value,
                        "'%.*s' is not a routing key (allowed: 1 to %d characters of "
                        "A-Z a-z 0-9 _ . - * #)",
                        (int)n, s, MAX_ROUTING_KEY);
        for (size_t i = 0; i < c->n_amqp_routing_keys; i++)
                if (strlen(c->amqp_routing_keys[i]) == n &&
                    memcmp(c->amqp_routing_keys[i], s, n) == 0)
                        return config_bad_value(l, k, value, "routing key '%.*s' is listed twice",
                                                (int)n, s);
        if (c->n_amqp_routing_keys == CONFIG_MAX_ROUTING_KEYS)
                return config_bad_value(l, k, value, "more than %d routing keys",
                                        CONFIG_MAX_ROUTING_KEYS);
        c->amqp_routing_keys[c->n_amqp_routing_keys] = strndup(s, n);
        if (!c->amqp_routing_keys[c->n_amqp_routing_keys]) {
                l->error = -ENOMEM;
                return -ENOMEM;
        }
        c->n_amqp_routing_keys++;
        return 0;
}

/* All or nothing, like types: half a list would miss notifications. */
int config_amqp_parse_routing_keys(struct load *l, const struct key_def *k, const char *value)
{
        struct config *c = l->config;
        const char *p = value;
        int r;

        config_amqp_clear_routing_keys(c);
        for (;;) {
                const char *comma = strchrnul(p, ',');

                r = add_routing_key(l, k, value, p, (size_t)(comma - p));
                if (r < 0 || *comma == '\0')
                        break;
                p = comma + 1;
        }
        if (r < 0)
                config_amqp_clear_routing_keys(c);
        return r;
}

/* [amqp] values that depend on each other, and the port's default. */
void config_amqp_check(struct load *l)
{
        static const enum key_id tls_only[] = {KEY_AMQP_TLS_CA_FILE, KEY_AMQP_TLS_VERIFY};
        struct config *c = l->config;

        c->has_amqp = l->section_lines[SECTION_AMQP] != 0;
        if (!c->amqp_tls && !l->key_bad[KEY_AMQP_TLS])
                for (size_t i = 0; i < sizeof(tls_only) / sizeof(tls_only[0]); i++)
                        if (l->key_lines[tls_only[i]])
                                config_problem(l, l->key_lines[tls_only[i]],
                                               "%s is only used with tls = yes",
                                               config_keys[tls_only[i]].name);
        if (c->amqp_tls && !l->key_lines[KEY_AMQP_PORT])
                c->amqp_port = 5671; /* amqps */
        if (l->key_bad[KEY_AMQP_BATCH_MAX] || l->key_bad[KEY_AMQP_PREFETCH] ||
            c->amqp_batch_max <= c->amqp_prefetch)
                return;
        /* A group could never fill: the broker stops at prefetch unacked. */
        if (l->key_lines[KEY_AMQP_BATCH_MAX])
                config_problem(l, l->key_lines[KEY_AMQP_BATCH_MAX],
                               "batch_max = '%u': must not be more than prefetch (%u)",
                               c->amqp_batch_max, c->amqp_prefetch);
        else
                config_problem(l, l->key_lines[KEY_AMQP_PREFETCH],
                               "prefetch = '%u': must not be less than batch_max (%u)",
                               c->amqp_prefetch, c->amqp_batch_max);
}

/* What only the feed command needs; other commands never look at them. */
void config_amqp_check_feed(struct load *l)
{
        static const enum key_id needed[] = {KEY_AMQP_USER, KEY_AMQP_PASSWORD_FILE};
        unsigned line = l->section_lines[SECTION_AMQP];

        if (!line) {
                config_problem(l, 0,
                               "missing section [amqp] (required by feed: user, password_file)");
                return;
        }
        for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
                if (!l->key_lines[needed[i]])
                        config_problem(l, line, "missing key '%s' in [amqp] (required by feed)",
                                       config_keys[needed[i]].name);
}

/* What the feeder's secretfile_read_password() insists on. */
void config_amqp_check_password_file(struct load *l)
{
        config_check_password_file(l, KEY_AMQP_PASSWORD_FILE);
}
