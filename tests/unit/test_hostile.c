/* Hostile input, one table per kind, each row "input -> the exact error":
 * hook-file lines (event_parse), config files (config_load's "FILE:LINE:
 * message" lines), key and KEK files (keys_read_file, keywrap_load_kek),
 * Ceph keyrings (keyring_read_key), wrapped-key records (keywrap_parse,
 * keywrap_open) and Kolla config.json files (kolla_parse). The module
 * tests cover the same ground case by case; this file is where an operator
 * or reviewer reads what each bad input is told.
 * In expected reasons, PATH stands for the file the row wrote. */
#include "config/config.h"
#include "stream/event.h"
#include "keys/keyring.h"
#include "keys/keys_provider.h"
#include "keys/keywrap.h"
#include "kolla/kolla.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VID "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64"
#define OTHER_VID "7a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"

/* Expected text with every "PATH" replaced by path. */
static const char *expand(const char *want, const char *path)
{
        static char out[2048];
        size_t o = 0;

        for (const char *p = want; *p && o + 1 < sizeof(out);) {
                if (strncmp(p, "PATH", 4) == 0 && path) {
                        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", path);
                        p += 4;
                } else {
                        out[o++] = *p++;
                }
        }
        out[o < sizeof(out) ? o : sizeof(out) - 1] = '\0';
        return out;
}

