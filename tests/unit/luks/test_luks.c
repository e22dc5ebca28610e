/* Unit tests for luks.c: real libcryptsetup, headers on memfds. */
#include <errno.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luks/luks.h"
#include "../unit.h"

static const struct luks_params params = {
        .cipher = "aes",
        .cipher_mode = "xts-plain64",
        .key_bytes = 64,
        .hash = "sha256",
        .iterations = LUKS_PBKDF2_MIN_ITERATIONS,
};

TEST(luks_payload_offset_matches_qemu_and_aligns)
{
        uint64_t off;

        /* 4040 sectors is what qemu-img writes for aes-256-xts. */
        REQUIRE(luks_payload_offset(&params, 4096, &off) == 0);
        CHECK(off == 4040u * 512u);
        REQUIRE(luks_payload_offset(&params, 4u << 20, &off) == 0);
        CHECK(off == 4u << 20);
        REQUIRE(luks_payload_offset(&params, 1u << 20, &off) == 0);
        CHECK(off == 2u << 20);
        CHECK(luks_payload_offset(&params, 1000, &off) == -EINVAL);
}

/* A 4 MiB-offset header from p opens with its passphrase only, holds
 * nothing past the key-slot areas and not the passphrase's text. */
static void check_header_opens(const struct luks_params *p)
{
        struct secret *good = unit_secret_text("00112233445566778899aabbccddeeff");
        struct secret *bad = unit_secret_text("00112233445566778899aabbccddeefe");
        unsigned char *hdr = NULL;
        size_t used = 0;
        unsigned version = 0;
        char uuid[40];

        REQUIRE(good && bad);
        REQUIRE(luks_build_header(p, 4u << 20, good, &hdr, &used) == 0);
        CHECK(used == 4040u * 512u);
        CHECK(luks_has_magic(hdr, 4u << 20, &version));
        CHECK(version == 1);
        CHECK(luks_check_passphrase(hdr, 4u << 20, good) == 0);
        CHECK(luks_check_passphrase(hdr, 4u << 20, bad) == -EPERM);
        CHECK(luks_header_uuid(hdr, 4u << 20, uuid) == 0);
        CHECK(strlen(uuid) == 36);
        /* Nothing past the keyslot areas: writing only `used` bytes is enough. */
        for (size_t i = used; i < (4u << 20); i++)
                if (hdr[i]) {
                        CHECK(!"non-zero byte past the keyslot areas");
                        break;
                }
        /* The passphrase text is nowhere in the header. */
        CHECK(memmem(hdr, 4u << 20, good->data, good->len) == NULL);
        free(hdr);
        secret_free(good);
        secret_free(bad);
}

TEST(luks_header_opens_with_its_passphrase_only)
{
        check_header_opens(&params);
}

TEST(luks_own_keyslot_header_opens_with_its_passphrase_only)
{
        struct luks_params own = params;

        own.own_keyslot = true;
        check_header_opens(&own);
}

TEST(luks_two_headers_differ)
{
        struct secret *pass = unit_secret_text("aa");
        unsigned char *a = NULL, *b = NULL;
        size_t used;

        REQUIRE(pass);
        REQUIRE(luks_build_header(&params, 4040u * 512u, pass, &a, &used) == 0);
        REQUIRE(luks_build_header(&params, 4040u * 512u, pass, &b, &used) == 0);
        /* Fresh salt, UUID and master key every time. */
        CHECK(memcmp(a, b, used) != 0);
        free(a);
        free(b);
        secret_free(pass);
}

TEST(luks_magic_detection)
{
        unsigned char zeros[4096] = {0};
        unsigned char luks2[8] = {'L', 'U', 'K', 'S', 0xba, 0xbe, 0, 2};
        unsigned version;

        CHECK(!luks_has_magic(zeros, sizeof(zeros), &version));
        CHECK(luks_has_magic(luks2, sizeof(luks2), &version));
        CHECK(version == 2);
        CHECK(!luks_has_magic(luks2, 5, &version));
        CHECK(luks_check_passphrase(zeros, sizeof(zeros), NULL) == -EINVAL);
}

TEST(luks_calibrate_gives_at_least_the_minimum)
{
        unsigned iterations = 0;

        REQUIRE(luks_calibrate("sha256", 64, 20, &iterations) == 0);
        CHECK(iterations >= LUKS_PBKDF2_MIN_ITERATIONS);
        CHECK(luks_calibrate("no-such-hash", 64, 20, &iterations) < 0);
}

TEST(luks_refuses_offset_smaller_than_keyslots)
{
        struct secret *pass = unit_secret_text("aa");
        unsigned char *hdr = NULL;
        size_t used;

        REQUIRE(pass);
        CHECK(luks_build_header(&params, 1u << 20, pass, &hdr, &used) == -EINVAL);
        CHECK(hdr == NULL);
        secret_free(pass);
}

/* luks_header_uuid reads the bytes; libcryptsetup must see the same UUID. */
TEST(luks_header_uuid_matches_libcryptsetup)
{
        struct secret *pass = unit_secret_text("aa");
        struct crypt_device *cd = NULL;
        unsigned char *hdr = NULL;
        char uuid[40], path[64];
        size_t used;
        int fd;

        REQUIRE(pass);
        REQUIRE(luks_build_header(&params, 4040u * 512u, pass, &hdr, &used) == 0);
        REQUIRE(luks_header_uuid(hdr, 4040u * 512u, uuid) == 0);
        fd = memfd_create("uuid-check", MFD_CLOEXEC);
        REQUIRE(fd >= 0);
        REQUIRE(ftruncate(fd, 4040 * 512 + 512) == 0);
        REQUIRE(pwrite(fd, hdr, 4040u * 512u, 0) == 4040 * 512);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        REQUIRE(crypt_init(&cd, path) == 0);
        if (crypt_load(cd, CRYPT_LUKS1, NULL) == 0)
                CHECK(strcmp(crypt_get_uuid(cd), uuid) == 0);
        else
                CHECK(!"libcryptsetup cannot load the header");
        /* Not LUKS, and a UUID field that is not one. */
        CHECK(luks_header_uuid((const unsigned char *)"plain data, no magic", 21, uuid) == -EINVAL);
        memset(hdr + 168, 'z', 36);
        CHECK(luks_header_uuid(hdr, 4040u * 512u, uuid) == -EBADMSG);
        crypt_free(cd);
        close(fd);
        free(hdr);
        secret_free(pass);
}
