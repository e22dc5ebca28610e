/* Unit tests for agent/config/: the loader as a whole: every default, every
 * key set, the sample files, CRLF and a BOM, problems from several sections in
 * line order, over-long lines, a NUL byte, the cap on problems, a missing
 * file.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


TEST(config_minimal_has_every_default)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(MINIMAL, &c, &p) == 0);
        CHECK(p.count == 0);
        CHECK(strcmp(c->path, cfg_path) == 0);
        CHECK(c->role == ROLE_VOLUME);
        CHECK(strcmp(c->hook_file, "/var/lib/x/events.jsonl") == 0);
        CHECK(strcmp(c->state_dir, "/var/lib/x") == 0);
        CHECK(c->log_level == LOG_LEVEL_INFO);
        CHECK(c->log_format == LOG_FORMAT_TEXT);
        CHECK(c->workers >= 1 && c->workers <= 64);
        CHECK(c->max_line_bytes == 1048576);
        CHECK(c->max_json_depth == 32);
        CHECK(c->max_pending == 1024);
        CHECK(c->poll_interval_ms == 1000);
        CHECK(c->health_interval_s == 10);
        CHECK(strcmp(c->ceph_conf, "/etc/ceph/ceph.conf") == 0);
        CHECK(strcmp(c->ceph_client, "cinder") == 0);
        CHECK(c->ceph_keyring == NULL);
        CHECK(strcmp(c->pool, "volumes") == 0);
        CHECK(strcmp(c->image_prefix, "volume-") == 0);
        CHECK(c->ceph_timeout_s == 30);
        CHECK(c->all_types && c->n_types == 0);
        CHECK(c->lock_stale_after_s == 600);
        CHECK(c->key_provider == KEY_PROVIDER_FILE);
        CHECK(strcmp(c->key_directory, "/etc/keys") == 0);
        CHECK(c->key_command == NULL);
        CHECK(c->key_command_timeout_ms == 10000);
        CHECK(c->kek_id == NULL && c->kek_file == NULL && c->n_old_keks == 0);
        CHECK(strcmp(c->cipher, "aes") == 0);
        CHECK(strcmp(c->cipher_mode, "xts-plain64") == 0);
        CHECK(c->key_bits == 512);
        CHECK(strcmp(c->hash, "sha256") == 0);
        CHECK(c->iter_time_ms == 2000);
        CHECK(c->iterations == 0);
        CHECK(!c->kdf_fast);
        CHECK(!c->shred_deleted_keys);
        CHECK(c->max_convert_gib == 64);
        CHECK(c->audit_interval_s == 600);
        CHECK(c->retry_initial_ms == 1000);
        CHECK(c->retry_max_ms == 60000);
        CHECK(c->retry_give_up_s == 3600);
        CHECK(!c->has_amqp);
        CHECK(strcmp(c->amqp_host, "127.0.0.1") == 0);
        CHECK(c->amqp_port == 5672);
        CHECK(strcmp(c->amqp_vhost, "/") == 0);
        CHECK(c->amqp_user == NULL && c->amqp_password_file == NULL);
        CHECK(strcmp(c->amqp_exchange, "openstack") == 0);
        CHECK(strcmp(c->amqp_queue, "rbd-luks-agent") == 0);
        CHECK(c->n_amqp_routing_keys == 1 &&
              strcmp(c->amqp_routing_keys[0], "notifications_luks.info") == 0);
        CHECK(c->amqp_prefetch == 256 && c->amqp_heartbeat_s == 30);
        CHECK(c->amqp_batch_max == 64 && c->amqp_batch_ms == 20);
        CHECK(!c->amqp_tls && c->amqp_tls_ca_file == NULL && c->amqp_tls_verify);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_every_key_set)
{
        static const char text[] =
                "[agent]\nrole = volume\nhook_file = /h/e.jsonl\nstate_dir = /s\n"
                "log_level = debug\nlog_format = json\nworkers = 3\nmax_line_bytes = 4096\n"
                "max_json_depth = 256\nmax_pending = 1\npoll_interval_ms = 10\n"
                "[ceph]\nconf = /c.conf\nclient = cinder-2.x_y\nkeyring = /k.keyring\n"
                "pool = rbd.vol\nimage_prefix = vol_\ntimeout_s = 3600\n"
                "[volume]\ntypes =  gold , silver-1,\tb.c  \nlock_stale_after_s = 10\n"
                "[keys]\nprovider = command\ncommand = /bin/key\ncommand_timeout_ms = 100\n"
                "[luks]\ncipher = aes-cbc-essiv:sha256\nhash = sha512\niterations = 1000\n"
                "[retry]\ninitial_ms = 20\nmax_ms = 20\ngive_up_after_s = 604800\n";
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(text, &c, &p) == 0);
        CHECK(c->log_level == LOG_LEVEL_DEBUG && c->log_format == LOG_FORMAT_JSON);
        CHECK(c->workers == 3 && c->max_line_bytes == 4096 && c->max_json_depth == 256);
        CHECK(c->max_pending == 1 && c->poll_interval_ms == 10);
        CHECK(strcmp(c->ceph_client, "cinder-2.x_y") == 0);
        CHECK(strcmp(c->ceph_keyring, "/k.keyring") == 0);
        CHECK(strcmp(c->pool, "rbd.vol") == 0 && strcmp(c->image_prefix, "vol_") == 0);
        CHECK(c->ceph_timeout_s == 3600);
        REQUIRE(!c->all_types && c->n_types == 3);
        CHECK(strcmp(c->types[0], "gold") == 0 && strcmp(c->types[1], "silver-1") == 0 &&
              strcmp(c->types[2], "b.c") == 0);
        CHECK(c->lock_stale_after_s == 10);
        CHECK(c->key_provider == KEY_PROVIDER_COMMAND && c->key_directory == NULL);
        CHECK(strcmp(c->key_command, "/bin/key") == 0 && c->key_command_timeout_ms == 100);
        CHECK(strcmp(c->cipher, "aes") == 0 && strcmp(c->cipher_mode, "cbc-essiv:sha256") == 0);
        CHECK(c->key_bits == 256); /* the cbc default */
        CHECK(strcmp(c->hash, "sha512") == 0);
        CHECK(c->iterations == 1000 && c->iter_time_ms == 0);
        CHECK(c->retry_initial_ms == 20 && c->retry_max_ms == 20);
        CHECK(c->retry_give_up_s == 604800);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_sample_file_loads)
{
        struct config_problems p = {0};
        struct config *c = NULL;
        int r = config_load("config/rbd-luks-agent.ini", false, &c, &p);

        print_problems(&p);
        REQUIRE(r == 0);
        CHECK(p.count == 0);
        CHECK(c->role == ROLE_VOLUME);
        CHECK(strcmp(c->hook_file, "/var/lib/rbd-luks-agent/events.jsonl") == 0);
        CHECK(strcmp(c->ceph_client, "cinder") == 0);
        CHECK(strcmp(c->pool, "volumes") == 0);
        CHECK(c->all_types);
        CHECK(c->key_provider == KEY_PROVIDER_METADATA);
        CHECK(strcmp(c->kek_id, "kek-1") == 0);
        CHECK(strcmp(c->kek_file, "/etc/rbd-luks-agent/kek/kek-1.bin") == 0);
        CHECK(c->n_old_keks == 0);
        CHECK(c->key_directory == NULL && c->key_command == NULL);
        /* The metadata provider's own keys: kdf = fast unless a count is set. */
        CHECK(c->kdf_fast && c->iter_time_ms == 0 && c->iterations == 1000);
        CHECK(c->key_bits == 512 && strcmp(c->cipher_mode, "xts-plain64") == 0);
        CHECK(c->health_interval_s == 10);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_compute_sample_file_loads)
{
        struct config_problems p = {0};
        struct config *c = NULL;
        const struct config_secret *s;
        int r = config_load("config/rbd-luks-agent-compute.ini", false, &c, &p);

        print_problems(&p);
        REQUIRE(r == 0);
        CHECK(p.count == 0);
        CHECK(c->role == ROLE_COMPUTE);
        CHECK(strcmp(c->libvirt_uri, "qemu:///system") == 0);
        CHECK(c->compute_host == NULL);
        CHECK(c->all_types);
        CHECK(c->compute_private);
        CHECK(c->reconcile_interval_s == 300 && c->gc_interval_s == 3600 &&
              c->gc_grace_s == 3600);
        CHECK(c->health_interval_s == 10);
        CHECK(c->key_provider == KEY_PROVIDER_METADATA);
        CHECK(strcmp(c->kek_id, "kek-1") == 0);
        CHECK(strcmp(c->kek_file, "/etc/rbd-luks-agent/kek/kek-1.bin") == 0);
        CHECK(strcmp(c->pool, "volumes") == 0 && strcmp(c->ceph_client, "cinder") == 0);
        REQUIRE(c->n_secrets == 1);
        s = &c->secrets[0];
        CHECK(strcmp(s->name, "ceph-cinder") == 0);
        CHECK(strcmp(s->uuid, "457eb676-33da-42ec-9a8c-9293d545c337") == 0);
        CHECK(s->usage == CONFIG_SECRET_CEPH);
        CHECK(strcmp(s->usage_id, "client.cinder secret") == 0);
        CHECK(strcmp(s->keyring, "/etc/ceph/ceph.client.cinder.keyring") == 0);
        CHECK(strcmp(s->entity, "client.cinder") == 0);
        CHECK(s->key_file == NULL && !s->private_value);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_crlf_and_bom)
{
        static const char text[] = "\xef\xbb\xbf[agent]\r\nrole = volume\r\n"
                                   "hook_file = /h/e\r\nstate_dir = /s\r\n" CEPH VOLUME KEYS;
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(text, &c, &p) == 0);
        CHECK(strcmp(c->state_dir, "/s") == 0);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_several_problems_in_line_order)
{
        static const char text[] = "[agent]\n"                 /* 1 */
                                   "role = volume\n"           /* 2 */
                                   "hook_file = events.jsonl\n" /* 3 */
                                   "state_dir = /s\n"          /* 4 */
                                   "workers = 65\n"            /* 5 */
                                   "[ceph]\n"                  /* 6 */
                                   "conf = /c\n"               /* 7 */
                                   "client = cinder\n"         /* 8 */
                                   "[bogus]\n"                 /* 9 */
                                   "a = 1\n"                   /* 10 */
                                   "[volume]\n"                /* 11 */
                                   "types = *\n"               /* 12 */
                                   "[luks]\n"                  /* 13 */
                                   "iterations = 5000\n"       /* 14 */
                                   "iter_time_ms = 100\n"      /* 15 */
                                   "nonsense\n";               /* 16 */
        struct config_problems p = {0};
        struct config *c = NULL;

        CHECK(load_text(text, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 7);
        CHECK(problem_is(&p, 0, ":0: missing section [keys] (required: provider)"));
        CHECK(problem_is(&p, 1, ":3: hook_file = 'events.jsonl': must be an absolute path"));
        CHECK(problem_is(&p, 2, ":5: workers = '65': out of range (allowed: 0..64)"));
        CHECK(problem_is(&p, 3, ":6: missing required key 'pool' in [ceph]"));
        CHECK(problem_is(&p, 4, ":9: unknown section [bogus] (known: agent, ceph, volume, "
                                "compute, keys, luks, retry, amqp, secret:NAME)"));
        CHECK(problem_is(&p, 5, ":15: iter_time_ms and iterations are mutually exclusive (set "
                                "only one)"));
        CHECK(problem_is(&p, 6, ":16: syntax error (expected [section] or key = value)"));
        config_problems_clear(&p);
        CHECK(p.count == 0);
}

/* MINIMAL, then line 14: n '#' followed by tail. */
static int load_long_line(size_t n, const char *tail, struct config **ret,
                          struct config_problems *p)
{
        size_t base = strlen(MINIMAL);
        char *text = malloc(base + n + strlen(tail) + 1);
        int r;

        if (!text)
                abort();
        memcpy(text, MINIMAL, base);
        memset(text + base, '#', n);
        strcpy(text + base + n, tail);
        r = load_text(text, ret, p);
        free(text);
        return r;
}

TEST(config_long_line)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        /* 1024 bytes is allowed, with "\n", "\r\n" or at the end of the file. */
        CHECK(load_long_line(1024, "\n", &c, &p) == 0);
        config_free(c);
        c = NULL;
        CHECK(load_long_line(1024, "\r\n", &c, &p) == 0);
        config_free(c);
        c = NULL;
        CHECK(load_long_line(1024, "", &c, &p) == 0);
        config_free(c);
        c = NULL;
        CHECK(p.count == 0);

        CHECK(load_long_line(1025, "\n", &c, &p) == -EINVAL);
        CHECK(p.count == 1 && problem_is(&p, 0, ":14: line longer than 1024 bytes"));
        config_problems_clear(&p);
        CHECK(load_long_line(1025, "", &c, &p) == -EINVAL);
        CHECK(p.count == 1 && problem_is(&p, 0, ":14: line longer than 1024 bytes"));
        config_problems_clear(&p);

        /* What follows on the same line is not read as a line of its own,
         * and the next line keeps its number. */
        CHECK(load_long_line(1100, "colour = red\nbad line\n", &c, &p) == -EINVAL);
        CHECK(p.count == 2);
        CHECK(problem_is(&p, 0, ":14: line longer than 1024 bytes"));
        CHECK(problem_is(&p, 1, ":15: syntax error (expected [section] or key = value)"));
        config_problems_clear(&p);
        CHECK(load_long_line(100000, "colour = red\n", &c, &p) == -EINVAL);
        CHECK(p.count == 1 && problem_is(&p, 0, ":14: line longer than 1024 bytes"));
        config_problems_clear(&p);
        CHECK(c == NULL);
}

