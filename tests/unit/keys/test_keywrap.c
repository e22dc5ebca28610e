/* Tests for keywrap.c: wrapped keys that must not open once anything about
 * them changes (volume, KEK id, KEK bytes, any bit of nonce, ciphertext or
 * tag), records of the wrong form, and KEK files of the wrong kind. The
 * records are edited as text, and base64 is done here independently of
 * OpenSSL, so the tests check the format rather than reuse its code. */
#include "keys/keywrap.h"
#include "../unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VOLUME "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64"
#define OTHER_VOLUME "7a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"

/* Made with Python's cryptography package straight from keywrap.h: KEK
 * bytes 00..1f, key bytes a0..bf, nonce c0..cb, associated data
 * "rbd-luks-agent key v1\0kek-2026.a\0" VOLUME. */
#define GOLDEN_RECORD                                                                          \
        "{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-2026.a\",\"nonce\":\"wMHCw8TFxsfIycrL\"," \
        "\"wrapped\":\"oOmFxNPdMPkwcFcJngFG+fzCUYyIV6kNknrxsYvAwQk=\","                      \
        "\"tag\":\"cvVbHW1nzEFzbu2kDxpdiA==\",\"created\":\"2026-01-02T03:04:05Z\"}"

static const char base64_digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool reason_is(const char *reason, const char *want)
{
        if (reason && strcmp(reason, want) == 0)
                return true;
        fprintf(stderr, "  reason \"%s\", expected \"%s\"\n", reason ? reason : "(null)", want);
        return false;
}

static bool write_file(const char *path, const void *data, size_t n, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool ok;

        if (fd < 0)
                return false;
        ok = write(fd, data, n) == (ssize_t)n;
        ok = fchmod(fd, mode) == 0 && ok;
        return close(fd) == 0 && ok;
}

/* A KEK of 32 bytes all equal to fill, loaded from a 0600 file in dir. */
static struct keywrap_kek *make_kek(const char *dir, const char *id, unsigned char fill)
{
        unsigned char bytes[KEYWRAP_KEK_BYTES];
        struct keywrap_kek *kek = NULL;
        const char *reason = NULL;
        char path[512];

        memset(bytes, fill, sizeof(bytes));
        snprintf(path, sizeof(path), "%s/%s-%02x.kek", dir, id, fill);
        if (!write_file(path, bytes, sizeof(bytes), 0600))
                return NULL;
        if (keywrap_load_kek(id, path, &kek, &reason) < 0) {
                fprintf(stderr, "  cannot load KEK %s: %s\n", path, reason ? reason : "?");
                return NULL;
        }
        return kek;
}

static void base64_encode(const unsigned char *in, size_t n, char *out)
{
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)in[i] << 16;

                if (i + 1 < n)
                        v |= (unsigned)in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                out[o++] = base64_digits[(v >> 18) & 63];
                out[o++] = base64_digits[(v >> 12) & 63];
                out[o++] = i + 1 < n ? base64_digits[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? base64_digits[v & 63] : '=';
        }
        out[o] = '\0';
}

/* Bytes of well-formed, padded base64; returns their number. */
static size_t base64_decode(const char *text, unsigned char *out)
{
        size_t n = 0, length = strlen(text);
        unsigned v = 0, bits = 0;

        for (size_t i = 0; i < length && text[i] != '='; i++) {
                v = v << 6 | (unsigned)(strchr(base64_digits, text[i]) - base64_digits);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (unsigned char)(v >> bits);
                        v &= (1u << bits) - 1;
                }
        }
        return n;
}

/* The text of string field name in a compact record, into value. */
static bool field_value(const char *record, const char *name, char *value, size_t size)
{
        char pattern[64];
        const char *start, *end;

        snprintf(pattern, sizeof(pattern), "\"%s\":\"", name);
        start = strstr(record, pattern);
        if (!start)
                return false;
        start += strlen(pattern);
        end = strchr(start, '"');
        if (!end || (size_t)(end - start) >= size)
                return false;
        memcpy(value, start, (size_t)(end - start));
        value[end - start] = '\0';
        return true;
}

