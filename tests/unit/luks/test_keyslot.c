/* Unit tests for keyslot.c: PBKDF2 against published vectors and OpenSSL,
 * key slots against libcryptsetup (through luks.c) in both directions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "luks/keyslot.h"
#include "luks/luks.h"
#include "../unit.h"

#define OFFSET (4040u * 512u)

static const struct luks_params by_libcryptsetup = {
        .cipher = "aes",
        .cipher_mode = "xts-plain64",
        .key_bytes = 64,
        .hash = "sha256",
        .iterations = LUKS_PBKDF2_MIN_ITERATIONS,
};

static int unhex(const char *hex, unsigned char *out)
{
        size_t n = 0;

        for (; hex[0] && hex[1]; hex += 2) {
                if (hex[0] == ' ') {
                        hex--;
                        continue;
                }
                sscanf(hex, "%2hhx", &out[n++]);
        }
        return (int)n;
}

TEST(keyslot_pbkdf2_rfc7914_vectors)
{
        /* RFC 7914 section 11: PBKDF2-HMAC-SHA256, 64-byte outputs. */
        unsigned char want[64], got[64];

        REQUIRE(unhex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                      "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
                      want) == 64);
        REQUIRE(keyslot_pbkdf2_sha256((const unsigned char *)"passwd", 6,
                                      (const unsigned char *)"salt", 4, 1, got, 64) == 0);
        CHECK(memcmp(got, want, 64) == 0);
        REQUIRE(unhex("4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                      "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
                      want) == 64);
        REQUIRE(keyslot_pbkdf2_sha256((const unsigned char *)"Password", 8,
                                      (const unsigned char *)"NaCl", 4, 80000, got, 64) == 0);
        CHECK(memcmp(got, want, 64) == 0);
}

TEST(keyslot_pbkdf2_matches_openssl)
{
        /* Passphrases shorter than, equal to and longer than the HMAC block,
         * salts of any length, outputs of one to four blocks and partial. */
        static const size_t pass_lens[] = {0, 1, 32, 63, 64, 65, 200};
        static const size_t salt_lens[] = {0, 1, 32, 55, 56, 64, 100};
        static const size_t out_lens[] = {1, 20, 32, 33, 64, 100, 128};
        static const unsigned iterations[] = {1, 2, 1000, 2049};
        unsigned char pass[200], salt[100], want[128], got[128];
        int failures = 0;

        REQUIRE(RAND_bytes(pass, sizeof(pass)) == 1 && RAND_bytes(salt, sizeof(salt)) == 1);
        for (size_t a = 0; a < 7; a++)
                for (size_t b = 0; b < 7; b++)
                        for (size_t c = 0; c < 7; c++) {
                                unsigned it = iterations[(a + b + c) % 4];

                                REQUIRE(PKCS5_PBKDF2_HMAC((const char *)pass, (int)pass_lens[a],
                                                          salt, (int)salt_lens[b], (int)it,
                                                          EVP_sha256(), (int)out_lens[c],
                                                          want) == 1);
                                REQUIRE(keyslot_pbkdf2_sha256(pass, pass_lens[a], salt,
                                                              salt_lens[b], it, got,
                                                              out_lens[c]) == 0);
                                failures += memcmp(got, want, out_lens[c]) != 0;
                        }
        CHECK(failures == 0);
        CHECK(keyslot_pbkdf2_sha256(pass, 1, salt, 1, 0, got, 32) == -EINVAL);
        CHECK(keyslot_pbkdf2_sha256(pass, 1, salt, 1, 1, got, 0) == -EINVAL);
        CHECK(keyslot_pbkdf2_sha256(pass, 1, salt, 1, 1, got, 129) == -EINVAL);
}

TEST(keyslot_supports_only_the_default_combination)
{
        CHECK(keyslot_supports("aes", "xts-plain64", "sha256", 64));
        CHECK(keyslot_supports("aes", "xts-plain64", "sha256", 32));
        CHECK(!keyslot_supports("aes", "xts-plain64", "sha512", 64));
        CHECK(!keyslot_supports("serpent", "xts-plain64", "sha256", 64));
        CHECK(!keyslot_supports("aes", "cbc-essiv:sha256", "sha256", 32));
        CHECK(!keyslot_supports("aes", "xts-plain64", "sha256", 48));
        CHECK(!keyslot_supports(NULL, "xts-plain64", "sha256", 64));
}

