/* Unit tests for agent/config/: what the file points at on disk (config_load
 * with check_env, and config_load_feed/config_load_all): directories, the Ceph
 * conf and keyring, the key directory and command, KEK files, secret key
 * files, the AMQP password and TLS CA files.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An environment where every check passes; fields name what to break. */
struct env {
        char dir[256];
        char state[300], conf[300], keyring[300], keys[300], command[300];
};

static void env_setup(struct env *e)
{
        snprintf(e->dir, sizeof(e->dir), "%s", unit_tmpdir());
        snprintf(e->state, sizeof(e->state), "%s/state", e->dir);
        snprintf(e->conf, sizeof(e->conf), "%s/ceph.conf", e->dir);
        snprintf(e->keyring, sizeof(e->keyring), "%s/keyring", e->dir);
        snprintf(e->keys, sizeof(e->keys), "%s/keys", e->dir);
        snprintf(e->command, sizeof(e->command), "%s/keycmd", e->dir);
        mkdir(e->state, 0700);
        mkdir(e->keys, 0700);
        write_file(e->dir, "ceph.conf", "", 0);
        write_file(e->dir, "keyring", "", 0);
        write_file(e->dir, "keycmd", "#!/bin/sh\n", 10);
        chmod(e->command, 0755);
}

static int env_load(const struct env *e, bool command, struct config_problems *p)
{
        char text[4096];
        struct config *c = NULL;
        int r;

        snprintf(text, sizeof(text),
                 "[agent]\nrole = volume\nhook_file = %s/events.jsonl\nstate_dir = %s\n"
                 "[ceph]\nconf = %s\nclient = cinder\nkeyring = %s\npool = volumes\n"
                 "[volume]\ntypes = *\n[keys]\nprovider = %s\n%s = %s\n",
                 e->state, e->state, e->conf, e->keyring, command ? "command" : "file",
                 command ? "command" : "directory", command ? e->command : e->keys);
        snprintf(cfg_path, sizeof(cfg_path), "%s", write_file(e->dir, "agent.ini", text,
                                                               strlen(text)));
        r = config_load(cfg_path, true, &c, p);
        config_free(c);
        return r;
}

TEST(config_environment_good)
{
        struct config_problems p = {0};
        struct env e;

        env_setup(&e);
        CHECK(env_load(&e, false, &p) == 0);
        CHECK(env_load(&e, true, &p) == 0);
        print_problems(&p);
        config_problems_clear(&p);
}

TEST(config_environment_problems)
{
        struct config_problems p = {0};
        char want[1024];
        struct env e;

        env_setup(&e);
        snprintf(e.state, sizeof(e.state), "%s/missing", e.dir);
        snprintf(e.keys, sizeof(e.keys), "%s/nokeys", e.dir);
        snprintf(e.conf, sizeof(e.conf), "%s/keys", e.dir); /* a directory */
        CHECK(env_load(&e, false, &p) == -EINVAL);
        CHECK(p.count == 4);
        snprintf(want, sizeof(want), ":3: hook file directory %s does not exist", e.state);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want), ":4: state directory %s does not exist", e.state);
        CHECK(problem_is(&p, 1, want));
        snprintf(want, sizeof(want), ":6: ceph conf %s is not a regular file", e.conf);
        CHECK(problem_is(&p, 2, want));
        snprintf(want, sizeof(want), ":14: key directory %s does not exist", e.keys);
        CHECK(problem_is(&p, 3, want));
        config_problems_clear(&p);

        /* State dir is a file; keyring missing; command not executable. */
        env_setup(&e);
        snprintf(e.state, sizeof(e.state), "%s", e.conf);
        snprintf(e.keyring, sizeof(e.keyring), "%s/nokeyring", e.dir);
        chmod(e.command, 0644);
        CHECK(env_load(&e, true, &p) == -EINVAL);
        CHECK(p.count == 4);
        snprintf(want, sizeof(want), ":3: hook file directory %s is not a directory", e.state);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want), ":4: state directory %s is not a directory", e.state);
        CHECK(problem_is(&p, 1, want));
        snprintf(want, sizeof(want), ":8: keyring %s does not exist", e.keyring);
        CHECK(problem_is(&p, 2, want));
        snprintf(want, sizeof(want), ":14: key command %s is not executable: Permission denied",
                 e.command);
        CHECK(problem_is(&p, 3, want));
        config_problems_clear(&p);
}