/* record with the first `from` replaced by `to`, into out. */
static bool replaced(const char *record, const char *from, const char *to, char *out, size_t size)
{
        const char *at = strstr(record, from);
        int n;

        if (!at)
                return false;
        n = snprintf(out, size, "%.*s%s%s", (int)(at - record), record, to, at + strlen(from));
        return n >= 0 && (size_t)n < size;
}

/* record with string field name set to value. */
static bool with_field(const char *record, const char *name, const char *value, char *out,
                       size_t size)
{
        char old[KEYWRAP_RECORD_MAX], from[KEYWRAP_RECORD_MAX + 64], to[KEYWRAP_RECORD_MAX + 64];

        if (!field_value(record, name, old, sizeof(old)))
                return false;
        snprintf(from, sizeof(from), "\"%s\":\"%s\"", name, old);
        snprintf(to, sizeof(to), "\"%s\":\"%s\"", name, value);
        return replaced(record, from, to, out, size);
}

struct fixture {
        struct keywrap_kek *keks[2]; /* "kek-a" (0x11 bytes), "kek-b" (0x22) */
        struct secret *key;
        char record[KEYWRAP_RECORD_MAX]; /* key for VOLUME under kek-a */
};

static bool fixture_setup(struct fixture *f)
{
        const char *dir = unit_tmpdir(), *reason = NULL;

        memset(f, 0, sizeof(*f));
        f->keks[0] = make_kek(dir, "kek-a", 0x11);
        f->keks[1] = make_kek(dir, "kek-b", 0x22);
        return f->keks[0] && f->keks[1] && keywrap_generate_key(&f->key) == 0 &&
               keywrap_seal(f->keks[0], VOLUME, f->key, f->record, sizeof(f->record), &reason) == 0;
}

static void fixture_free(struct fixture *f)
{
        keywrap_kek_free(f->keks[0]);
        keywrap_kek_free(f->keks[1]);
        secret_free(f->key);
}

/* Opens record for volume_id with both KEKs; a key that comes out must be
 * the fixture's. */
static int open_with(const struct fixture *f, const char *volume_id, const char *record,
                     const char **ret_reason)
{
        struct secret *key = NULL;
        int r = keywrap_open(f->keks, 2, volume_id, record, &key, ret_reason);

        if (r == 0 && !secret_equal(key, f->key))
                r = -EIO;
        if (r < 0 && key) {
                fprintf(stderr, "  failed open handed back a key\n");
                r = -EFAULT;
        }
        secret_free(key);
        return r;
}

TEST(keywrap_round_trip)
{
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        CHECK(open_with(&f, VOLUME, f.record, &reason) == 0);
        CHECK(f.record[0] == '{' && f.record[strlen(f.record) - 1] == '}');
        CHECK(strncmp(f.record, "{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-a\",\"nonce\":\"",
                      strlen("{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-a\",\"nonce\":\"")) ==
              0);
        CHECK(strstr(f.record, "\",\"wrapped\":\"") && strstr(f.record, "\",\"tag\":\"") &&
              strstr(f.record, "\",\"created\":\""));
        CHECK(!strchr(f.record, ' ') && !strchr(f.record, '\n') && !strchr(f.record, '\\'));
        fixture_free(&f);
}

TEST(keywrap_golden_record)
{
        unsigned char kek_bytes[KEYWRAP_KEK_BYTES];
        const char *dir = unit_tmpdir(), *reason = NULL;
        struct keywrap_kek *kek = NULL;
        struct secret *key = NULL;
        char path[512];

        for (int i = 0; i < KEYWRAP_KEK_BYTES; i++)
                kek_bytes[i] = (unsigned char)i;
        snprintf(path, sizeof(path), "%s/golden.kek", dir);
        REQUIRE(write_file(path, kek_bytes, sizeof(kek_bytes), 0600));
        REQUIRE(keywrap_load_kek("kek-2026.a", path, &kek, &reason) == 0);
        REQUIRE(keywrap_open(&kek, 1, VOLUME, GOLDEN_RECORD, &key, &reason) == 0);
        CHECK(key->len == 32);
        for (size_t i = 0; i < key->len; i++)
                CHECK(key->data[i] == (unsigned char)(0xa0 + i));
        secret_free(key);
        key = NULL;
        CHECK(keywrap_open(&kek, 1, OTHER_VOLUME, GOLDEN_RECORD, &key, &reason) == -EBADMSG);
        CHECK(key == NULL);
        keywrap_kek_free(kek);
}