TEST(keyslot_opens_what_libcryptsetup_wrote)
{
        struct secret *good = unit_secret_text("0123456789abcdef0123456789abcdef0123456789abcdef01234567"
                                          "89abcdef");
        struct secret *bad = unit_secret_text("0123456789abcdef0123456789abcdef0123456789abcdef01234567"
                                         "89abcdee");
        struct secret *key = NULL, *again = NULL;
        unsigned char *hdr = NULL;
        size_t used;

        REQUIRE(good && bad);
        REQUIRE(luks_build_header(&by_libcryptsetup, OFFSET, good, &hdr, &used) == 0);
        REQUIRE(keyslot_open(hdr, OFFSET, 0, good, &key) == 0);
        CHECK(key->len == 64);
        CHECK(keyslot_open(hdr, OFFSET, 0, bad, &again) == -EPERM);
        CHECK(again == NULL);
        CHECK(keyslot_open(hdr, OFFSET, 1, good, &again) == -ENOENT);
        /* One flipped bit of key material: the digest no longer matches. */
        hdr[4096 + 1000] ^= 0x10;
        CHECK(keyslot_open(hdr, OFFSET, 0, good, &again) == -EPERM);
        hdr[4096 + 1000] ^= 0x10;
        /* Cut short before the slot's material ends. */
        CHECK(keyslot_open(hdr, 4096 + 1000, 0, good, &again) == -EINVAL);
        free(hdr);
        secret_free(key);
        secret_free(good);
        secret_free(bad);
}

TEST(keyslot_writes_what_libcryptsetup_opens)
{
        struct secret *first = unit_secret_text("first passphrase");
        struct secret *second = unit_secret_text("a second passphrase, longer than one HMAC block of "
                                            "sixty-four bytes");
        struct secret *third = unit_secret_text("third");
        struct secret *key = NULL, *other = NULL, *back = NULL;
        unsigned char *hdr = NULL, *copy = NULL;
        size_t used;

        REQUIRE(first && second && third);
        REQUIRE(luks_build_header(&by_libcryptsetup, OFFSET, first, &hdr, &used) == 0);
        REQUIRE(keyslot_open(hdr, OFFSET, 0, first, &key) == 0);
        REQUIRE((copy = malloc(OFFSET)) != NULL);
        memcpy(copy, hdr, OFFSET);
        /* Refused, header unchanged: an active slot, a key not this header's,
         * a slot past the eighth. */
        CHECK(keyslot_write(hdr, OFFSET, 0, key, second, 1000) == -EINVAL);
        REQUIRE(keyslot_new_master_key(64, &other) == 0);
        CHECK(keyslot_write(hdr, OFFSET, 3, other, second, 1000) == -EINVAL);
        CHECK(keyslot_write(hdr, OFFSET, 8, key, second, 1000) == -EINVAL);
        CHECK(keyslot_write(hdr, OFFSET, 3, key, second, 0) == -EINVAL);
        CHECK(memcmp(hdr, copy, OFFSET) == 0);
        /* Slot 3 by keyslot.c: libcryptsetup opens it, and keyslot.c too. */
        REQUIRE(keyslot_write(hdr, OFFSET, 3, key, second, 1234) == 0);
        CHECK(luks_check_passphrase(hdr, OFFSET, second) == 0);
        CHECK(luks_check_passphrase(hdr, OFFSET, first) == 0);
        CHECK(luks_check_passphrase(hdr, OFFSET, third) == -EPERM);
        REQUIRE(keyslot_open(hdr, OFFSET, 3, second, &back) == 0);
        CHECK(secret_equal(back, key));
        /* Only slot 3's descriptor and area changed. */
        CHECK(memcmp(hdr, copy, 208 + 3 * 48) == 0);
        CHECK(memcmp(hdr + 208 + 4 * 48, copy + 208 + 4 * 48, 4096 - 208 - 4 * 48) == 0);
        free(hdr);
        free(copy);
        secret_free(key);
        secret_free(other);
        secret_free(back);
        secret_free(first);
        secret_free(second);
        secret_free(third);
}

TEST(keyslot_refuses_other_hashes)
{
        struct luks_params sha512 = by_libcryptsetup;
        struct secret *pass = unit_secret_text("pass");
        struct secret *key = NULL;
        unsigned char *hdr = NULL;
        size_t used;

        REQUIRE(pass);
        sha512.hash = "sha512";
        REQUIRE(luks_build_header(&sha512, OFFSET, pass, &hdr, &used) == 0);
        CHECK(keyslot_open(hdr, OFFSET, 0, pass, &key) == -EINVAL);
        free(hdr);
        secret_free(pass);
}

TEST(keyslot_self_test_passes)
{
        CHECK(luks_self_test() == 0);
}
