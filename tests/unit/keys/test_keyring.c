/* Unit tests for keyring.c: cephx keys out of keyring files on disk. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "keys/keyring.h"
#include "../unit.h"

/* base64 of the bytes 1..28: the size of a real cephx key blob. */
#define KEY_B64 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA=="

static const char *write_file(const char *name, const char *text)
{
        static char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), name);
        f = fopen(path, "w");
        if (!f)
                return NULL;
        fputs(text, f);
        fclose(f);
        return path;
}

TEST(keyring_reads_the_entity_key_as_raw_bytes)
{
        const char *path = write_file("k", "[client.admin]\n\tkey = AAAAAAAAAAAAAAAAAAAAAA==\n"
                                           "[client.cinder]\n"
                                           "\tkey = " KEY_B64 "\r\n"
                                           "\tcaps mon = \"profile rbd\"\n");
        struct secret *key = NULL;
        const char *why = NULL;

        REQUIRE(path);
        REQUIRE(keyring_read_key(path, "client.cinder", &key, &why) == 0);
        REQUIRE(key->len == 28);
        for (unsigned i = 0; i < 28; i++)
                CHECK(key->data[i] == i + 1);
        secret_free(key);
}

TEST(keyring_missing_entity_file_or_bad_key)
{
        const char *path = write_file("k", "[client.cinder]\n\tkey = not*base64\n");
        struct secret *key = NULL;
        const char *why = NULL;

        REQUIRE(path);
        CHECK(keyring_read_key(path, "client.nova", &key, &why) == -ENOENT);
        CHECK(why && strstr(why, "has no key for [client.nova]"));
        CHECK(keyring_read_key(path, "client.cinder", &key, &why) == -EBADMSG);
        CHECK(why && strstr(why, "is not a cephx key"));
        CHECK(keyring_read_key("/nonexistent/keyring", "client.cinder", &key, &why) == -ENOENT);
        CHECK(key == NULL);
        /* A section name that only starts like the entity is another entity. */
        path = write_file("k2", "[client.cinder-backup]\nkey = " KEY_B64 "\n");
        REQUIRE(path);
        CHECK(keyring_read_key(path, "client.cinder", &key, &why) == -ENOENT);
}

TEST(keyring_refuses_a_huge_file)
{
        char big[KEYRING_MAX_BYTES + 100];
        struct secret *key = NULL;
        const char *path, *why = NULL;

        memset(big, '#', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        path = write_file("big", big);
        REQUIRE(path);
        CHECK(keyring_read_key(path, "client.cinder", &key, &why) == -EFBIG);
}