TEST(config_nul_byte)
{
        static const char text[] = MINIMAL "[luks]\nhash = sha\0 512\n";
        struct config_problems p = {0};
        struct config *c = NULL;

        CHECK(load_bytes(text, sizeof(text) - 1, false, &c, &p) == -EINVAL);
        CHECK(p.count == 1);
        CHECK(problem_is(&p, 0, ":15: line contains a NUL byte"));
        config_problems_clear(&p);
}

TEST(config_too_many_problems)
{
        size_t n = strlen(MINIMAL), len = n;
        char *text = malloc(n + 150 * 16);
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(text);
        memcpy(text, MINIMAL, n);
        for (int i = 0; i < 150; i++)
                len += (size_t)sprintf(text + len, "k%d = 1\n", i);
        CHECK(load_bytes(text, len, false, &c, &p) == -EINVAL);
        CHECK(p.count == CONFIG_MAX_PROBLEMS);
        CHECK(p.dropped == 50);
        CHECK(problem_is(&p, 0, ":14: unknown key 'k0' in [keys]"));
        CHECK(problem_is(&p, 99, ":113: unknown key 'k99' in [keys]"));
        config_problems_clear(&p);
        free(text);
}

TEST(config_missing_file)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        snprintf(cfg_path, sizeof(cfg_path), "%s/nope.ini", unit_tmpdir());
        CHECK(config_load(cfg_path, false, &c, &p) == -ENOENT);
        CHECK(c == NULL);
        CHECK(p.count == 1);
        CHECK(problem_is(&p, 0, ":0: cannot read: No such file or directory"));
        config_problems_clear(&p);

        snprintf(cfg_path, sizeof(cfg_path), "%s", unit_tmpdir());
        CHECK(config_load(cfg_path, false, &c, &p) == -EISDIR);
        CHECK(problem_is(&p, 0, ":0: cannot read: Is a directory"));
        config_problems_clear(&p);
        config_free(NULL);
        config_problems_clear(NULL);
}