/* A KEK file of len bytes with mode; returns its path (static). */
static const char *make_kek(const char *dir, const char *name, size_t len, mode_t mode)
{
        static const char bytes[64] = "0123456789abcdef0123456789abcdef0123456789abcdef";
        const char *path = write_file(dir, name, bytes, len);

        chmod(path, mode);
        return path;
}

/* Lines 13..16: provider = metadata, kek_id, kek_file, old_keks (if any). */
static int env_load_metadata(const struct env *e, const char *kek_file, const char *old_keks,
                             struct config_problems *p)
{
        char text[4096];
        struct config *c = NULL;
        int r;

        snprintf(text, sizeof(text),
                 "[agent]\nrole = volume\nhook_file = %s/events.jsonl\nstate_dir = %s\n"
                 "[ceph]\nconf = %s\nclient = cinder\nkeyring = %s\npool = volumes\n"
                 "[volume]\ntypes = *\n[keys]\nprovider = metadata\nkek_id = kek-1\n"
                 "kek_file = %s\n%s%s%s",
                 e->state, e->state, e->conf, e->keyring, kek_file, old_keks ? "old_keks = " : "",
                 old_keks ? old_keks : "", old_keks ? "\n" : "");
        snprintf(cfg_path, sizeof(cfg_path), "%s", write_file(e->dir, "agent.ini", text,
                                                               strlen(text)));
        r = config_load(cfg_path, true, &c, p);
        if (r == 0)
                CHECK(c->key_provider == KEY_PROVIDER_METADATA);
        config_free(c);
        return r;
}

TEST(config_environment_kek_files)
{
        struct config_problems p = {0};
        char kek[300], old[600], link[300], want[1024];
        struct env e;

        env_setup(&e);
        snprintf(kek, sizeof(kek), "%s", make_kek(e.dir, "kek-1.bin", 32, 0600));
        snprintf(old, sizeof(old), "kek-0:%s, kek-r:", make_kek(e.dir, "kek-0.bin", 32, 0600));
        strcat(old, make_kek(e.dir, "kek-r.bin", 32, 0400));
        CHECK(env_load_metadata(&e, kek, NULL, &p) == 0);
        CHECK(env_load_metadata(&e, kek, old, &p) == 0);
        print_problems(&p);
        config_problems_clear(&p);

        make_kek(e.dir, "kek-1.bin", 32, 0644);
        CHECK(env_load_metadata(&e, kek, NULL, &p) == -EINVAL);
        snprintf(want, sizeof(want),
                 ":15: KEK file %s is accessible by group or others (mode 0644); chmod 600 it",
                 kek);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        make_kek(e.dir, "kek-1.bin", 31, 0600);
        CHECK(env_load_metadata(&e, kek, NULL, &p) == -EINVAL);
        snprintf(want, sizeof(want),
                 ":15: KEK file %s is 31 bytes; a KEK is exactly 32 random bytes (head -c 32 "
                 "/dev/urandom)",
                 kek);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        /* Both at once: each is its own fix. */
        make_kek(e.dir, "kek-1.bin", 33, 0640);
        CHECK(env_load_metadata(&e, kek, NULL, &p) == -EINVAL);
        CHECK(p.count == 2);
        snprintf(want, sizeof(want),
                 ":15: KEK file %s is accessible by group or others (mode 0640); chmod 600 it",
                 kek);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want),
                 ":15: KEK file %s is 33 bytes; a KEK is exactly 32 random bytes (head -c 32 "
                 "/dev/urandom)",
                 kek);
        CHECK(problem_is(&p, 1, want));
        config_problems_clear(&p);

        /* A symlink to a good KEK is still refused. */
        make_kek(e.dir, "kek-1.bin", 32, 0600);
        snprintf(link, sizeof(link), "%s/kek-link", e.dir);
        REQUIRE(symlink(kek, link) == 0);
        CHECK(env_load_metadata(&e, link, NULL, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":15: KEK file %s is a symbolic link; name the file itself",
                 link);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        CHECK(env_load_metadata(&e, e.keys, NULL, &p) == -EINVAL); /* a directory */
        snprintf(want, sizeof(want), ":15: KEK file %s is not a regular file", e.keys);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        snprintf(link, sizeof(link), "%s/nokek.bin", e.dir);
        CHECK(env_load_metadata(&e, link, NULL, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":15: KEK file %s does not exist", link);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);
}

