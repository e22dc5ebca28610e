/* config_checks: the checks across keys once the file is read
 * (config_internal.h): the sections the role allows, the required keys,
 * and what spans several keys of [keys] (the provider's own keys, old KEK
 * ids), [luks] (key size, the key derivation's time or iterations) and
 * [retry]. Each reports through config_problem(); nothing here logs. */
#include "config_internal.h"

#include <string.h>

#include "luks/luks.h" /* LUKS_PBKDF2_MIN_ITERATIONS; declarations only */

/* Which provider each provider-specific key belongs to; the others refuse it. */
static const struct {
        enum key_id key;
        enum key_provider_kind provider;
        bool required;
} provider_keys[] = {
        {KEY_KEY_DIRECTORY, KEY_PROVIDER_FILE, true},
        {KEY_KEY_COMMAND, KEY_PROVIDER_COMMAND, true},
        {KEY_COMMAND_TIMEOUT_MS, KEY_PROVIDER_COMMAND, false},
        {KEY_KEK_ID, KEY_PROVIDER_METADATA, true},
        {KEY_KEK_FILE, KEY_PROVIDER_METADATA, true},
        {KEY_OLD_KEKS, KEY_PROVIDER_METADATA, false},
};

static bool role_known(const struct load *l)
{
        return l->key_lines[KEY_ROLE] && !l->key_bad[KEY_ROLE];
}

/* The role a section belongs to, or -1 when every role uses it. */
static int section_role(int s)
{
        switch (s) {
        case SECTION_VOLUME:
                return ROLE_VOLUME;
        case SECTION_COMPUTE:
        case SECTION_SECRET:
                return ROLE_COMPUTE;
        default:
                return -1;
        }
}

/* A section of another role (or of a role not known) is reported once at
 * its header; what it lacks or holds beyond single values is not. */
bool config_section_in_role(const struct load *l, int s)
{
        int role = section_role(s);

        return role < 0 || (role_known(l) && role == (int)l->config->role);
}

void config_check_roles(struct load *l)
{
        const struct config *c = l->config;

        if (!role_known(l))
                return;
        for (int s = 0; s < SECTION_SECRET; s++)
                if (l->section_lines[s] && !config_section_in_role(l, s))
                        config_problem(l, l->section_lines[s], "[%s] is only used by role = %s",
                                       config_section_names[s],
                                       config_role_name((enum agent_role)section_role(s)));
        if (config_section_in_role(l, SECTION_SECRET))
                return;
        for (size_t i = 0; i < c->n_secrets; i++)
                config_problem(l, c->secrets[i].line,
                               "[" SECRET_PREFIX "%s] is only used by role = compute",
                               c->secrets[i].name);
}

/* [secret:NAME] keys are checked per section by config_secrets_check(). */
void config_check_required(struct load *l)
{
        for (int s = 0; s < SECTION_SECRET; s++) {
                char list[200] = "";

                if (!config_section_in_role(l, s))
                        continue;
                for (int i = 0; i < N_KEYS; i++) {
                        if ((int)config_keys[i].section != s || !config_keys[i].required)
                                continue;
                        if (l->section_lines[s] && !l->key_lines[i])
                                config_problem(l, l->section_lines[s],
                                               "missing required key '%s' in [%s]",
                                               config_keys[i].name, config_section_names[s]);
                        if (!l->section_lines[s])
                                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                         list[0] ? ", " : "", config_keys[i].name);
                }
                if (!l->section_lines[s] && list[0])
                        config_problem(l, 0, "missing section [%s] (required: %s)",
                                       config_section_names[s], list);
        }
}

/* Two KEKs under one id would make a record's "kek" field ambiguous. */
static void check_old_kek_ids(struct load *l)
{
        const struct config *c = l->config;

        if (!c->kek_id || l->key_bad[KEY_KEK_ID] || l->key_bad[KEY_OLD_KEKS])
                return;
        for (size_t i = 0; i < c->n_old_keks; i++) {
                if (strcmp(c->old_kek_ids[i], c->kek_id) != 0)
                        continue;
                config_problem(
                        l, l->key_lines[KEY_OLD_KEKS],
                        "old_keks: KEK id '%s' is already kek_id (each KEK needs an id of its "
                        "own)",
                        c->kek_id);
                l->key_bad[KEY_OLD_KEKS] = true;
        }
}