TEST(keywrap_fresh_nonce)
{
        char again[KEYWRAP_RECORD_MAX], nonce1[64], nonce2[64], wrapped1[128], wrapped2[128];
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        REQUIRE(keywrap_seal(f.keks[0], VOLUME, f.key, again, sizeof(again), &reason) == 0);
        CHECK(strcmp(f.record, again) != 0);
        REQUIRE(field_value(f.record, "nonce", nonce1, sizeof(nonce1)));
        REQUIRE(field_value(again, "nonce", nonce2, sizeof(nonce2)));
        CHECK(strcmp(nonce1, nonce2) != 0);
        REQUIRE(field_value(f.record, "wrapped", wrapped1, sizeof(wrapped1)));
        REQUIRE(field_value(again, "wrapped", wrapped2, sizeof(wrapped2)));
        CHECK(strcmp(wrapped1, wrapped2) != 0);
        CHECK(open_with(&f, VOLUME, f.record, &reason) == 0);
        CHECK(open_with(&f, VOLUME, again, &reason) == 0);
        fixture_free(&f);
}

TEST(keywrap_parse_public_fields)
{
        struct keywrap_info info;
        struct fixture f;
        const char *reason = NULL;
        time_t now = time(NULL);
        struct tm tm;
        int year, month, day, hour, minute, second;
        char z = 0, tail;

        REQUIRE(fixture_setup(&f));
        REQUIRE(keywrap_parse(f.record, &info, &reason) == 0);
        CHECK(info.version == 1);
        CHECK(strcmp(info.algorithm, "AES-256-GCM") == 0);
        CHECK(strcmp(info.kek_id, "kek-a") == 0);
        CHECK(strlen(info.created) == 20);
        CHECK(sscanf(info.created, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &year, &month, &day, &hour,
                     &minute, &second, &z, &tail) == 7);
        CHECK(z == 'Z');
        REQUIRE(gmtime_r(&now, &tm));
        /* Within a second or so of now, which is 2026 at the time of writing. */
        CHECK(year == tm.tm_year + 1900 || year + 1 == tm.tm_year + 1900);
        CHECK(month >= 1 && month <= 12 && day >= 1 && day <= 31);

        REQUIRE(keywrap_parse(GOLDEN_RECORD, &info, &reason) == 0);
        CHECK(strcmp(info.kek_id, "kek-2026.a") == 0);
        CHECK(strcmp(info.created, "2026-01-02T03:04:05Z") == 0);
        fixture_free(&f);
}

TEST(keywrap_other_volume)
{
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        CHECK(open_with(&f, OTHER_VOLUME, f.record, &reason) == -EBADMSG);
        CHECK(reason_is(reason, "wrapped key does not authenticate with KEK 'kek-a' (record "
                                "tampered with, copied from another volume, or wrong KEK file)"));
        /* A prefix of the volume id is another volume too. */
        CHECK(open_with(&f, "0d3c8d5e", f.record, &reason) == -EBADMSG);
        fixture_free(&f);
}

TEST(keywrap_relabelled_kek)
{
        char relabelled[KEYWRAP_RECORD_MAX];
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        REQUIRE(with_field(f.record, "kek", "kek-b", relabelled, sizeof(relabelled)));
        CHECK(open_with(&f, VOLUME, relabelled, &reason) == -EBADMSG);
        CHECK(reason_is(reason, "wrapped key does not authenticate with KEK 'kek-b' (record "
                                "tampered with, copied from another volume, or wrong KEK file)"));
        fixture_free(&f);
}

