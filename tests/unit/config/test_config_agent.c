/* Unit tests for agent/config/: [agent]: health_interval, and the names of
 * roles and secret usages.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* [agent] health_interval: how often the daemons refresh state_dir/health. */
TEST(config_health_interval)
{
        static const struct {
                const char *value;
                const char *problem; /* NULL: accepted */
                unsigned want;
        } cases[] = {
                {"1", NULL, 1},
                {"3600", NULL, 3600},
                {"0", ":5: health_interval = '0': out of range (allowed: 1..3600)", 0},
                {"3601", ":5: health_interval = '3601': out of range (allowed: 1..3600)", 0},
                {"10s", ":5: health_interval = '10s': not a decimal number (allowed: 1..3600)",
                 0},
                {"-1", ":5: health_interval = '-1': not a decimal number (allowed: 1..3600)", 0},
        };
        char text[1024];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct config_problems p = {0};
                struct config *c = NULL;
                int r;

                snprintf(text, sizeof(text), AGENT "health_interval = %s\n" CEPH VOLUME KEYS,
                         cases[i].value);
                r = load_text(text, &c, &p);
                if (!cases[i].problem) {
                        CHECK(r == 0 && c && c->health_interval_s == cases[i].want);
                } else {
                        CHECK(r == -EINVAL && !c && p.count == 1);
                        CHECK(problem_is(&p, 0, cases[i].problem));
                }
                config_free(c);
                config_problems_clear(&p);
        }
}

TEST(config_role_and_usage_names)
{
        CHECK(strcmp(config_role_name(ROLE_VOLUME), "volume") == 0);
        CHECK(strcmp(config_role_name(ROLE_COMPUTE), "compute") == 0);
        CHECK(strcmp(config_role_name((enum agent_role)42), "unknown") == 0);
        CHECK(strcmp(config_secret_usage_name(CONFIG_SECRET_CEPH), "ceph") == 0);
        CHECK(strcmp(config_secret_usage_name(CONFIG_SECRET_VOLUME), "volume") == 0);
        CHECK(strcmp(config_secret_usage_name((enum config_secret_usage)42), "unknown") == 0);
}
