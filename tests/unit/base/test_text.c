/* Tests for base/text.c: the portable filename character set. */
#include "base/text.h"
#include "../unit.h"

#include <string.h>

TEST(text_portable_names)
{
        static const char *const good[] = {"cinder", "client.cinder", "volumes-ssd_2", "A.b-C_9",
                                           "-", "."};
        static const char *const bad[] = {"a b", "a/b", "a:b", "caf\xc3\xa9", "a\nb", "a\tb",
                                          "$x", "a*", "[x]", "a\\b"};

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                CHECK(text_is_portable(good[i], strlen(good[i])));
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK(!text_is_portable(bad[i], strlen(bad[i])));
        CHECK(text_is_portable("", 0));
        /* Only the n bytes named count: a NUL or anything after is not read. */
        CHECK(text_is_portable("ab c", 2));
        CHECK(!text_is_portable("a\0b", 3));
}