/* Reports a row whose errno or reason differs, with what it got. */
static void check_row(const char *kind, size_t row, int r, int want_r, const char *reason,
                      const char *want_reason, const char *path)
{
        const char *want = expand(want_reason, path);

        if (r == want_r && reason && strcmp(reason, want) == 0)
                return;
        fprintf(stderr, "  %s row %zu:\n    got  %d \"%s\"\n    want %d \"%s\"\n", kind, row, r,
                reason ? reason : "(null)", want_r, want);
        unit_fail(__FILE__, __LINE__, kind);
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

/* ---- hook-file lines -> event_parse ------------------------------------ */

#define CREATE_START "{\"event_type\": \"volume.create.end\", \"payload\": {"
#define GOOD_PAYLOAD "\"volume_id\": \"" VID "\", \"size\": 10"
#define INNER(text) "{\"oslo.version\": \"2.0\", \"oslo.message\": \"" text "\"}"

struct event_row {
        const char *line;
        size_t length;   /* 0: strlen(line) */
        unsigned depth;  /* 0: 32, the default max_json_depth */
        int r;
        const char *reason;
};

static const struct event_row event_rows[] = {
        {"", 0, 0, -EINVAL, "line is empty"},
        {" \t\r", 0, 0, -EINVAL, "line is empty"},
        {"volume.create.end 0d3c8d5e", 0, 0, -EINVAL, "not valid JSON (error at byte 0)"},
        {"{\"event_type\": \"volume.create.end\", \"payload\": {\"size\": 1", 0, 0, -EINVAL,
         "not valid JSON (truncated)"},
        {"{\"event_type\": \"x\"}\0{}", 21, 0, -EINVAL, "line contains a NUL byte"},
        {"[{\"event_type\": \"volume.create.end\"}]", 0, 0, -EINVAL, "not a JSON object"},
        {"{\"event_type\": \"x\"} {\"event_type\": \"y\"}", 0, 0, -EINVAL,
         "trailing data after the JSON object"},
        {"{\"event_type\": \"x\", \"a\": {\"b\": {\"c\": {\"d\": 1}}}}", 0, 4, -E2BIG,
         "JSON nested deeper than 4 levels"},
        {"{\"event_type\": \"x\", \"a\": 1,}", 0, 0, -EINVAL, "not valid JSON (error at byte 27)"},
        {"{\"publisher_id\": \"volume.host\", \"payload\": {}}", 0, 0, -EINVAL,
         "missing event_type"},
        {"{\"event_type\": \"volume.create.end\\u001b[2J\"}", 0, 0, -EINVAL,
         "event_type contains a character that is not printable ASCII"},
        {"{\"event_type\": \"volume.create.end\"}", 0, 0, -EINVAL, "missing payload"},
        {CREATE_START "\"volume_id\": \"../../etc/passwd\", \"size\": 1}}", 0, 0, -EINVAL,
         "payload.volume_id is not a UUID"},
        {CREATE_START "\"volume_id\": \"" VID "\"}}", 0, 0, -EINVAL, "payload.size is missing"},
        {CREATE_START "\"volume_id\": \"" VID "\", \"size\": \"10\"}}", 0, 0, -EINVAL,
         "payload.size is not an integer between 1 and 1048576"},
        {CREATE_START "\"volume_id\": \"" VID "\", \"size\": 2048576}}", 0, 0, -EINVAL,
         "payload.size is not an integer between 1 and 1048576"},
        {"{\"event_type\": \"volume.resize.end\", \"payload\": {\"volume_id\": \"" VID "\"}}", 0, 0,
         -EINVAL, "payload.size is missing"},
        {"{\"event_type\": \"volume.manage_existing.end\", \"payload\": {\"volume_id\": \"" VID
         "\"}}",
         0, 0, -EINVAL, "payload.size is missing"},
        {"{\"event_type\": \"volume.retype\", \"payload\": {\"volume_id\": \"" VID "\"}}", 0, 0,
         -EINVAL, "payload.size is missing"},
        {"{\"event_type\": \"volume.resize.end\", \"payload\": {\"volume_id\": \"" VID "\", "
         "\"size\": 0}}", 0, 0, -EINVAL, "payload.size is not an integer between 1 and 1048576"},
        {CREATE_START GOOD_PAYLOAD ", \"host\": [\"cinder@rbd#p\"]}}", 0, 0, -EINVAL,
         "payload.host is not a string"},
        {CREATE_START GOOD_PAYLOAD ", \"host\": \"cinder@rbd\\u0000#p\"}}", 0, 0, -EINVAL,
         "payload.host contains a character that is not printable ASCII"},
        {CREATE_START GOOD_PAYLOAD ", \"volume_type\": \"gold; rm -rf /\"}}", 0, 0, -EINVAL,
         "payload.volume_type contains a character other than A-Z a-z 0-9 _ . -"},
        {"{\"event_type\": \"volume.attach.end\", \"payload\": {\"volume_id\": \"" VID "\", "
         "\"volume_attachment\": [{\"attached_host\": \"compute 1\"}]}}",
         0, 0, -EINVAL,
         "payload.volume_attachment[].attached_host contains a character other than A-Z a-z "
         "0-9 _ . -"},
        {"{\"event_type\": \"x\", \"message_id\": "
         "\"a3c1e0d4-6f1b-4f7e-9b8a-2c5d7e9f1a2b-a3c1e0d4-6f1b-4f7e-9b8a-2c5d7e9f1a2b\"}",
         0, 0, -EINVAL, "message_id is longer than 63 characters"},
        {"{\"oslo.version\": \"1.0\", \"oslo.message\": \"{}\"}", 0, 0, -EINVAL,
         "oslo.version is not \"2.0\""},
        {INNER("{\\\"event_type\\\": "), 0, 0, -EINVAL,
         "oslo.message is not valid JSON (truncated)"},
        {INNER("{\\\"event_type\\\": \\\"x\\\", \\\"a\\\": [[[[1]]]]}"), 0, 4, -E2BIG,
         "oslo.message is JSON nested deeper than 4 levels"},
        {"{\"oslo.version\": \"2.0\", \"oslo.message\": {\"event_type\": \"x\"}}", 0, 0, -EINVAL,
         "oslo.message is not a string"},
};

TEST(hostile_events)
{
        for (size_t i = 0; i < sizeof(event_rows) / sizeof(event_rows[0]); i++) {
                const struct event_row *row = &event_rows[i];
                struct event e;
                const char *reason = NULL;
                size_t n = row->length ? row->length : strlen(row->line);
                int r = event_parse(row->line, n, row->depth ? row->depth : 32, &e, &reason);

                check_row("event", i, r, row->r, reason, row->reason, NULL);
        }
}

/* ---- config files -> "FILE:LINE: message" -------------------------------- */

#define AGENT \
        "[agent]\nrole = volume\nhook_file = /var/lib/x/events.jsonl\nstate_dir = /var/lib/x\n"
#define CEPH "[ceph]\nconf = /etc/ceph/ceph.conf\nclient = cinder\npool = volumes\n"
#define VOLUME "[volume]\ntypes = *\n"
#define KEYS "[keys]\nprovider = file\ndirectory = /etc/keys\n"
/* Lines 1..13; what a row appends starts at line 14. */
#define MINIMAL AGENT CEPH VOLUME KEYS

struct config_row {
        const char *text;
        const char *problems[4]; /* "LINE: message", after "FILE:" */
        size_t length;           /* 0: strlen(text) */
};

#define NUL_ROW MINIMAL "[luks]\n\0hash = sha256\n"

#define SYNTAX "syntax error (expected [section] or key = value)"

static const struct config_row config_rows[] = {
        {.text = MINIMAL "provider file\n", .problems = {"14: " SYNTAX}},
        {.text = MINIMAL "[luks\n", .problems = {"14: " SYNTAX}},
        {.text = MINIMAL "  continued\n", .problems = {"14: " SYNTAX}},
        {.text = MINIMAL "directroy = /etc/keys\n",
         .problems = {"14: unknown key 'directroy' in [keys]"}},
        {.text = MINIMAL "[keys]\n",
         .problems = {"14: duplicate section [keys] (first at line 11)"}},
        {.text = "role = volume\n" MINIMAL, .problems = {"1: key 'role' is outside any section"}},
        {.text = MINIMAL "[Luks]\n",
         .problems = {"14: unknown section [Luks] (known: agent, ceph, volume, compute, keys, "
                      "luks, retry, amqp, secret:NAME)"}},
        {.text = AGENT "workers = 128\n" CEPH VOLUME KEYS,
         .problems = {"5: workers = '128': out of range (allowed: 0..64)"}},
        {.text = AGENT "poll_interval_ms = 1s\n" CEPH VOLUME KEYS,
         .problems = {"5: poll_interval_ms = '1s': not a decimal number (allowed: 10..60000)"}},
        {.text = "[agent]\nrole = storage\nhook_file = /x\nstate_dir = /y\n" CEPH VOLUME KEYS,
         .problems = {"2: role = 'storage': allowed: volume, compute"}},
        {.text = "[agent]\nrole = volume\nhook_file = events.jsonl\nstate_dir = /y\n" CEPH VOLUME
                 KEYS,
         .problems = {"3: hook_file = 'events.jsonl': must be an absolute path"}},
        {.text = AGENT CEPH VOLUME, .problems = {"0: missing section [keys] (required: provider)"}},
        {.text = AGENT "[ceph]\nconf = /c\nclient = client.cinder\npool = volumes\n" VOLUME KEYS,
         .problems = {"7: client = 'client.cinder': give the cephx user without \"client.\" "
                      "(client = cinder)"}},
        {.text = MINIMAL "[compute]\nuri = qemu:///system\n",
         .problems = {"14: [compute] is only used by role = compute"}},
        {.text = MINIMAL "kek_id = kek-1\n",
         .problems = {"14: kek_id is only used by provider = metadata"}},
        {.text = MINIMAL "[luks]\niter_time_ms = 100\niterations = 5000\n",
         .problems = {"16: iter_time_ms and iterations are mutually exclusive (set only one)"}},
        {.text = AGENT CEPH "[volume]\ntypes = gold, silver/fast\n" KEYS,
         .problems = {"10: types = 'gold, silver/fast': 'silver/fast' is not a valid volume "
                      "type id (allowed: 1 to 64 characters of A-Z a-z 0-9 _ . -)"}},
        {.text = AGENT CEPH VOLUME "[keys]\nprovider = metadata\nkek_id = kek-1\n"
                 "kek_file = /k1\nold_keks = kek-1:/k0\n",
         .problems = {"15: old_keks: KEK id 'kek-1' is already kek_id (each KEK needs an id of "
                      "its own)"}},
        {.text = MINIMAL "[luks]\nhash = md5\n",
         .problems = {"15: hash = 'md5': allowed: sha1, sha256, sha512"}},
        {.text = NUL_ROW, .problems = {"15: line contains a NUL byte"},
         .length = sizeof(NUL_ROW) - 1},
        {.text = "[agent]\nrole = compute\nhook_file = /x\nstate_dir = /y\n" CEPH KEYS
                 "[secret:ceph]\nuuid = 457eb676-33da-42ec-9a8c-9293d545c337\nusage = ceph\n",
         .problems = {"12: missing key 'usage_name' in [secret:ceph] (required by usage = ceph)",
                      "12: missing value source in [secret:ceph] (set keyring and entity, or "
                      "key_file)"}},
        {.text = "[agent]\nrole = compute\nhook_file = /x\nstate_dir = /y\n" CEPH KEYS
                 "[compute]\non_raw_disk = ignore\n",
         .problems = {"13: on_raw_disk = 'ignore': allowed: pause, alert"}},
        {.text = "[agent]\nrole = compute\nhook_file = /x\nstate_dir = /y\n" CEPH KEYS
                 "[compute]\navailability_zones = nova,;rm\n",
         .problems = {"13: availability_zones = 'nova,;rm': ';rm' is not a valid availability "
                      "zone name (allowed: 1 to 64 characters of A-Z a-z 0-9 _ . -)"}},
        {.text = MINIMAL "[compute]\navailability_zones = nova\n",
         .problems = {"14: [compute] is only used by role = compute"}},
};

static void check_config_row(size_t i, const struct config_row *row)
{
        struct config_problems p = {0};
        struct config *c = NULL;
        char path[512], want[1024];
        size_t n_want = 0;
        bool ok;
        int r;

        snprintf(path, sizeof(path), "%s/agent.ini", unit_tmpdir());
        REQUIRE(write_file(path, row->text, row->length ? row->length : strlen(row->text), 0600));
        r = config_load(path, false, &c, &p);
        while (n_want < 4 && row->problems[n_want])
                n_want++;
        ok = r == -EINVAL && c == NULL && p.count == n_want;
        for (size_t k = 0; ok && k < n_want; k++) {
                snprintf(want, sizeof(want), "%s:%s", path, row->problems[k]);
                ok = strcmp(p.lines[k], want) == 0;
        }
        if (!ok) {
                fprintf(stderr, "  config row %zu: got %d with %zu problems:\n", i, r, p.count);
                for (size_t k = 0; k < p.count; k++)
                        fprintf(stderr, "    %s\n", p.lines[k]);
                for (size_t k = 0; k < n_want; k++)
                        fprintf(stderr, "  want %s:%s\n", path, row->problems[k]);
                unit_fail(__FILE__, __LINE__, "config");
        }
        config_free(c);
        config_problems_clear(&p);
}

TEST(hostile_config_files)
{
        for (size_t i = 0; i < sizeof(config_rows) / sizeof(config_rows[0]); i++)
                check_config_row(i, &config_rows[i]);
}

/* ---- key and KEK files -> keys_read_file / keywrap_load_kek ------------ */

enum file_kind { REGULAR, SYMLINK, DIRECTORY, FIFO, MISSING };

struct key_file_row {
        bool kek;           /* keywrap_load_kek("kek-1", PATH) instead of keys_read_file */
        enum file_kind kind;
        size_t size;        /* REGULAR and SYMLINK (its target) */
        mode_t mode;
        int r;
        const char *reason;
};

static const struct key_file_row key_file_rows[] = {
        {false, REGULAR, 0, 0600, -EBADMSG, "key file PATH is 0 bytes; it must be 16 to 64 bytes"},
        {false, REGULAR, 15, 0600, -EBADMSG,
         "key file PATH is 15 bytes; it must be 16 to 64 bytes"},
        {false, REGULAR, 65, 0400, -EBADMSG,
         "key file PATH is 65 bytes; it must be 16 to 64 bytes"},
        {false, REGULAR, 32, 0640, -EPERM,
         "key file PATH is accessible by group or others (mode 0640); chmod 600 it"},
        {false, REGULAR, 32, 0604, -EPERM,
         "key file PATH is accessible by group or others (mode 0604); chmod 600 it"},
        {false, SYMLINK, 32, 0600, -ELOOP,
         "key file PATH is a symbolic link; refusing to follow it"},
        {false, DIRECTORY, 0, 0700, -EINVAL, "key file PATH is not a regular file"},
        {false, FIFO, 0, 0600, -EINVAL, "key file PATH is not a regular file"},
        {false, MISSING, 0, 0, -ENOENT, "key file PATH not found"},
        {true, REGULAR, 31, 0600, -EBADMSG,
         "KEK file PATH is 31 bytes; it must be exactly 32 bytes"},
        {true, REGULAR, 64, 0600, -EBADMSG,
         "KEK file PATH is 64 bytes; it must be exactly 32 bytes"},
        {true, REGULAR, 32, 0644, -EPERM,
         "KEK file PATH is accessible by group or others (mode 0644); chmod 600 it"},
        {true, SYMLINK, 32, 0600, -ELOOP,
         "KEK file PATH is a symbolic link; refusing to follow it"},
        {true, MISSING, 0, 0, -ENOENT, "KEK file PATH not found"},
};

static bool make_key_file(const char *dir, const struct key_file_row *row, char *path,
                          size_t size)
{
        unsigned char bytes[128];
        char target[512];

        memset(bytes, 0x5a, sizeof(bytes));
        snprintf(path, size, "%s/%s", dir, row->kek ? "kek-1.bin" : VID ".key");
        switch (row->kind) {
        case REGULAR:
                return write_file(path, bytes, row->size, row->mode);
        case SYMLINK:
                snprintf(target, sizeof(target), "%s/target", dir);
                return write_file(target, bytes, row->size, row->mode) &&
                       symlink(target, path) == 0;
        case DIRECTORY:
                return mkdir(path, row->mode) == 0;
        case FIFO:
                return mkfifo(path, row->mode) == 0;
        case MISSING:
                return true;
        }
        return false;
}

TEST(hostile_key_files)
{
        for (size_t i = 0; i < sizeof(key_file_rows) / sizeof(key_file_rows[0]); i++) {
                const struct key_file_row *row = &key_file_rows[i];
                struct keywrap_kek *kek = NULL;
                struct secret *key = NULL;
                const char *reason = NULL;
                char path[512];
                int r;

                REQUIRE(make_key_file(unit_tmpdir(), row, path, sizeof(path)));
                if (row->kek)
                        r = keywrap_load_kek("kek-1", path, &kek, &reason);
                else
                        r = keys_read_file(path, &key, &reason);
                check_row(row->kek ? "KEK file" : "key file", i, r, row->r, reason, row->reason,
                          path);
                CHECK(key == NULL && kek == NULL);
                secret_free(key);
                keywrap_kek_free(kek);
        }
}

/* ---- keyrings -> keyring_read_key ---------------------------------------- */

/* base64 of the bytes 1..28: the size of a real cephx key blob. */
#define KEY_B64 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA=="

struct keyring_row {
        const char *text; /* NULL: no file */
        const char *entity;
        int r;
        const char *reason;
};

static const struct keyring_row keyring_rows[] = {
        {"[client.cinder]\n\tkey = " KEY_B64 "\n", "client.nova", -ENOENT,
         "keyring PATH has no key for [client.nova]"},
        {"[client.cinder-backup]\n\tkey = " KEY_B64 "\n", "client.cinder", -ENOENT,
         "keyring PATH has no key for [client.cinder]"},
        {"[client.cinder]\n\tcaps mon = \"profile rbd\"\n[client.admin]\n\tkey = " KEY_B64 "\n",
         "client.cinder", -ENOENT, "keyring PATH has no key for [client.cinder]"},
        {"\tkey = " KEY_B64 "\n", "client.cinder", -ENOENT,
         "keyring PATH has no key for [client.cinder]"},
        {"", "client.cinder", -ENOENT, "keyring PATH has no key for [client.cinder]"},
        {"[client.cinder]\n\tkey = not*base64\n", "client.cinder", -EBADMSG,
         "keyring PATH: key of [client.cinder] is not a cephx key (not base64 of a usable "
         "length)"},
        {"[client.cinder]\n\tkey = AQID*AUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA==\n", "client.cinder",
         -EBADMSG, "keyring PATH: key of [client.cinder] is not a cephx key (not base64)"},
        {"[client.cinder]\n\tkey = AQIDBAUGBwgJCgsMDQ4P EBESExQVFhcYGRobHA==\n", "client.cinder",
         -EBADMSG,
         "keyring PATH: key of [client.cinder] is not a cephx key (not base64 of a usable "
         "length)"},
        {"[client.cinder]\n\tkey = AQIDBAUGBwgJCgsM\n", "client.cinder", -EBADMSG,
         "keyring PATH: key of [client.cinder] is not a cephx key (base64 of 12 bytes; "
         "expected 16 to 64)"},
        {"[client.cinder]\n\tkey =\n", "client.cinder", -EBADMSG,
         "keyring PATH: key of [client.cinder] is not a cephx key (not base64 of a usable "
         "length)"},
        {NULL, "client.cinder", -ENOENT, "cannot open keyring PATH: No such file or directory"},
};

TEST(hostile_keyrings)
{
        for (size_t i = 0; i < sizeof(keyring_rows) / sizeof(keyring_rows[0]); i++) {
                const struct keyring_row *row = &keyring_rows[i];
                struct secret *key = NULL;
                const char *reason = NULL;
                char path[512];
                int r;

                snprintf(path, sizeof(path), "%s/ceph.client.cinder.keyring", unit_tmpdir());
                if (row->text)
                        REQUIRE(write_file(path, row->text, strlen(row->text), 0600));
                r = keyring_read_key(path, row->entity, &key, &reason);
                check_row("keyring", i, r, row->r, reason, row->reason, path);
                CHECK(key == NULL);
                secret_free(key);
        }
}

/* Not hostile: forms Ceph's own parser reads (ceph-authtool -l), which must
 * not be refused either. */
static const char *const keyring_forms_ceph_reads[] = {
        "[client.cinder]\n\tkey = " KEY_B64 " # rotated 2026-01\n",
        "[client.cinder]\n\tkey = " KEY_B64 ";old\n",
        "[client.cinder] ; main key\n\tkey = \"" KEY_B64 "\"\n",
        "# managed by ansible\r\n[client.cinder]\r\n  key=" KEY_B64 "  \r\n",
};

TEST(hostile_keyring_forms_ceph_reads)
{
        for (size_t i = 0; i < sizeof(keyring_forms_ceph_reads) / sizeof(char *); i++) {
                const char *text = keyring_forms_ceph_reads[i], *reason = NULL;
                struct secret *key = NULL;
                char path[512];
                int r;

                snprintf(path, sizeof(path), "%s/ceph.client.cinder.keyring", unit_tmpdir());
                REQUIRE(write_file(path, text, strlen(text), 0600));
                r = keyring_read_key(path, "client.cinder", &key, &reason);
                if (r < 0 || key->len != 28 || key->data[0] != 1 || key->data[27] != 28) {
                        fprintf(stderr, "  keyring form %zu: %d %s\n", i, r, reason ? reason : "");
                        unit_fail(__FILE__, __LINE__, "keyring form Ceph reads");
                }
                secret_free(key);
        }
}

TEST(hostile_keyring_too_large)
{
        char big[KEYRING_MAX_BYTES + 1], path[512];
        struct secret *key = NULL;
        const char *reason = NULL;
        int r;

        memset(big, '#', sizeof(big));
        snprintf(path, sizeof(path), "%s/huge.keyring", unit_tmpdir());
        REQUIRE(write_file(path, big, sizeof(big), 0600));
        r = keyring_read_key(path, "client.cinder", &key, &reason);
        check_row("keyring", 99, r, -EFBIG, reason, "keyring PATH is larger than 4000 bytes", path);
        CHECK(key == NULL);
}

/* ---- key records -> keywrap_parse / keywrap_open ------------------------ */

/* tests/unit/test_keywrap.c's golden record: KEK bytes 00..1f under the id
 * "kek-2026.a", for volume VID. */
#define R_HEAD "{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-2026.a\","
#define R_NONCE "\"nonce\":\"wMHCw8TFxsfIycrL\","
#define R_WRAPPED "\"wrapped\":\"oOmFxNPdMPkwcFcJngFG+fzCUYyIV6kNknrxsYvAwQk=\","
#define R_TAG "\"tag\":\"cvVbHW1nzEFzbu2kDxpdiA==\","
#define R_CREATED "\"created\":\"2026-01-02T03:04:05Z\"}"
#define GOLDEN R_HEAD R_NONCE R_WRAPPED R_TAG R_CREATED

enum record_op { PARSE, OPEN };

struct record_row {
        enum record_op op;
        const char *record;
        const char *volume_id; /* OPEN */
        int r;
        const char *reason;
};

static const struct record_row record_rows[] = {
        {PARSE, "", NULL, -EBADMSG, "record is empty"},
        {PARSE, "v=1 alg=AES-256-GCM", NULL, -EBADMSG,
         "record is not valid JSON (error at character 0)"},
        {PARSE, R_HEAD R_NONCE, NULL, -EBADMSG, "record is cut short"},
        {PARSE, "[]", NULL, -EBADMSG, "record is not a JSON object"},
        {PARSE, "[" GOLDEN "]", NULL, -EBADMSG,
         "record is not valid JSON (error at character 6)"}, /* misleading, as above */
        /* Misleading: valid JSON, refused for nesting deeper than the record's 2 levels. */
        {PARSE, "{\"v\":{\"n\":1}}", NULL, -EBADMSG,
         "record is not valid JSON (error at character 10)"},
        {PARSE, GOLDEN "\n" GOLDEN, NULL, -EBADMSG, "record has text after its JSON object"},
        {PARSE, R_HEAD R_NONCE R_WRAPPED R_TAG "\"created\":\"2026\",\"key\":\"aa\"}", NULL,
         -EBADMSG, "record has an unknown field 'key'"},
        {PARSE, R_HEAD R_NONCE R_WRAPPED R_CREATED, NULL, -EBADMSG, "record has no field 'tag'"},
        {PARSE, "{\"v\":2,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-2026.a\"," R_NONCE R_WRAPPED R_TAG
         R_CREATED, NULL, -EBADMSG, "record has version 2; only version 1 is known"},
        {PARSE, "{\"v\":\"1\",\"alg\":\"AES-256-GCM\",\"kek\":\"kek-2026.a\"," R_NONCE R_WRAPPED
         R_TAG R_CREATED, NULL, -EBADMSG, "record field 'v' is not an integer"},
        {PARSE, "{\"v\":1,\"alg\":\"AES-128-GCM\",\"kek\":\"kek-2026.a\"," R_NONCE R_WRAPPED R_TAG
         R_CREATED, NULL, -EBADMSG, "record's algorithm 'AES-128-GCM' is not AES-256-GCM"},
        {PARSE, "{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek 1\"," R_NONCE R_WRAPPED R_TAG
         R_CREATED, NULL, -EBADMSG,
         "record field 'kek' is not 1 to 32 characters of A-Z a-z 0-9 _ . -"},
        {PARSE, R_HEAD "\"nonce\":\"wMHCw8TFxsfI\"," R_WRAPPED R_TAG R_CREATED, NULL, -EBADMSG,
         "record field 'nonce' is not canonical base64 of 12 bytes"},
        {PARSE, R_HEAD R_NONCE R_WRAPPED "\"tag\":\"cvVbHW1nzEFzbu2kDxpdiB==\"," R_CREATED, NULL,
         -EBADMSG, "record field 'tag' is not canonical base64 of 16 bytes"},
        {PARSE, R_HEAD R_NONCE "\"wrapped\":\"oOmFxNPdMPkwcFcJ\"," R_TAG R_CREATED, NULL, -EBADMSG,
         "record field 'wrapped' is not canonical base64 of 16 to 64 bytes"},
        {PARSE, R_HEAD R_NONCE R_WRAPPED "\"tag\":null," R_CREATED, NULL, -EBADMSG,
         "record field 'tag' is not a string"},
        {OPEN, GOLDEN, "", -EINVAL, "volume id must be 1 to 255 characters"},
        {OPEN, "{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-2025\"," R_NONCE R_WRAPPED R_TAG
         R_CREATED, VID, -ENOKEY, "key was wrapped with KEK 'kek-2025', which is not configured"},
        {OPEN, GOLDEN, OTHER_VID, -EBADMSG,
         "wrapped key does not authenticate with KEK 'kek-2026.a' (record tampered with, "
         "copied from another volume, or wrong KEK file)"},
        {OPEN, R_HEAD R_NONCE R_WRAPPED "\"tag\":\"cvVbHW1nzEFzbu2kDxpdiQ==\"," R_CREATED, VID,
         -EBADMSG,
         "wrapped key does not authenticate with KEK 'kek-2026.a' (record tampered with, "
         "copied from another volume, or wrong KEK file)"},
};

static struct keywrap_kek *golden_kek(void)
{
        unsigned char bytes[KEYWRAP_KEK_BYTES];
        struct keywrap_kek *kek = NULL;
        const char *reason = NULL;
        char path[512];

        for (int i = 0; i < KEYWRAP_KEK_BYTES; i++)
                bytes[i] = (unsigned char)i;
        snprintf(path, sizeof(path), "%s/kek-2026.a.bin", unit_tmpdir());
        if (!write_file(path, bytes, sizeof(bytes), 0600) ||
            keywrap_load_kek("kek-2026.a", path, &kek, &reason) < 0)
                return NULL;
        return kek;
}

TEST(hostile_key_records)
{
        struct keywrap_kek *kek = golden_kek();
        struct secret *key = NULL;
        const char *reason = NULL;

        REQUIRE(kek);
        /* The golden record itself opens: the rows fail for their reason. */
        REQUIRE(keywrap_open(&kek, 1, VID, GOLDEN, &key, &reason) == 0);
        secret_free(key);
        for (size_t i = 0; i < sizeof(record_rows) / sizeof(record_rows[0]); i++) {
                const struct record_row *row = &record_rows[i];
                struct keywrap_info info;
                int r;

                key = NULL;
                reason = NULL;
                if (row->op == PARSE)
                        r = keywrap_parse(row->record, &info, &reason);
                else
                        r = keywrap_open(&kek, 1, row->volume_id, row->record, &key, &reason);
                check_row("record", i, r, row->r, reason, row->reason, NULL);
                /* Every PARSE row also fails to open, for the same reason. */
                if (row->op == PARSE) {
                        r = keywrap_open(&kek, 1, VID, row->record, &key, &reason);
                        check_row("record (open)", i, r, row->r, reason, row->reason, NULL);
                }
                CHECK(key == NULL);
                secret_free(key);
        }
        keywrap_kek_free(kek);
}

TEST(hostile_key_record_too_long)
{
        char record[KEYWRAP_RECORD_MAX + 1];
        struct keywrap_info info;
        const char *reason = NULL;
        int r;

        memset(record, ' ', sizeof(record) - 1);
        record[sizeof(record) - 1] = '\0';
        memcpy(record, GOLDEN, strlen(GOLDEN));
        r = keywrap_parse(record, &info, &reason);
        check_row("record", 99, r, -EBADMSG, reason, "record is longer than 511 characters", NULL);
}

/* ---- Kolla config.json -> kolla_parse ------------------------------------ */

#define KOLLA_JSON "/var/lib/kolla/config_files/config.json"
#define KOLLA_FILE(entry) "{\"command\": \"agent run\", \"config_files\": [" entry "]}"

struct kolla_row {
        const char *json;
        size_t length; /* 0: strlen(json) */
        int r;
        const char *error; /* PATH: config.json */
};

static const struct kolla_row kolla_rows[] = {
        {"{\"command\": \"agent\"}\0{\"command\": \"sh\"}", 38, -EINVAL,
         "PATH: not valid JSON (a NUL byte)"},
        {"{\"command\": \"agent\", \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]}", 0, -EINVAL, "PATH: JSON nested deeper than 8"},
        {"{\"command\": \"agent\",}", 0, -EINVAL,
         "PATH: not valid JSON (unexpected character, near byte 20)"},
        {"{\"command\": 42}", 0, -EINVAL, "PATH: 'command' must be a string"},
        {"{\"command\": \"agent\\u0000; sh\"}", 0, -EINVAL, "PATH: 'command' holds a NUL byte"},
        {"{\"command\": \"agent run\\nsh -i\"}", 0, -EINVAL,
         "PATH: command holds a control character (byte 9); it is one line, split on blanks"},
        {KOLLA_FILE("{\"source\": \"../../etc/shadow\", \"dest\": \"/etc/x\"}"), 0, -EINVAL,
         "PATH: config_files[0]: source '../../etc/shadow' is not an absolute path (shorter than "
         "4096 bytes)"},
        {KOLLA_FILE("{\"source\": \"/a\", \"dest\": \"/b\", \"owner\": \"root;rm -rf /\"}"), 0,
         -EINVAL,
         "PATH: config_files[0]: owner 'root;rm -rf /' is not user or user:group (names or "
         "numeric ids)"},
        {KOLLA_FILE("{\"source\": \"/a\", \"dest\": \"/b\", \"perm\": \"-0600\"}"), 0, -EINVAL,
         "PATH: config_files[0]: perm '-0600' is not an octal mode like \"0600\" (3 or 4 digits "
         "0-7)"},
        {KOLLA_FILE("{\"source\": \"/a\", \"dest\": \"/b\", \"merge\": 1}"), 0, -EINVAL,
         "PATH: config_files[0]: 'merge' must be true or false"},
        {KOLLA_FILE("null"), 0, -EINVAL, "PATH: config_files[0]: not an object"},
        {"{\"command\": \"agent\", \"config_files\": \"/a\"}", 0, -EINVAL,
         "PATH: config_files must be a list"},
};

TEST(hostile_kolla_config_json)
{
        char error[KOLLA_ERROR_MAX];

        for (size_t i = 0; i < sizeof(kolla_rows) / sizeof(kolla_rows[0]); i++) {
                const struct kolla_row *row = &kolla_rows[i];
                struct kolla_config *k = NULL;
                size_t n = row->length ? row->length : strlen(row->json);
                int r;

                error[0] = '\0';
                r = kolla_parse(KOLLA_JSON, row->json, n, &k, error, sizeof(error));
                check_row("kolla", i, r, row->r, error, row->error, KOLLA_JSON);
                CHECK(k == NULL);
                kolla_config_free(k);
        }
}
