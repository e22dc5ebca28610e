/* Unit tests for agent/config/: [keys]: the metadata provider, its old KEKs
 * and their limit, and the provider names.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

TEST(config_metadata_with_old_keks)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(METADATA "old_keks =  kek-0:/etc/kek/kek-0.bin , old_1 : /k/old 1.bin\n",
                          &c, &p) == 0);
        CHECK(p.count == 0);
        CHECK(c->key_provider == KEY_PROVIDER_METADATA);
        CHECK(strcmp(c->kek_id, "kek-1") == 0);
        CHECK(strcmp(c->kek_file, "/etc/kek/kek-1.bin") == 0);
        REQUIRE(c->n_old_keks == 2);
        CHECK(strcmp(c->old_kek_ids[0], "kek-0") == 0);
        CHECK(strcmp(c->old_kek_files[0], "/etc/kek/kek-0.bin") == 0);
        CHECK(strcmp(c->old_kek_ids[1], "old_1") == 0);
        CHECK(strcmp(c->old_kek_files[1], "/k/old 1.bin") == 0);
        CHECK(c->old_kek_ids[2] == NULL && c->old_kek_files[2] == NULL);
        CHECK(c->key_directory == NULL && c->key_command == NULL);
        config_free(c);
        c = NULL;

        /* Once a rotation is over the list may be left empty; a path may hold ':'. */
        REQUIRE(load_text(METADATA "old_keks =\n", &c, &p) == 0);
        CHECK(c->n_old_keks == 0);
        config_free(c);
        c = NULL;
        REQUIRE(load_text(METADATA "old_keks = a.b_C-9:/k/a:b\n", &c, &p) == 0);
        CHECK(c->n_old_keks == 1 && strcmp(c->old_kek_ids[0], "a.b_C-9") == 0 &&
              strcmp(c->old_kek_files[0], "/k/a:b") == 0);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_metadata_problems_in_line_order)
{
        static const char text[] = AGENT CEPH VOLUME "[keys]\n"  /* 11 */
                                   "directory = /d\n"             /* 12 */
                                   "provider = metadata\n"        /* 13 */
                                   "old_keks = a:/a, a:/b\n";     /* 14 */
        struct config_problems p = {0};
        struct config *c = NULL;

        CHECK(load_text(text, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 4);
        CHECK(problem_is(&p, 0, ":11: missing key 'kek_id' in [keys] (required by provider = "
                                "metadata)"));
        CHECK(problem_is(&p, 1, ":11: missing key 'kek_file' in [keys] (required by provider = "
                                "metadata)"));
        CHECK(problem_is(&p, 2, ":12: directory is only used by provider = file"));
        CHECK(problem_is(&p, 3, ":14: old_keks = 'a:/a, a:/b': KEK id 'a' is listed twice"));
        config_problems_clear(&p);
}

/* METADATA with old_keks = k0:/k/0,k1:/k/1,... */
static int load_old_keks(unsigned n, struct config **ret, struct config_problems *p)
{
        char text[2048] = METADATA "old_keks = ";
        size_t len = strlen(text);

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%sk%u:/k/%u",
                                        i ? "," : "", i, i);
        snprintf(text + len, sizeof(text) - len, "\n");
        return load_text(text, ret, p);
}

TEST(config_old_keks_limit)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_old_keks(CONFIG_MAX_OLD_KEKS, &c, &p) == 0);
        CHECK(c->n_old_keks == CONFIG_MAX_OLD_KEKS);
        CHECK(strcmp(c->old_kek_ids[15], "k15") == 0 &&
              strcmp(c->old_kek_files[15], "/k/15") == 0);
        config_free(c);
        c = NULL;

        CHECK(load_old_keks(CONFIG_MAX_OLD_KEKS + 1, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 1 && strstr(p.lines[0], ":15: old_keks = 'k0:/k/0,k1:/k/1,") &&
              strstr(p.lines[0], ",k16:/k/16': more than 16 old KEKs"));
        config_problems_clear(&p);
}

TEST(config_key_provider_name)
{
        CHECK(strcmp(config_key_provider_name(KEY_PROVIDER_FILE), "file") == 0);
        CHECK(strcmp(config_key_provider_name(KEY_PROVIDER_COMMAND), "command") == 0);
        CHECK(strcmp(config_key_provider_name(KEY_PROVIDER_METADATA), "metadata") == 0);
        CHECK(strcmp(config_key_provider_name((enum key_provider_kind)42), "unknown") == 0);
}