/* Every bit of field, flipped one at a time, must make the record fail to
 * authenticate while still parsing. */
static void flip_every_bit(const struct fixture *f, const char *field, size_t want_bytes)
{
        unsigned char bytes[128];
        char text[256], edited[KEYWRAP_RECORD_MAX];
        struct keywrap_info info;
        const char *reason = NULL;
        size_t n;
        unsigned failures = 0;

        if (!field_value(f->record, field, text, sizeof(text))) {
                CHECK(!"field present");
                return;
        }
        n = base64_decode(text, bytes);
        CHECK(n == want_bytes);
        for (size_t i = 0; i < n; i++) {
                for (int bit = 0; bit < 8; bit++) {
                        bytes[i] ^= (unsigned char)(1u << bit);
                        base64_encode(bytes, n, text);
                        bytes[i] ^= (unsigned char)(1u << bit);
                        if (!with_field(f->record, field, text, edited, sizeof(edited)) ||
                            keywrap_parse(edited, &info, &reason) != 0 ||
                            open_with(f, VOLUME, edited, &reason) != -EBADMSG) {
                                if (failures++ == 0)
                                        fprintf(stderr, "  %s byte %zu bit %d opened or broke\n",
                                                field, i, bit);
                        }
                }
        }
        CHECK(failures == 0);
}

TEST(keywrap_every_bit_flip_fails)
{
        struct fixture f;

        REQUIRE(fixture_setup(&f));
        flip_every_bit(&f, "nonce", 12);
        flip_every_bit(&f, "wrapped", 32);
        flip_every_bit(&f, "tag", 16);
        fixture_free(&f);
}

TEST(keywrap_truncated_record)
{
        char cut[KEYWRAP_RECORD_MAX];
        struct fixture f;
        const char *reason = NULL;
        size_t length;

        REQUIRE(fixture_setup(&f));
        length = strlen(f.record);
        for (size_t n = 0; n < length; n++) {
                memcpy(cut, f.record, n);
                cut[n] = '\0';
                if (open_with(&f, VOLUME, cut, &reason) != -EBADMSG) {
                        fprintf(stderr, "  record cut to %zu characters did not fail\n", n);
                        CHECK(!"truncated record fails");
                }
        }
        memcpy(cut, f.record, length - 1);
        cut[length - 1] = '\0';
        CHECK(open_with(&f, VOLUME, cut, &reason) == -EBADMSG);
        CHECK(reason_is(reason, "record is cut short"));
        CHECK(open_with(&f, VOLUME, "", &reason) == -EBADMSG);
        CHECK(reason_is(reason, "record is empty"));
        fixture_free(&f);
}

TEST(keywrap_wrong_kek_bytes)
{
        struct keywrap_kek *impostor;
        struct secret *key = NULL;
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        impostor = make_kek(unit_tmpdir(), "kek-a", 0x33);
        REQUIRE(impostor);
        CHECK(keywrap_open(&impostor, 1, VOLUME, f.record, &key, &reason) == -EBADMSG);
        CHECK(reason_is(reason, "wrapped key does not authenticate with KEK 'kek-a' (record "
                                "tampered with, copied from another volume, or wrong KEK file)"));
        CHECK(key == NULL);
        keywrap_kek_free(impostor);
        fixture_free(&f);
}

TEST(keywrap_unknown_kek)
{
        struct secret *key = NULL;
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        CHECK(keywrap_open(&f.keks[1], 1, VOLUME, f.record, &key, &reason) == -ENOKEY);
        CHECK(reason_is(reason, "key was wrapped with KEK 'kek-a', which is not configured"));
        CHECK(keywrap_open(NULL, 0, VOLUME, f.record, &key, &reason) == -ENOKEY);
        CHECK(reason_is(reason, "key was wrapped with KEK 'kek-a', which is not configured"));
        CHECK(key == NULL);
        fixture_free(&f);
}

