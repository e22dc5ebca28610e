/* Unit tests for agent/config/: [luks]: kdf and keyslot_writer, and the kdf
 * each key provider gets by default.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <stdbool.h>

TEST(config_kdf)
{
        struct config_problems p = {0};
        struct config *c;

        REQUIRE(load_text(MINIMAL "[luks]\nkdf = fast\n", &c, &p) == 0);
        CHECK(c->kdf_fast && c->iterations == 1000 && c->iter_time_ms == 0);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkdf = standard\niterations = 5000\n", &c, &p) == 0);
        CHECK(!c->kdf_fast && c->iterations == 5000 && c->iter_time_ms == 0);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkdf = standard\n", &c, &p) == 0);
        CHECK(!c->kdf_fast && c->iterations == 0 && c->iter_time_ms == 2000);
        CHECK(!c->keyslot_by_libcryptsetup);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkeyslot_writer = libcryptsetup\n", &c, &p) == 0);
        CHECK(c->keyslot_by_libcryptsetup);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkeyslot_writer = agent\n", &c, &p) == 0);
        CHECK(!c->keyslot_by_libcryptsetup);
        config_free(c);
        config_problems_clear(&p);
}

/* No kdf line: fast for the metadata provider's own 256-bit keys, unless
 * a count or time is asked for; standard for file keys. -1: not checked. */
TEST(config_kdf_default)
{
        static const struct {
                const char *text;
                bool fast;
                long iterations, iter_time_ms;
        } rows[] = {
                {METADATA, true, 1000, 0},
                {METADATA "[luks]\niter_time_ms = 500\n", false, 0, 500},
                {METADATA "[luks]\niterations = 5000\n", false, 5000, -1},
                {METADATA "[luks]\nkdf = standard\n", false, -1, 2000},
                {MINIMAL, false, -1, 2000},
        };

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct config_problems p = {0};
                struct config *c;

                REQUIRE(load_text(rows[i].text, &c, &p) == 0);
                CHECK(c->kdf_fast == rows[i].fast);
                CHECK(rows[i].iterations < 0 || c->iterations == (unsigned)rows[i].iterations);
                CHECK(rows[i].iter_time_ms < 0 ||
                      c->iter_time_ms == (unsigned)rows[i].iter_time_ms);
                config_free(c);
                config_problems_clear(&p);
        }
}
