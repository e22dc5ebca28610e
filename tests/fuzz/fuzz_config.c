/* libFuzzer target for the agent's file parsers that read what an operator
 * writes: the INI loader (config.c, without environment checks), the Ceph
 * keyring reader (keyring.c) and the wrapped-key record (keywrap.c). The
 * input is written to a temp file and given to config_load() and
 * keyring_read_key(), and, as a NUL-terminated string, to keywrap_parse()
 * and keywrap_open() (with the KEK of the golden record in
 * tests/unit/keys/test_keywrap.c, so a real record unwraps). Besides the
 * sanitizers it checks the headers' contracts and abort()s on a violation:
 *   - config_load: 0 with a config and no problem, or -EINVAL with at
 *     least one problem; every problem is one line "FILE:LINE: message",
 *     in line order;
 *   - keyring_read_key / keywrap_*: only the documented errors, a reason
 *     with every failure, *ret untouched on failure, keys of a legal size. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "keys/keyring.h"
#include "keys/keywrap.h"

#define GOLDEN_VOLUME "0d3c8d5e-6b9a-4f0e-8c2a-5b1e7d9f3a64"

static char directory[256];
static char path[300];
static char kek_path[2][300];
static struct keywrap_kek *keks[2];

static void fail(const char *what)
{
        fprintf(stderr, "fuzz_config: invariant violated: %s\n", what);
        abort();
}

static void write_file(const char *file, const void *data, size_t size)
{
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0)
                fail("cannot write a temp file");
}

static void cleanup(void)
{
        keywrap_kek_free(keks[0]);
        keywrap_kek_free(keks[1]);
        unlink(path);
        unlink(kek_path[0]);
        unlink(kek_path[1]);
        rmdir(directory);
}

/* The golden record's KEK (bytes 00..1f, "kek-2026.a") and one more. */
static void load_keks(void)
{
        static const char *const ids[2] = {"kek-2026.a", "kek-1"};
        unsigned char bytes[KEYWRAP_KEK_BYTES];
        const char *reason = NULL;

        for (int k = 0; k < 2; k++) {
                for (int i = 0; i < KEYWRAP_KEK_BYTES; i++)
                        bytes[i] = (unsigned char)(k == 0 ? i : 0x11);
                snprintf(kek_path[k], sizeof(kek_path[k]), "%s/%s.kek", directory, ids[k]);
                write_file(kek_path[k], bytes, sizeof(bytes));
                if (keywrap_load_kek(ids[k], kek_path[k], &keks[k], &reason) < 0) {
                        fprintf(stderr, "cannot load a KEK: %s\n", reason);
                        abort();
                }
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

        (void)argc;
        (void)argv;
        snprintf(directory, sizeof(directory), "%s/fuzz-config.XXXXXX", base);
        if (!mkdtemp(directory)) {
                perror("mkdtemp");
                abort();
        }
        snprintf(path, sizeof(path), "%s/agent.ini", directory);
        load_keks();
        atexit(cleanup);
        return 0;
}

static void check_reason(const char *reason)
{
        if (!reason || !*reason || strchr(reason, '\n'))
                fail("failure without a one-line reason");
}

/* "PATH:LINE: message", one line each, LINE never going down. */
static void check_problems(const struct config_problems *p)
{
        size_t n = strlen(path);
        unsigned long last = 0;

        for (size_t i = 0; i < p->count; i++) {
                const char *s = p->lines[i];
                char *end;
                unsigned long line;

                if (strncmp(s, path, n) != 0 || s[n] != ':')
                        fail("problem does not start with the file name");
                line = strtoul(s + n + 1, &end, 10);
                if (end == s + n + 1 || strncmp(end, ": ", 2) != 0 || !end[2])
                        fail("problem is not FILE:LINE: message");
                if (strchr(s, '\n'))
                        fail("problem spans lines");
                if (line < last)
                        fail("problems not in line order");
                last = line;
        }
}

static void check_config(const struct config *c)
{
        if (!c || !c->path || !c->hook_file || !c->state_dir || !c->ceph_conf ||
            !c->ceph_client || !c->pool || !c->image_prefix)
                fail("a loaded config lacks a required value");
        if (c->n_types > CONFIG_MAX_TYPES || c->n_secrets > CONFIG_MAX_SECRETS ||
            c->n_old_keks > CONFIG_MAX_OLD_KEKS)
                fail("a loaded config is over a limit");
        if (c->role == ROLE_VOLUME && !c->all_types && c->n_types == 0)
                fail("volume role without types");
        if (c->workers == 0 || c->max_json_depth == 0 || c->max_line_bytes == 0)
                fail("a loaded config has a zero limit");
        (void)config_wants_type(c, "6b1c3a4e-1f2d-4e5a-9c8b-7d6e5f4a3b2c");
        (void)config_wants_type(c, NULL);
}

static void fuzz_config(void)
{
        struct config_problems problems = {0};
        struct config *c = NULL;
        int r = config_load(path, false, &c, &problems);

        if (r == 0) {
                if (problems.count != 0)
                        fail("success with problems");
                check_config(c);
        } else {
                if (r != -EINVAL || c != NULL)
                        fail("unexpected config_load failure");
                if (problems.count == 0)
                        fail("failure without a problem");
        }
        check_problems(&problems);
        config_free(c);
        config_problems_clear(&problems);
}

static void fuzz_keyring(const char *entity)
{
        struct secret *key = NULL;
        const char *reason = NULL;
        int r = keyring_read_key(path, entity, &key, &reason);

        if (r == 0) {
                if (!key || key->len < KEYRING_KEY_MIN || key->len > KEYRING_KEY_MAX)
                        fail("keyring key of a wrong size");
                secret_free(key);
                return;
        }
        if (r != -ENOENT && r != -EBADMSG && r != -EFBIG)
                fail("unexpected keyring_read_key error");
        if (key)
                fail("keyring_read_key set a key on failure");
        check_reason(reason);
}

static void fuzz_record(const char *record)
{
        struct keywrap_info info;
        struct secret *key = NULL;
        const char *reason = NULL;
        int r = keywrap_parse(record, &info, &reason);

        if (r == 0) {
                if (info.version != 1 || strcmp(info.algorithm, KEYWRAP_ALGORITHM) != 0 ||
                    !keywrap_is_kek_id(info.kek_id) || strnlen(info.created, 40) == 40)
                        fail("keywrap_parse accepted a bad record");
        } else {
                if (r != -EBADMSG)
                        fail("unexpected keywrap_parse error");
                check_reason(reason);
        }
        r = keywrap_open(keks, 2, GOLDEN_VOLUME, record, &key, &reason);
        if (r == 0) {
                if (!key || key->len < 16 || key->len > 64)
                        fail("unwrapped key of a wrong size");
                secret_free(key);
                return;
        }
        if (r != -EBADMSG && r != -ENOKEY)
                fail("unexpected keywrap_open error");
        if (key)
                fail("keywrap_open set a key on failure");
        check_reason(reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *record = malloc(size + 1);

        if (!record)
                return 0;
        write_file(path, data, size);
        fuzz_config();
        fuzz_keyring("client.cinder");
        fuzz_keyring("client.admin");
        memcpy(record, data, size);
        record[size] = '\0';
        fuzz_record(record);
        free(record);
        return 0;
}