TEST(keywrap_picks_kek_by_id)
{
        struct keywrap_kek *swapped[2];
        char under_b[KEYWRAP_RECORD_MAX];
        struct secret *key = NULL;
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        REQUIRE(keywrap_seal(f.keks[1], VOLUME, f.key, under_b, sizeof(under_b), &reason) == 0);
        CHECK(strstr(under_b, "\"kek\":\"kek-b\""));
        CHECK(open_with(&f, VOLUME, f.record, &reason) == 0);
        CHECK(open_with(&f, VOLUME, under_b, &reason) == 0);
        swapped[0] = f.keks[1];
        swapped[1] = f.keks[0];
        REQUIRE(keywrap_open(swapped, 2, VOLUME, f.record, &key, &reason) == 0);
        CHECK(secret_equal(key, f.key));
        secret_free(key);
        REQUIRE(keywrap_open(swapped, 2, VOLUME, under_b, &key, &reason) == 0);
        CHECK(secret_equal(key, f.key));
        secret_free(key);
        fixture_free(&f);
}

/* record must fail both parse and open with -EBADMSG and reason want
 * (NULL: any reason). */
static bool rejected(const struct fixture *f, const char *record, const char *want)
{
        struct keywrap_info info;
        const char *reason = NULL;
        char first[1024];
        bool ok = true;

        if (keywrap_parse(record, &info, &reason) != -EBADMSG) {
                fprintf(stderr, "  parse took: %s\n", record);
                return false;
        }
        snprintf(first, sizeof(first), "%s", reason ? reason : "(null)");
        if (open_with(f, VOLUME, record, &reason) != -EBADMSG) {
                fprintf(stderr, "  open took: %s\n", record);
                return false;
        }
        ok = reason && strcmp(first, reason) == 0;
        if (want)
                ok = reason_is(first, want) && ok;
        return ok;
}

