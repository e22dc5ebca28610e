/* config_test: the helpers the tests of agent/config/ share (config_test.h). */
#include "config_test.h"
#include "../unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char cfg_path[512];

const char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
        static char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        if (!f)
                abort();
        fwrite(data, 1, len, f);
        fclose(f);
        return path;
}

int load_bytes(const void *data, size_t len, bool check_env, struct config **ret,
               struct config_problems *p)
{
        snprintf(cfg_path, sizeof(cfg_path), "%s",
                 write_file(unit_tmpdir(), "agent.ini", data, len));
        return config_load(cfg_path, check_env, ret, p);
}

int load_text(const char *text, struct config **ret, struct config_problems *p)
{
        return load_bytes(text, strlen(text), false, ret, p);
}

/* Problem i is cfg_path followed by suffix (":LINE: message"). */
bool problem_is(const struct config_problems *p, size_t i, const char *suffix)
{
        char want[4096];

        snprintf(want, sizeof(want), "%s%s", cfg_path, suffix);
        if (i < p->count && strcmp(p->lines[i], want) == 0)
                return true;
        fprintf(stderr, "    problem %zu\n    want: %s\n    got:  %s\n", i, want,
                i < p->count ? p->lines[i] : "(none)");
        return false;
}

/* Some problem line contains text. */
bool has_problem(const struct config_problems *p, const char *text)
{
        for (size_t i = 0; i < p->count; i++)
                if (strstr(p->lines[i], text))
                        return true;
        return false;
}

void print_problems(const struct config_problems *p)
{
        for (size_t i = 0; i < p->count; i++)
                fprintf(stderr, "    %s\n", p->lines[i]);
}