void config_check_provider(struct load *l)
{
        enum key_provider_kind kind = l->config->key_provider;

        if (!l->key_lines[KEY_PROVIDER] || l->key_bad[KEY_PROVIDER])
                return;
        for (size_t i = 0; i < sizeof(provider_keys) / sizeof(provider_keys[0]); i++) {
                enum key_id id = provider_keys[i].key;
                const char *owner = config_key_provider_name(provider_keys[i].provider);

                if (provider_keys[i].provider != kind) {
                        if (l->key_lines[id]) {
                                config_problem(l, l->key_lines[id],
                                               "%s is only used by provider = %s",
                                               config_keys[id].name, owner);
                                l->key_bad[id] = true;
                        }
                } else if (provider_keys[i].required && !l->key_lines[id]) {
                        config_problem(l, l->section_lines[SECTION_KEYS],
                                       "missing key '%s' in [keys] (required by provider = %s)",
                                       config_keys[id].name, owner);
                }
        }
        if (kind == KEY_PROVIDER_METADATA)
                check_old_kek_ids(l);
}

/* XTS splits the key in two halves, so it takes double the AES key size. */
static void check_key_bits(struct load *l)
{
        struct config *c = l->config;
        bool xts = strcmp(c->cipher_mode, "xts-plain64") == 0;
        unsigned b = c->key_bits;

        if (l->key_bad[KEY_CIPHER] || l->key_bad[KEY_KEY_BITS])
                return;
        if (!l->key_lines[KEY_KEY_BITS]) {
                c->key_bits = xts ? 512 : 256;
                return;
        }
        if (xts ? (b == 256 || b == 512) : (b == 128 || b == 192 || b == 256))
                return;
        config_problem(l, l->key_lines[KEY_KEY_BITS], "key_bits = '%u': %s-%s takes %s", b,
                       c->cipher, c->cipher_mode, xts ? "256 or 512" : "128, 192 or 256");
}

/* No kdf line: fast for the metadata provider, whose keys are 256 random
 * bits the agent made itself (stretching them slows nothing an attacker
 * could do, and costs about iter_time_ms on every attach and guest start),
 * unless iter_time_ms or iterations asks for a count; standard for keys
 * from files or commands, which may be weaker. */
static void default_kdf(struct load *l)
{
        if (l->key_lines[KEY_KDF] || l->key_lines[KEY_ITER_TIME_MS] ||
            l->key_lines[KEY_ITERATIONS])
                return;
        l->config->kdf_fast = l->config->key_provider == KEY_PROVIDER_METADATA;
}

void config_check_luks(struct load *l)
{
        unsigned time_line = l->key_lines[KEY_ITER_TIME_MS];
        unsigned count_line = l->key_lines[KEY_ITERATIONS];

        default_kdf(l);

        if (l->config->kdf_fast && (time_line || count_line)) {
                config_problem(
                        l, time_line ? time_line : count_line,
                        "kdf = fast sets the iteration count itself (the minimum, %u); remove %s",
                        LUKS_PBKDF2_MIN_ITERATIONS, time_line ? "iter_time_ms" : "iterations");
        } else if (l->config->kdf_fast) {
                l->config->iter_time_ms = 0;
                l->config->iterations = LUKS_PBKDF2_MIN_ITERATIONS;
        } else if (time_line && count_line) {
                config_problem(l, time_line > count_line ? time_line : count_line,
                               "iter_time_ms and iterations are mutually exclusive (set only one)");
        } else if (count_line) {
                l->config->iter_time_ms = 0; /* iterations stays 0 otherwise: calibrated later */
        }
        check_key_bits(l);
}

void config_check_retry(struct load *l)
{
        const struct config *c = l->config;

        if (l->key_bad[KEY_RETRY_INITIAL_MS] || l->key_bad[KEY_RETRY_MAX_MS] ||
            c->retry_max_ms >= c->retry_initial_ms)
                return;
        if (l->key_lines[KEY_RETRY_MAX_MS])
                config_problem(l, l->key_lines[KEY_RETRY_MAX_MS],
                               "max_ms = '%u': must not be less than initial_ms (%u)",
                               c->retry_max_ms, c->retry_initial_ms);
        else
                config_problem(l, l->key_lines[KEY_RETRY_INITIAL_MS],
                               "initial_ms = '%u': must not be more than max_ms (%u)",
                               c->retry_initial_ms, c->retry_max_ms);
}