TEST(config_environment_old_kek_files)
{
        struct config_problems p = {0};
        char kek[300], bad[300], old[1024], want[1024];
        struct env e;

        env_setup(&e);
        snprintf(kek, sizeof(kek), "%s", make_kek(e.dir, "kek-1.bin", 32, 0600));
        snprintf(bad, sizeof(bad), "%s", make_kek(e.dir, "kek-b.bin", 31, 0660));
        snprintf(old, sizeof(old), "good:%s, short:%s, gone:%s/nokek.bin",
                 make_kek(e.dir, "kek-0.bin", 32, 0600), bad, e.dir);
        CHECK(env_load_metadata(&e, kek, old, &p) == -EINVAL);
        CHECK(p.count == 3);
        snprintf(want, sizeof(want),
                 ":16: KEK file %s is accessible by group or others (mode 0660); chmod 600 it",
                 bad);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want),
                 ":16: KEK file %s is 31 bytes; a KEK is exactly 32 random bytes (head -c 32 "
                 "/dev/urandom)",
                 bad);
        CHECK(problem_is(&p, 1, want));
        snprintf(want, sizeof(want), ":16: KEK file %s/nokek.bin does not exist", e.dir);
        CHECK(problem_is(&p, 2, want));
        config_problems_clear(&p);
}

/* A compute config in e whose line 13 on is secrets (printf'ed with the
 * two paths given). */
static int env_load_compute(const struct env *e, const char *secrets, const char *path1,
                            const char *path2, struct config_problems *p)
{
        char text[4096], tail[2048];
        struct config *c = NULL;
        int r;

        snprintf(tail, sizeof(tail), secrets, path1, path2);
        snprintf(text, sizeof(text),
                 "[agent]\nrole = compute\nhook_file = %s/events.jsonl\nstate_dir = %s\n"
                 "[ceph]\nconf = %s\nclient = cinder\nkeyring = %s\npool = volumes\n"
                 "[keys]\nprovider = file\ndirectory = %s\n%s",
                 e->state, e->state, e->conf, e->keyring, e->keys, tail);
        snprintf(cfg_path, sizeof(cfg_path), "%s", write_file(e->dir, "agent.ini", text,
                                                               strlen(text)));
        r = config_load(cfg_path, true, &c, p);
        if (r == 0)
                CHECK(c->role == ROLE_COMPUTE && c->n_secrets > 0);
        config_free(c);
        return r;
}

/* Secrets from line 13: a (keyring %s, line 17) and b (key_file %s, line 23). */
#define ENV_SECRETS                                                      \
        "[secret:a]\n" UUID_1 "usage = ceph\nusage_name = client.cinder secret\n" \
        "keyring = %s\nentity = client.cinder\n"                         \
        "[secret:b]\n" UUID_2 "usage = volume\n"                          \
        "volume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\nkey_file = %s\n"

/* A file of len bytes with mode; returns its path (static). */
static const char *make_sized(const char *dir, const char *name, size_t len, mode_t mode)
{
        char *bytes = calloc(1, len + 1), old[512];
        const char *path;

        if (!bytes)
                abort();
        memset(bytes, 'k', len);
        snprintf(old, sizeof(old), "%s/%s", dir, name);
        unlink(old); /* it may be read-only */
        path = write_file(dir, name, bytes, len);
        free(bytes);
        chmod(path, mode);
        return path;
}

