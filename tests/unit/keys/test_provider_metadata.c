/* Unit tests for keys/provider_metadata.c that need no Ceph: a key generated with
 * its record in memory, nothing stored until keys_store (the format path
 * derives the key slot before it knows the image is blank). Storing and
 * reading records on real images: tests/integration/ceph_keys.sh. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "keys/keys_provider.h"
#include "base/reason.h"
#include "../unit.h"

#define VOLUME "0b6f2e4c-3e5a-4d2b-9a7e-1f0c2d3e4f5a"

TEST(keys_generate_stores_nothing_until_keys_store)
{
        char kek_path[256];
        struct config c;
        struct keys_record record = {{0}};
        struct secret *key = NULL, *opened = NULL;
        const char *reason = NULL;
        struct keys *k = NULL;
        unsigned char kek[32];
        FILE *f;

        snprintf(kek_path, sizeof(kek_path), "%s/kek.bin", unit_tmpdir());
        memset(kek, 0x42, sizeof(kek));
        REQUIRE((f = fopen(kek_path, "wb")) != NULL);
        REQUIRE(fwrite(kek, 1, sizeof(kek), f) == sizeof(kek));
        fclose(f);
        REQUIRE(chmod(kek_path, 0600) == 0);
        memset(&c, 0, sizeof(c));
        c.key_provider = KEY_PROVIDER_METADATA;
        c.kek_id = "kek-1";
        c.kek_file = kek_path;
        REQUIRE(keys_open(&c, &k, &reason) == 0);
        CHECK(keys_can_generate(k));
        REQUIRE(keys_generate(k, VOLUME, &key, &record, &reason) == 0);
        CHECK(key->len == 32);
        /* The record in memory opens to the key it came with. */
        REQUIRE(keywrap_open(k->keks, k->n_keks, VOLUME, record.text, &opened, &reason) == 0);
        CHECK(secret_equal(opened, key));
        /* Storing needs the image. */
        CHECK(keys_store(k, VOLUME, NULL, &record, &reason) == -EINVAL);
        CHECK(reason && strcmp(reason, "metadata provider needs the image") == 0);
        secret_free(key);
        secret_free(opened);
        keys_close(k);
}