TEST(keywrap_malformed_records)
{
        char edited[KEYWRAP_RECORD_MAX * 2];
        struct fixture f;

        REQUIRE(fixture_setup(&f));
        REQUIRE(replaced(f.record, "\"v\":1,", "\"v\":1,\"extra\":\"x\",", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record has an unknown field 'extra'"));
        REQUIRE(replaced(f.record, "\"v\":1,", "\"v\":2,", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record has version 2; only version 1 is known"));
        REQUIRE(replaced(f.record, "\"v\":1,", "\"v\":\"1\",", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'v' is not an integer"));
        REQUIRE(replaced(f.record, "\"v\":1,", "\"v\":1.0,", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'v' is not an integer"));
        REQUIRE(with_field(f.record, "alg", "AES-128-GCM", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record's algorithm 'AES-128-GCM' is not AES-256-GCM"));
        REQUIRE(with_field(f.record, "alg", "AES-256-GCM-SIV-X", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'alg' is longer than 15 characters"));
        CHECK(rejected(&f, "not json", "record is not valid JSON (error at character 1)"));
        CHECK(rejected(&f, "[1,2]", "record is not a JSON object"));
        CHECK(rejected(&f, "42", "record is not a JSON object"));
        REQUIRE(replaced(f.record, "\"v\":1,", "\"v\":1,\"v\":1,\"x\":{},", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record has an unknown field 'x'"));
        snprintf(edited, sizeof(edited), "%s{}", f.record);
        CHECK(rejected(&f, edited, "record has text after its JSON object"));
        REQUIRE(replaced(f.record, "\"v\":1,", "", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record has no field 'v'"));
        REQUIRE(replaced(f.record, "\"kek\":\"kek-a\"", "\"kek\":7", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'kek' is not a string"));
        REQUIRE(with_field(f.record, "kek", "kek a", edited, sizeof(edited)));
        CHECK(rejected(&f, edited,
                       "record field 'kek' is not 1 to 32 characters of A-Z a-z 0-9 _ . -"));
        REQUIRE(with_field(f.record, "kek", "", edited, sizeof(edited)));
        CHECK(rejected(&f, edited,
                       "record field 'kek' is not 1 to 32 characters of A-Z a-z 0-9 _ . -"));
        REQUIRE(with_field(f.record, "created", "2026-01-02T03:04:05.123456789012345678901Z",
                           edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'created' is longer than 39 characters"));
        REQUIRE(with_field(f.record, "created", "\\u0007", edited, sizeof(edited)));
        CHECK(rejected(&f, edited,
                       "record field 'created' has a character that is not printable ASCII"));
        fixture_free(&f);
}

TEST(keywrap_unknown_field_name_is_bounded)
{
        char edited[KEYWRAP_RECORD_MAX * 2];
        struct fixture f;

        REQUIRE(fixture_setup(&f));
        REQUIRE(replaced(f.record, "\"v\":1,",
                         "\"v\":1,\"a'\\nbcdefghijklmnopqrstuvwxyz0123456789\":1,", edited,
                         sizeof(edited)));
        CHECK(rejected(&f, edited,
                       "record has an unknown field 'a??bcdefghijklmnopqrstuvwxyz0123...'"));
        fixture_free(&f);
}

TEST(keywrap_base64_lengths)
{
        unsigned char bytes[80];
        char text[160], edited[KEYWRAP_RECORD_MAX];
        struct fixture f;

        REQUIRE(fixture_setup(&f));
        memset(bytes, 0x5a, sizeof(bytes));
        base64_encode(bytes, 11, text);
        REQUIRE(with_field(f.record, "nonce", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'nonce' is not canonical base64 of 12 bytes"));
        base64_encode(bytes, 13, text);
        REQUIRE(with_field(f.record, "nonce", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'nonce' is not canonical base64 of 12 bytes"));
        base64_encode(bytes, 15, text);
        REQUIRE(with_field(f.record, "tag", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'tag' is not canonical base64 of 16 bytes"));
        base64_encode(bytes, 17, text);
        REQUIRE(with_field(f.record, "tag", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'tag' is not canonical base64 of 16 bytes"));
        base64_encode(bytes, 15, text);
        REQUIRE(with_field(f.record, "wrapped", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited,
                       "record field 'wrapped' is not canonical base64 of 16 to 64 bytes"));
        base64_encode(bytes, 65, text);
        REQUIRE(with_field(f.record, "wrapped", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited,
                       "record field 'wrapped' is not canonical base64 of 16 to 64 bytes"));
        base64_encode(bytes, 67, text);
        REQUIRE(with_field(f.record, "wrapped", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'wrapped' is longer than 88 characters"));
        REQUIRE(with_field(f.record, "nonce", text, edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'nonce' is longer than 88 characters"));
        /* Unpadded, stray characters, padding inside, and the same bytes
         * spelt with non-zero spare bits: "Wg==" is 0x5a, and so would
         * "Wl==" be, read loosely. */
        REQUIRE(with_field(f.record, "tag", "WlpaWlpaWlpaWlpaWlpaWg", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, NULL));
        REQUIRE(with_field(f.record, "tag", "WlpaWlpaWlpaWlpa Wlpa==", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, NULL));
        REQUIRE(with_field(f.record, "tag", "WlpaWlpaWlpaWl=aWlpaWl==", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, NULL));
        REQUIRE(with_field(f.record, "tag", "WlpaWlpaWlpaWlpaWlpaWg==", edited, sizeof(edited)));
        CHECK(keywrap_parse(edited, &(struct keywrap_info){0}, NULL) == 0);
        REQUIRE(with_field(f.record, "tag", "WlpaWlpaWlpaWlpaWlpaWl==", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, "record field 'tag' is not canonical base64 of 16 bytes"));
        REQUIRE(with_field(f.record, "tag", "WlpaWlpaWlpaWlpaWlpaW===", edited, sizeof(edited)));
        CHECK(rejected(&f, edited, NULL));
        fixture_free(&f);
}

TEST(keywrap_record_size_limit)
{
        char big[KEYWRAP_RECORD_MAX + 16];
        struct keywrap_info info;
        struct fixture f;
        const char *reason = NULL;
        size_t length;

        REQUIRE(fixture_setup(&f));
        length = strlen(f.record);
        /* Whitespace inside the object is JSON; only the length is at stake. */
        memset(big, ' ', sizeof(big));
        big[0] = '{';
        memcpy(big + KEYWRAP_RECORD_MAX - 1 - (length - 1), f.record + 1, length - 1);
        big[KEYWRAP_RECORD_MAX - 1] = '\0';
        CHECK(strlen(big) == KEYWRAP_RECORD_MAX - 1);
        CHECK(keywrap_parse(big, &info, &reason) == 0);
        CHECK(open_with(&f, VOLUME, big, &reason) == 0);
        memmove(big + 1, big, KEYWRAP_RECORD_MAX);
        big[1] = ' ';
        big[KEYWRAP_RECORD_MAX] = '\0';
        CHECK(strlen(big) == KEYWRAP_RECORD_MAX);
        CHECK(rejected(&f, big, "record is longer than 511 characters"));
        fixture_free(&f);
}

static int load(const char *dir, const char *name, size_t n, mode_t mode, const char **reason)
{
        unsigned char bytes[64];
        struct keywrap_kek *kek = NULL;
        char path[512];
        int r;

        memset(bytes, 0x44, sizeof(bytes));
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (!write_file(path, bytes, n, mode))
                return -EFAULT;
        r = keywrap_load_kek("kek-file", path, &kek, reason);
        if (r == 0) {
                if (strcmp(kek->id, "kek-file") != 0 || kek->key->len != 32 ||
                    kek->key->data[0] != 0x44 || kek->key->data[31] != 0x44)
                        r = -EFAULT;
                keywrap_kek_free(kek);
        } else if (kek) {
                r = -EFAULT;
        }
        return r;
}

TEST(keywrap_kek_files)
{
        const char *dir = unit_tmpdir(), *reason = NULL;
        struct keywrap_kek *kek = NULL;
        char path[512], link[512], want[1024];

        CHECK(load(dir, "ok", 32, 0600, &reason) == 0);
        CHECK(load(dir, "read-only", 32, 0400, &reason) == 0);
        CHECK(load(dir, "open", 32, 0644, &reason) == -EPERM);
        snprintf(want, sizeof(want),
                 "KEK file %s/open is accessible by group or others (mode 0644); chmod 600 it",
                 dir);
        CHECK(reason_is(reason, want));
        CHECK(load(dir, "group", 32, 0640, &reason) == -EPERM);
        CHECK(load(dir, "other", 32, 0604, &reason) == -EPERM);
        CHECK(load(dir, "short", 31, 0600, &reason) == -EBADMSG);
        snprintf(want, sizeof(want), "KEK file %s/short is 31 bytes; it must be exactly 32 bytes",
                 dir);
        CHECK(reason_is(reason, want));
        CHECK(load(dir, "long", 33, 0600, &reason) == -EBADMSG);
        CHECK(load(dir, "empty", 0, 0600, &reason) == -EBADMSG);

        snprintf(path, sizeof(path), "%s/ok", dir);
        snprintf(link, sizeof(link), "%s/link", dir);
        REQUIRE(symlink(path, link) == 0);
        CHECK(keywrap_load_kek("kek-file", link, &kek, &reason) == -ELOOP);
        snprintf(want, sizeof(want), "KEK file %s is a symbolic link; refusing to follow it", link);
        CHECK(reason_is(reason, want));
        snprintf(path, sizeof(path), "%s/missing", dir);
        CHECK(keywrap_load_kek("kek-file", path, &kek, &reason) == -ENOENT);
        snprintf(want, sizeof(want), "KEK file %s not found", path);
        CHECK(reason_is(reason, want));
        CHECK(keywrap_load_kek("kek-file", dir, &kek, &reason) == -EINVAL);
        /* A FIFO is refused at once instead of blocking the open. */
        snprintf(path, sizeof(path), "%s/fifo", dir);
        REQUIRE(mkfifo(path, 0600) == 0);
        CHECK(keywrap_load_kek("kek-file", path, &kek, &reason) == -EINVAL);
        snprintf(want, sizeof(want), "KEK file %s is not a regular file", path);
        CHECK(reason_is(reason, want));
        snprintf(path, sizeof(path), "%s/ok", dir);
        CHECK(keywrap_load_kek("kek-file", NULL, &kek, &reason) == -EINVAL);
        CHECK(reason_is(reason, "no KEK file given"));
        CHECK(keywrap_load_kek("bad id", path, &kek, &reason) == -EINVAL);
        CHECK(keywrap_load_kek("", path, &kek, &reason) == -EINVAL);
        CHECK(kek == NULL);
        keywrap_kek_free(NULL);
}

TEST(keywrap_kek_ids)
{
        CHECK(keywrap_is_kek_id("a"));
        CHECK(keywrap_is_kek_id("kek-2026.01_Z"));
        CHECK(keywrap_is_kek_id("0123456789abcdef0123456789abcdef"));
        CHECK(!keywrap_is_kek_id("0123456789abcdef0123456789abcdef0"));
        CHECK(!keywrap_is_kek_id(""));
        CHECK(!keywrap_is_kek_id(NULL));
        CHECK(!keywrap_is_kek_id("kek/1"));
        CHECK(!keywrap_is_kek_id("kek 1"));
        CHECK(!keywrap_is_kek_id("kek'1"));
        CHECK(!keywrap_is_kek_id("k\xc3\xa9k"));
}

TEST(keywrap_generated_keys)
{
        struct secret *a = NULL, *b = NULL;

        REQUIRE(keywrap_generate_key(&a) == 0);
        REQUIRE(keywrap_generate_key(&b) == 0);
        CHECK(a->len == KEYWRAP_KEY_BYTES && b->len == KEYWRAP_KEY_BYTES);
        CHECK(!secret_equal(a, b));
        secret_free(a);
        secret_free(b);
}

TEST(keywrap_seal_arguments)
{
        char small[64], record[KEYWRAP_RECORD_MAX];
        struct secret *short_key = NULL;
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        memset(small, 'x', sizeof(small));
        CHECK(keywrap_seal(f.keks[0], VOLUME, f.key, small, sizeof(small), &reason) == -EINVAL);
        CHECK(small[0] == 'x' && small[sizeof(small) - 1] == 'x');
        CHECK(keywrap_seal(f.keks[0], "", f.key, record, sizeof(record), &reason) == -EINVAL);
        CHECK(keywrap_seal(NULL, VOLUME, f.key, record, sizeof(record), &reason) == -EINVAL);
        REQUIRE(secret_new(8, &short_key) == 0);
        short_key->len = 8;
        CHECK(keywrap_seal(f.keks[0], VOLUME, short_key, record, sizeof(record), &reason) ==
              -EINVAL);
        CHECK(reason_is(reason, "a wrapped key has 16 to 64 bytes"));
        CHECK(open_with(&f, "", f.record, &reason) == -EINVAL);
        secret_free(short_key);
        fixture_free(&f);
}

TEST(keywrap_record_hides_key)
{
        char encoded[64], record[KEYWRAP_RECORD_MAX];
        struct secret *hex = NULL;
        struct fixture f;
        const char *reason = NULL;

        REQUIRE(fixture_setup(&f));
        for (int round = 0; round < 16; round++) {
                REQUIRE(keywrap_seal(f.keks[round % 2], VOLUME, f.key, record, sizeof(record),
                                     &reason) == 0);
                REQUIRE(secret_to_hex(f.key, &hex) == 0);
                CHECK(!strcasestr(record, (char *)hex->data));
                secret_free(hex);
                base64_encode(f.key->data, f.key->len, encoded);
                CHECK(!strstr(record, encoded));
                /* The key's middle, not aligned to the record's base64 either. */
                base64_encode(f.key->data + 1, 12, encoded);
                CHECK(!strstr(record, encoded));
                base64_encode(f.key->data + 2, 12, encoded);
                CHECK(!strstr(record, encoded));
                CHECK(!memmem(record, strlen(record), f.key->data, f.key->len));
                CHECK(!memmem(record, strlen(record), f.keks[0]->key->data, 8));
        }
        fixture_free(&f);
}