TEST(config_environment_secret_files)
{
        struct config_problems p = {0};
        char key_file[300], link[300], missing[300], want[1024];
        struct env e;

        env_setup(&e);
        snprintf(key_file, sizeof(key_file), "%s", make_sized(e.dir, "vol.bin", 64, 0600));
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, key_file, &p) == 0);
        make_sized(e.dir, "vol.bin", 1, 0400);
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, key_file, &p) == 0);
        make_sized(e.dir, "vol.bin", 4095, 0600);
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, key_file, &p) == 0);
        print_problems(&p);
        config_problems_clear(&p);

        /* Missing keyring and a key file others may read, in line order. */
        snprintf(missing, sizeof(missing), "%s/nokeyring", e.dir);
        make_sized(e.dir, "vol.bin", 64, 0644);
        CHECK(env_load_compute(&e, ENV_SECRETS, missing, key_file, &p) == -EINVAL);
        CHECK(p.count == 2);
        snprintf(want, sizeof(want), ":17: keyring %s does not exist", missing);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want),
                 ":23: key file %s is accessible by group or others (mode 0644); chmod 600 it",
                 key_file);
        CHECK(problem_is(&p, 1, want));
        config_problems_clear(&p);

        /* A directory as keyring; an empty key file. */
        make_sized(e.dir, "vol.bin", 0, 0600);
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keys, key_file, &p) == -EINVAL);
        CHECK(p.count == 2);
        snprintf(want, sizeof(want), ":17: keyring %s is not a regular file", e.keys);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want), ":23: key file %s is 0 bytes (allowed: 1..4095)", key_file);
        CHECK(problem_is(&p, 1, want));
        config_problems_clear(&p);

        make_sized(e.dir, "vol.bin", 4096, 0600);
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, key_file, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":23: key file %s is 4096 bytes (allowed: 1..4095)",
                 key_file);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        /* Group and others bits and a wrong size: each is its own fix. */
        make_sized(e.dir, "vol.bin", 0, 0604);
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, key_file, &p) == -EINVAL);
        CHECK(p.count == 2);
        snprintf(want, sizeof(want),
                 ":23: key file %s is accessible by group or others (mode 0604); chmod 600 it",
                 key_file);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want), ":23: key file %s is 0 bytes (allowed: 1..4095)", key_file);
        CHECK(problem_is(&p, 1, want));
        config_problems_clear(&p);

        /* secretfile_read() would refuse a symbolic link, even to a good file. */
        make_sized(e.dir, "vol.bin", 64, 0600);
        snprintf(link, sizeof(link), "%s/vol-link", e.dir);
        REQUIRE(symlink(key_file, link) == 0);
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, link, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":23: key file %s is a symbolic link; name the file itself",
                 link);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, e.keys, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":23: key file %s is not a regular file", e.keys);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        snprintf(missing, sizeof(missing), "%s/novol.bin", e.dir);
        CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, missing, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":23: key file %s does not exist", missing);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        /* Root reads any file; everyone else is told. */
        if (geteuid() != 0) {
                chmod(e.keyring, 0);
                CHECK(env_load_compute(&e, ENV_SECRETS, e.keyring, key_file, &p) == -EINVAL);
                snprintf(want, sizeof(want), ":17: keyring %s is not readable: Permission denied",
                         e.keyring);
                CHECK(p.count == 2 && problem_is(&p, 1, want)); /* [ceph] keyring too */
                chmod(e.keyring, 0644);
                config_problems_clear(&p);
        }
}

TEST(config_environment_not_checked_by_default)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        /* MINIMAL points at paths that do not exist here. */
        CHECK(load_text(MINIMAL, &c, &p) == 0);
        config_free(c);
        c = NULL;
        CHECK(config_load(cfg_path, true, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count >= 3);
        config_problems_clear(&p);
}

/* Which loader env_load_feed() calls. */
enum loader { FEED, CHECK_CONFIG, RUN };

/* A feed config in e's directory: MINIMAL's shape with e's state dir, a
 * Ceph conf and key directory that need not exist, and [amqp] at line 14
 * with password_file at line 16 and extra lines after it. */
static int env_load_feed(const struct env *e, const char *password_file, const char *extra,
                         enum loader loader, struct config_problems *p)
{
        char text[4096];
        struct config *c = NULL;
        int r;

        snprintf(text, sizeof(text),
                 "[agent]\nrole = volume\nhook_file = %s/events.jsonl\nstate_dir = %s\n"
                 "[ceph]\nconf = %s/none/ceph.conf\nclient = cinder\npool = volumes\n"
                 "[volume]\ntypes = *\n[keys]\nprovider = file\ndirectory = %s/none\n"
                 "[amqp]\nuser = feeder\npassword_file = %s\n%s",
                 e->state, e->state, e->dir, e->dir, password_file, extra);
        snprintf(cfg_path, sizeof(cfg_path), "%s", write_file(e->dir, "agent.ini", text,
                                                               strlen(text)));
        if (loader == FEED)
                r = config_load_feed(cfg_path, &c, p);
        else if (loader == CHECK_CONFIG)
                r = config_load_all(cfg_path, &c, p);
        else
                r = config_load(cfg_path, true, &c, p);
        config_free(c);
        return r;
}

TEST(config_feed_environment)
{
        struct config_problems p = {0};
        char password[300], link[300], want[1024];
        struct env e;

        env_setup(&e);
        snprintf(password, sizeof(password), "%s", make_sized(e.dir, "amqp.pass", 24, 0600));
        /* Feed does not look at Ceph or keys; check-config does. */
        CHECK(env_load_feed(&e, password, "", FEED, &p) == 0);
        print_problems(&p);
        config_problems_clear(&p);
        CHECK(env_load_feed(&e, password, "", CHECK_CONFIG, &p) == -EINVAL);
        CHECK(p.count == 2);
        snprintf(want, sizeof(want), ":6: ceph conf %s/none/ceph.conf does not exist", e.dir);
        CHECK(problem_is(&p, 0, want));
        config_problems_clear(&p);

        make_sized(e.dir, "amqp.pass", 24, 0640);
        CHECK(env_load_feed(&e, password, "", FEED, &p) == -EINVAL);
        snprintf(want, sizeof(want),
                 ":16: password file %s is accessible by group or others (mode 0640); chmod 600 "
                 "it",
                 password);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);
        /* check-config says the same; run does not read it. */
        CHECK(env_load_feed(&e, password, "", CHECK_CONFIG, &p) == -EINVAL);
        CHECK(p.count == 3 && problem_is(&p, 2, want));
        config_problems_clear(&p);
        CHECK(env_load_feed(&e, password, "", RUN, &p) == -EINVAL);
        CHECK(p.count == 2 && !strstr(p.lines[0], "password") && !strstr(p.lines[1], "password"));
        config_problems_clear(&p);

        make_sized(e.dir, "amqp.pass", 0, 0600);
        CHECK(env_load_feed(&e, password, "", FEED, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":16: password file %s is 0 bytes (allowed: 1..4094)",
                 password);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        make_sized(e.dir, "amqp.pass", 4095, 0600);
        CHECK(env_load_feed(&e, password, "", FEED, &p) == -EINVAL);
        snprintf(want, sizeof(want), ":16: password file %s is 4095 bytes (allowed: 1..4094)",
                 password);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        make_sized(e.dir, "amqp.pass", 4094, 0400);
        CHECK(env_load_feed(&e, password, "", FEED, &p) == 0);
        config_problems_clear(&p);

        snprintf(link, sizeof(link), "%s/amqp.link", e.dir);
        CHECK(symlink(password, link) == 0);
        CHECK(env_load_feed(&e, link, "", FEED, &p) == -EINVAL);
        snprintf(want, sizeof(want),
                 ":16: password file %s is a symbolic link; name the file itself", link);
        CHECK(p.count == 1 && problem_is(&p, 0, want));
        config_problems_clear(&p);

        snprintf(link, sizeof(link), "%s/missing.pass", e.dir);
        CHECK(env_load_feed(&e, link, "tls = yes\ntls_ca_file = /nonexistent/ca.pem\n", FEED,
                            &p) == -EINVAL);
        CHECK(p.count == 2);
        snprintf(want, sizeof(want), ":16: password file %s does not exist", link);
        CHECK(problem_is(&p, 0, want));
        CHECK(problem_is(&p, 1, ":18: TLS CA file /nonexistent/ca.pem does not exist"));
        config_problems_clear(&p);

        /* The state directory (rejects.jsonl) and the hook file's directory. */
        snprintf(e.state, sizeof(e.state), "%s/nostate", e.dir);
        CHECK(env_load_feed(&e, password, "", FEED, &p) == -EINVAL);
        CHECK(p.count == 2);
        snprintf(want, sizeof(want), ":3: hook file directory %s does not exist", e.state);
        CHECK(problem_is(&p, 0, want));
        snprintf(want, sizeof(want), ":4: state directory %s does not exist", e.state);
        CHECK(problem_is(&p, 1, want));
        config_problems_clear(&p);
}
