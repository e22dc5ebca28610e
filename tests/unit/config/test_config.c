/* Unit tests for agent/config/config.c: defaults, the sample file, every kind of
 * problem with its exact "FILE:LINE: message", and environment checks. */
#include "config/config.h"
#include "../unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A minimal good config; the line numbers below are relied on by the cases. */
#define AGENT                                      \
        "[agent]\n"                                /* 1 */ \
        "role = volume\n"                          /* 2 */ \
        "hook_file = /var/lib/x/events.jsonl\n"    /* 3 */ \
        "state_dir = /var/lib/x\n"                 /* 4 */
#define CEPH                                       \
        "[ceph]\n"                                 /* 5 */ \
        "conf = /etc/ceph/ceph.conf\n"             /* 6 */ \
        "client = cinder\n"                        /* 7 */ \
        "pool = volumes\n"                         /* 8 */
#define VOLUME                                     \
        "[volume]\n"                               /* 9 */ \
        "types = *\n"                              /* 10 */
#define KEYS                                       \
        "[keys]\n"                                 /* 11 */ \
        "provider = file\n"                        /* 12 */ \
        "directory = /etc/keys\n"                  /* 13 */
#define MINIMAL AGENT CEPH VOLUME KEYS
#define META_KEYS                                  \
        "[keys]\n"                                 /* 11 */ \
        "provider = metadata\n"                    /* 12 */ \
        "kek_id = kek-1\n"                         /* 13 */ \
        "kek_file = /etc/kek/kek-1.bin\n"          /* 14 */
#define METADATA AGENT CEPH VOLUME META_KEYS

/* The compute role: [compute] takes [volume]'s two lines, so KEYS is at
 * 11..13 and whatever is appended starts at line 14, as with MINIMAL. */
#define COMPUTE_AGENT                              \
        "[agent]\n"                                /* 1 */ \
        "role = compute\n"                         /* 2 */ \
        "hook_file = /var/lib/x/events.jsonl\n"    /* 3 */ \
        "state_dir = /var/lib/x\n"                 /* 4 */
/* [compute] with line 10 given. */
#define COMPUTE_WITH(line10) COMPUTE_AGENT CEPH "[compute]\n" line10 KEYS
#define COMPUTE COMPUTE_WITH("uri = qemu:///system\n")
#define SECRET_CEPH                                            \
        "[secret:ceph]\n"                                      /* 14 */ \
        "uuid = 457EB676-33da-42ec-9a8c-9293d545c337\n"        /* 15 */ \
        "usage = ceph\n"                                       /* 16 */ \
        "usage_name = client.cinder secret\n"                  /* 17 */ \
        "keyring = /etc/ceph/ceph.client.cinder.keyring\n"     /* 18 */ \
        "entity = client.cinder\n"                             /* 19 */
/* A [secret:a] header at line 14 and its first key at 15. */
#define SECRET_A "[secret:a]\n"
#define UUID_1 "uuid = 11111111-2222-3333-4444-555555555555\n"
#define UUID_2 "uuid = 21111111-2222-3333-4444-555555555555\n"

static char cfg_path[512];

static const char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
        static char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        if (!f)
                abort();
        fwrite(data, 1, len, f);
        fclose(f);
        return path;
}

static int load_bytes(const void *data, size_t len, bool check_env, struct config **ret,
                      struct config_problems *p)
{
        snprintf(cfg_path, sizeof(cfg_path), "%s",
                 write_file(unit_tmpdir(), "agent.ini", data, len));
        return config_load(cfg_path, check_env, ret, p);
}

static int load_text(const char *text, struct config **ret, struct config_problems *p)
{
        return load_bytes(text, strlen(text), false, ret, p);
}

/* Problem i is cfg_path followed by suffix (":LINE: message"). */
static bool problem_is(const struct config_problems *p, size_t i, const char *suffix)
{
        char want[4096];

        snprintf(want, sizeof(want), "%s%s", cfg_path, suffix);
        if (i < p->count && strcmp(p->lines[i], want) == 0)
                return true;
        fprintf(stderr, "    problem %zu\n    want: %s\n    got:  %s\n", i, want,
                i < p->count ? p->lines[i] : "(none)");
        return false;
}

/* Some problem line contains text. */
static bool has_problem(const struct config_problems *p, const char *text)
{
        for (size_t i = 0; i < p->count; i++)
                if (strstr(p->lines[i], text))
                        return true;
        return false;
}

static void print_problems(const struct config_problems *p)
{
        for (size_t i = 0; i < p->count; i++)
                fprintf(stderr, "    %s\n", p->lines[i]);
}

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

/* [agent] health_interval: how often the daemons refresh state_dir/health. */
TEST(config_health_interval)
{
        static const struct {
                const char *value;
                const char *problem; /* NULL: accepted */
                unsigned want;
        } cases[] = {
                {"1", NULL, 1},
                {"3600", NULL, 3600},
                {"0", ":5: health_interval = '0': out of range (allowed: 1..3600)", 0},
                {"3601", ":5: health_interval = '3601': out of range (allowed: 1..3600)", 0},
                {"10s", ":5: health_interval = '10s': not a decimal number (allowed: 1..3600)",
                 0},
                {"-1", ":5: health_interval = '-1': not a decimal number (allowed: 1..3600)", 0},
        };
        char text[1024];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct config_problems p = {0};
                struct config *c = NULL;
                int r;

                snprintf(text, sizeof(text), AGENT "health_interval = %s\n" CEPH VOLUME KEYS,
                         cases[i].value);
                r = load_text(text, &c, &p);
                if (!cases[i].problem) {
                        CHECK(r == 0 && c && c->health_interval_s == cases[i].want);
                } else {
                        CHECK(r == -EINVAL && !c && p.count == 1);
                        CHECK(problem_is(&p, 0, cases[i].problem));
                }
                config_free(c);
                config_problems_clear(&p);
        }
}

TEST(config_metadata_with_old_keks)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(METADATA "old_keks =  kek-0:/etc/kek/kek-0.bin , old_1 : /k/old 1.bin\n",
                          &c, &p) == 0);
        CHECK(p.count == 0);
        CHECK(c->key_provider == KEY_PROVIDER_METADATA);
        CHECK(strcmp(c->kek_id, "kek-1") == 0);
        CHECK(strcmp(c->kek_file, "/etc/kek/kek-1.bin") == 0);
        REQUIRE(c->n_old_keks == 2);
        CHECK(strcmp(c->old_kek_ids[0], "kek-0") == 0);
        CHECK(strcmp(c->old_kek_files[0], "/etc/kek/kek-0.bin") == 0);
        CHECK(strcmp(c->old_kek_ids[1], "old_1") == 0);
        CHECK(strcmp(c->old_kek_files[1], "/k/old 1.bin") == 0);
        CHECK(c->old_kek_ids[2] == NULL && c->old_kek_files[2] == NULL);
        CHECK(c->key_directory == NULL && c->key_command == NULL);
        config_free(c);
        c = NULL;

        /* Once a rotation is over the list may be left empty; a path may hold ':'. */
        REQUIRE(load_text(METADATA "old_keks =\n", &c, &p) == 0);
        CHECK(c->n_old_keks == 0);
        config_free(c);
        c = NULL;
        REQUIRE(load_text(METADATA "old_keks = a.b_C-9:/k/a:b\n", &c, &p) == 0);
        CHECK(c->n_old_keks == 1 && strcmp(c->old_kek_ids[0], "a.b_C-9") == 0 &&
              strcmp(c->old_kek_files[0], "/k/a:b") == 0);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_metadata_problems_in_line_order)
{
        static const char text[] = AGENT CEPH VOLUME "[keys]\n"  /* 11 */
                                   "directory = /d\n"             /* 12 */
                                   "provider = metadata\n"        /* 13 */
                                   "old_keks = a:/a, a:/b\n";     /* 14 */
        struct config_problems p = {0};
        struct config *c = NULL;

        CHECK(load_text(text, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 4);
        CHECK(problem_is(&p, 0, ":11: missing key 'kek_id' in [keys] (required by provider = "
                                "metadata)"));
        CHECK(problem_is(&p, 1, ":11: missing key 'kek_file' in [keys] (required by provider = "
                                "metadata)"));
        CHECK(problem_is(&p, 2, ":12: directory is only used by provider = file"));
        CHECK(problem_is(&p, 3, ":14: old_keks = 'a:/a, a:/b': KEK id 'a' is listed twice"));
        config_problems_clear(&p);
}

/* METADATA with old_keks = k0:/k/0,k1:/k/1,... */
static int load_old_keks(unsigned n, struct config **ret, struct config_problems *p)
{
        char text[2048] = METADATA "old_keks = ";
        size_t len = strlen(text);

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%sk%u:/k/%u",
                                        i ? "," : "", i, i);
        snprintf(text + len, sizeof(text) - len, "\n");
        return load_text(text, ret, p);
}

TEST(config_old_keks_limit)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_old_keks(CONFIG_MAX_OLD_KEKS, &c, &p) == 0);
        CHECK(c->n_old_keks == CONFIG_MAX_OLD_KEKS);
        CHECK(strcmp(c->old_kek_ids[15], "k15") == 0 &&
              strcmp(c->old_kek_files[15], "/k/15") == 0);
        config_free(c);
        c = NULL;

        CHECK(load_old_keks(CONFIG_MAX_OLD_KEKS + 1, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 1 && strstr(p.lines[0], ":15: old_keks = 'k0:/k/0,k1:/k/1,") &&
              strstr(p.lines[0], ",k16:/k/16': more than 16 old KEKs"));
        config_problems_clear(&p);
}

TEST(config_key_provider_name)
{
        CHECK(strcmp(config_key_provider_name(KEY_PROVIDER_FILE), "file") == 0);
        CHECK(strcmp(config_key_provider_name(KEY_PROVIDER_COMMAND), "command") == 0);
        CHECK(strcmp(config_key_provider_name(KEY_PROVIDER_METADATA), "metadata") == 0);
        CHECK(strcmp(config_key_provider_name((enum key_provider_kind)42), "unknown") == 0);
}

TEST(config_role_and_usage_names)
{
        CHECK(strcmp(config_role_name(ROLE_VOLUME), "volume") == 0);
        CHECK(strcmp(config_role_name(ROLE_COMPUTE), "compute") == 0);
        CHECK(strcmp(config_role_name((enum agent_role)42), "unknown") == 0);
        CHECK(strcmp(config_secret_usage_name(CONFIG_SECRET_CEPH), "ceph") == 0);
        CHECK(strcmp(config_secret_usage_name(CONFIG_SECRET_VOLUME), "volume") == 0);
        CHECK(strcmp(config_secret_usage_name((enum config_secret_usage)42), "unknown") == 0);
}

TEST(config_compute_defaults)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(COMPUTE, &c, &p) == 0);
        CHECK(p.count == 0);
        CHECK(c->role == ROLE_COMPUTE);
        CHECK(strcmp(c->libvirt_uri, "qemu:///system") == 0);
        CHECK(c->compute_host == NULL);
        CHECK(c->compute_private);
        CHECK(c->reconcile_interval_s == 300);
        CHECK(c->gc_interval_s == 3600);
        CHECK(c->gc_grace_s == 3600);
        CHECK(c->all_types && c->n_types == 0); /* * unless [compute] types says otherwise */
        CHECK(config_wants_type(c, NULL));
        CHECK(c->n_secrets == 0);
        CHECK(c->key_provider == KEY_PROVIDER_FILE);
        config_free(c);
        c = NULL;

        /* [compute] itself is optional. */
        REQUIRE(load_text(COMPUTE_AGENT CEPH KEYS, &c, &p) == 0);
        CHECK(c->role == ROLE_COMPUTE && c->all_types);
        CHECK(strcmp(c->libvirt_uri, "qemu:///system") == 0 && c->gc_grace_s == 3600);
        config_free(c);
        c = NULL;

        /* The volume role has no types default, and no secrets. */
        REQUIRE(load_text(MINIMAL, &c, &p) == 0);
        CHECK(c->role == ROLE_VOLUME && c->n_secrets == 0);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_compute_every_key_and_two_secrets)
{
        static const char text[] =
                COMPUTE_AGENT CEPH
                "[compute]\n"                                                  /* 9 */
                "uri = qemu+tls://kvm-1.example/system?pkipath=/etc/pki/x\n"   /* 10 */
                "host = compute-1.example_A\n"                                 /* 11 */
                "types = gold , silver\n"                                      /* 12 */
                "private = no\n"                                               /* 13 */
                "reconcile_interval_s = 10\n"                                  /* 14 */
                "gc_interval_s = 0\n"                                          /* 15 */
                "gc_grace_s = 0\n"                                             /* 16 */
                META_KEYS /* 17..20 */
                "[secret:ceph-cinder]\n"                                       /* 21 */
                "uuid = 457EB676-33DA-42ec-9a8c-9293d545c337\n"
                "usage = ceph\n"
                "usage_name = client.cinder secret\n"
                "keyring = /etc/ceph/ceph.client.cinder.keyring\n"
                "entity = client.cinder\n"
                "\n"
                "[secret:vol_1.x]\n"                                           /* 28 */
                "private = yes\n"
                "key_file = /etc/rbd-luks-agent/secrets/vol 1.bin\n"
                "volume = 6A7C2EC6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n"
                "usage = volume\n"
                "uuid = 00000000-0000-0000-0000-00000000000A\n";
        struct config_problems p = {0};
        struct config *c = NULL;
        const struct config_secret *s;

        REQUIRE(load_text(text, &c, &p) == 0);
        print_problems(&p);
        CHECK(c->role == ROLE_COMPUTE);
        CHECK(strcmp(c->libvirt_uri, "qemu+tls://kvm-1.example/system?pkipath=/etc/pki/x") == 0);
        CHECK(strcmp(c->compute_host, "compute-1.example_A") == 0);
        REQUIRE(!c->all_types && c->n_types == 2);
        CHECK(strcmp(c->types[0], "gold") == 0 && strcmp(c->types[1], "silver") == 0);
        CHECK(!c->compute_private);
        CHECK(c->reconcile_interval_s == 10 && c->gc_interval_s == 0 && c->gc_grace_s == 0);
        CHECK(c->key_provider == KEY_PROVIDER_METADATA && strcmp(c->kek_id, "kek-1") == 0);
        REQUIRE(c->n_secrets == 2);

        s = &c->secrets[0];
        CHECK(strcmp(s->name, "ceph-cinder") == 0);
        CHECK(strcmp(s->uuid, "457eb676-33da-42ec-9a8c-9293d545c337") == 0);
        CHECK(s->usage == CONFIG_SECRET_CEPH);
        CHECK(strcmp(s->usage_id, "client.cinder secret") == 0);
        CHECK(strcmp(s->keyring, "/etc/ceph/ceph.client.cinder.keyring") == 0);
        CHECK(strcmp(s->entity, "client.cinder") == 0);
        CHECK(s->key_file == NULL);
        CHECK(!s->private_value);
        CHECK(s->line == 21);

        s = &c->secrets[1];
        CHECK(strcmp(s->name, "vol_1.x") == 0);
        CHECK(strcmp(s->uuid, "00000000-0000-0000-0000-00000000000a") == 0);
        CHECK(s->usage == CONFIG_SECRET_VOLUME);
        CHECK(strcmp(s->usage_id, "6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d") == 0);
        CHECK(s->keyring == NULL && s->entity == NULL);
        CHECK(strcmp(s->key_file, "/etc/rbd-luks-agent/secrets/vol 1.bin") == 0);
        CHECK(s->private_value);
        CHECK(s->line == 28);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_compute_edges)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        /* An empty host is the default: the hostname at run time. */
        REQUIRE(load_text(COMPUTE_WITH("host =\n"), &c, &p) == 0);
        CHECK(c->compute_host == NULL);
        config_free(c);
        c = NULL;

        REQUIRE(load_text(COMPUTE_WITH("gc_interval_s = 60\n"), &c, &p) == 0);
        CHECK(c->gc_interval_s == 60);
        config_free(c);
        c = NULL;
        REQUIRE(load_text(COMPUTE_WITH("gc_interval_s = 604800\n"), &c, &p) == 0);
        CHECK(c->gc_interval_s == 604800);
        config_free(c);
        c = NULL;
        REQUIRE(load_text(COMPUTE_WITH("types = *\n"), &c, &p) == 0);
        CHECK(c->all_types && c->n_types == 0);
        config_free(c);
        c = NULL;

        /* One usage id under two usages is two libvirt secrets, no clash. */
        REQUIRE(load_text(COMPUTE SECRET_A UUID_1
                          "usage = ceph\nusage_name = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n"
                          "key_file = /k\n"
                          "[secret:b]\n" UUID_2
                          "usage = volume\nvolume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n"
                          "key_file = /k\n",
                          &c, &p) == 0);
        CHECK(c->n_secrets == 2 && strcmp(c->secrets[0].usage_id, c->secrets[1].usage_id) == 0);
        config_free(c);
        c = NULL;
        CHECK(p.count == 0);
        print_problems(&p);
        config_problems_clear(&p);
}

/* COMPUTE_WITH(key = <n times fill>) */
static int load_long_value(const char *key, size_t n, char fill, struct config **ret,
                           struct config_problems *p)
{
        char text[4096];
        int len = snprintf(text, sizeof(text), COMPUTE_AGENT CEPH "[compute]\n%s = ", key);

        memset(text + len, fill, n);
        snprintf(text + len + n, sizeof(text) - (size_t)len - n, "\n" KEYS);
        return load_text(text, ret, p);
}

/* SECRET_A with usage_name = <n times 'n'> */
static int load_long_usage_name(size_t n, struct config **ret, struct config_problems *p)
{
        char text[4096];
        int len = snprintf(text, sizeof(text), COMPUTE SECRET_A UUID_1 "usage = ceph\n"
                                               "key_file = /k\nusage_name = ");

        memset(text + len, 'n', n);
        snprintf(text + len + n, sizeof(text) - (size_t)len - n, "\n");
        return load_text(text, ret, p);
}

TEST(config_compute_length_limits)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_long_value("uri", 512, 'u', &c, &p) == 0);
        CHECK(strlen(c->libvirt_uri) == 512);
        config_free(c);
        c = NULL;
        CHECK(load_long_value("uri", 513, 'u', &c, &p) == -EINVAL);
        CHECK(p.count == 1 && strstr(p.lines[0], ":10: uri = 'uuu") &&
              strstr(p.lines[0], "uuu': not a libvirt URI (allowed: 1 to 512 printable ASCII"));
        config_problems_clear(&p);

        REQUIRE(load_long_value("host", 255, 'h', &c, &p) == 0);
        CHECK(strlen(c->compute_host) == 255);
        config_free(c);
        c = NULL;
        CHECK(load_long_value("host", 256, 'h', &c, &p) == -EINVAL);
        CHECK(p.count == 1 && strstr(p.lines[0], ":10: host = 'hhh") &&
              strstr(p.lines[0], "hhh': not a valid host name (allowed: 1 to 255 characters"));
        config_problems_clear(&p);

        REQUIRE(load_long_usage_name(127, &c, &p) == 0);
        CHECK(strlen(c->secrets[0].usage_id) == 127);
        config_free(c);
        c = NULL;
        CHECK(load_long_usage_name(128, &c, &p) == -EINVAL);
        CHECK(p.count == 1 && strstr(p.lines[0], ":18: usage_name = 'nnn") &&
              strstr(p.lines[0], "nnn': not a usage name (allowed: 1 to 127 printable ASCII"));
        config_problems_clear(&p);

        /* A 64-character secret name is allowed (65: see the bad cases). */
        REQUIRE(load_text(COMPUTE
                          "[secret:a123456789b123456789c123456789d123456789e123456789"
                          "f123456789g123]\n"
                          UUID_1 "usage = ceph\nusage_name = n\nkey_file = /k\n",
                          &c, &p) == 0);
        CHECK(strlen(c->secrets[0].name) == 64);
        config_free(c);
        config_problems_clear(&p);
}

/* COMPUTE and n [secret:sI] sections of 5 lines each, from line 14. */
static int load_secrets(unsigned n, struct config **ret, struct config_problems *p)
{
        char text[8192] = COMPUTE;
        size_t len = strlen(text);

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len,
                                        "[secret:s%u]\nuuid = %08x-0000-0000-0000-000000000000\n"
                                        "usage = volume\n"
                                        "volume = %08x-1111-1111-1111-111111111111\n"
                                        "key_file = /k/%u\n",
                                        i, i, i, i);
        return load_text(text, ret, p);
}

TEST(config_secrets_limit)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_secrets(CONFIG_MAX_SECRETS, &c, &p) == 0);
        REQUIRE(c->n_secrets == CONFIG_MAX_SECRETS);
        CHECK(strcmp(c->secrets[15].name, "s15") == 0);
        CHECK(strcmp(c->secrets[15].uuid, "0000000f-0000-0000-0000-000000000000") == 0);
        CHECK(strcmp(c->secrets[15].usage_id, "0000000f-1111-1111-1111-111111111111") == 0);
        CHECK(strcmp(c->secrets[15].key_file, "/k/15") == 0);
        CHECK(c->secrets[15].line == 14 + 15 * 5);
        config_free(c);
        c = NULL;

        /* The 17th is refused at its header; its keys are not looked at. */
        CHECK(load_secrets(CONFIG_MAX_SECRETS + 1, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 1 && problem_is(&p, 0, ":94: [secret:s16]: more than 16 [secret:*] "
                                                "sections"));
        config_problems_clear(&p);

        CHECK(load_secrets(CONFIG_MAX_SECRETS + 2, &c, &p) == -EINVAL);
        CHECK(p.count == 2);
        CHECK(problem_is(&p, 0, ":94: [secret:s16]: more than 16 [secret:*] sections"));
        CHECK(problem_is(&p, 1, ":99: [secret:s17]: more than 16 [secret:*] sections"));
        config_problems_clear(&p);
}

TEST(config_compute_problems_in_line_order)
{
        static const char text[] = COMPUTE_AGENT CEPH             /* 1..8 */
                                   "[volume]\n"                   /* 9 */
                                   "types = *\n"                  /* 10 */
                                   "[secret:a]\n"                 /* 11 */
                                   "usage = volume\n"             /* 12 */
                                   "usage_name = x\n"             /* 13 */
                                   "[compute]\n"                  /* 14 */
                                   "gc_grace_s = -1\n"            /* 15 */
                                   "[secret:a]\n"                 /* 16 */
                                   UUID_1                         /* 17 */
                                   "usage = ceph\n"               /* 18 */
                                   "usage_name = x\n"             /* 19 */
                                   "keyring = /k\n"               /* 20 */
                                   "key_file = /f\n"              /* 21 */
                                   KEYS;                          /* 22..24 */
        struct config_problems p = {0};
        struct config *c = NULL;

        CHECK(load_text(text, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 9);
        CHECK(problem_is(&p, 0, ":9: [volume] is only used by role = volume"));
        CHECK(problem_is(&p, 1, ":11: missing required key 'uuid' in [secret:a]"));
        CHECK(problem_is(&p, 2, ":11: missing key 'volume' in [secret:a] (required by usage = "
                                "volume)"));
        CHECK(problem_is(&p, 3, ":11: missing value source in [secret:a] (set keyring and "
                                "entity, or key_file)"));
        CHECK(problem_is(&p, 4, ":13: usage_name is only used by usage = ceph"));
        CHECK(problem_is(&p, 5, ":15: gc_grace_s = '-1': not a decimal number (allowed: "
                                "0..604800)"));
        CHECK(problem_is(&p, 6, ":16: duplicate section [secret:a] (first at line 11)"));
        CHECK(problem_is(&p, 7, ":16: missing key 'entity' in [secret:a] (required by "
                                "keyring)"));
        CHECK(problem_is(&p, 8, ":21: keyring and key_file are mutually exclusive (set only "
                                "one)"));
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

struct bad_case {
        const char *name;
        const char *text;
        const char *problem; /* after the file name */
};

static const struct bad_case bad_cases[] = {
        {"unknown section", MINIMAL "[foo]\nx = 1\n",
         ":14: unknown section [foo] (known: agent, ceph, volume, compute, keys, luks, retry, "
         "amqp, secret:NAME)"},
        {"unknown key", MINIMAL "colour = red\n", ":14: unknown key 'colour' in [keys]"},
        {"duplicate key", MINIMAL "provider = file\n",
         ":14: duplicate key 'provider' in [keys] (first set at line 12)"},
        {"duplicate section", MINIMAL "[agent]\n",
         ":14: duplicate section [agent] (first at line 1)"},
        {"key outside section", "x = 1\n" MINIMAL, ":1: key 'x' is outside any section"},
        {"not a number", MINIMAL "[retry]\ninitial_ms = 10s\n",
         ":15: initial_ms = '10s': not a decimal number (allowed: 10..600000)"},
        {"signed number", MINIMAL "[retry]\ngive_up_after_s = -1\n",
         ":15: give_up_after_s = '-1': not a decimal number (allowed: 1..604800)"},
        {"hex number", MINIMAL "[retry]\ngive_up_after_s = 0x10\n",
         ":15: give_up_after_s = '0x10': not a decimal number (allowed: 1..604800)"},
        {"empty number", AGENT "workers =\n" CEPH VOLUME KEYS,
         ":5: workers = '': not a decimal number (allowed: 0..64)"},
        {"out of range", MINIMAL "[retry]\ninitial_ms = 5\n",
         ":15: initial_ms = '5': out of range (allowed: 10..600000)"},
        {"above range", AGENT "workers = 65\n" CEPH VOLUME KEYS,
         ":5: workers = '65': out of range (allowed: 0..64)"},
        {"overflow", MINIMAL "[luks]\niterations = 99999999999999999999999\n",
         ":15: iterations = '99999999999999999999999': out of range (allowed: "
         "1000..100000000)"},
        {"iter_time_ms and iterations", MINIMAL "[luks]\niter_time_ms = 100\niterations = 5000\n",
         ":16: iter_time_ms and iterations are mutually exclusive (set only one)"},
        {"kdf = fast with iterations", MINIMAL "[luks]\nkdf = fast\niterations = 5000\n",
         ":16: kdf = fast sets the iteration count itself (the minimum, 1000); remove iterations"},
        {"kdf = fast with iter_time_ms", MINIMAL "[luks]\niter_time_ms = 100\nkdf = fast\n",
         ":15: kdf = fast sets the iteration count itself (the minimum, 1000); remove "
         "iter_time_ms"},
        {"max_convert_gib too large", AGENT CEPH VOLUME "max_convert_gib = 4097\n" KEYS,
         ":11: max_convert_gib = '4097': out of range (allowed: 0..4096)"},
        {"audit_interval_s too large", AGENT CEPH VOLUME "audit_interval_s = 86401\n" KEYS,
         ":11: audit_interval_s = '86401': out of range (allowed: 0..86400)"},
        {"unknown deleted_keys", AGENT CEPH VOLUME "deleted_keys = forget\n" KEYS,
         ":11: deleted_keys = 'forget': allowed: keep, shred"},
        {"unknown kdf", MINIMAL "[luks]\nkdf = none\n",
         ":15: kdf = 'none': allowed: standard, fast"},
        {"unknown keyslot writer", MINIMAL "[luks]\nkeyslot_writer = cryptsetup\n",
         ":15: keyslot_writer = 'cryptsetup': allowed: agent, libcryptsetup"},
        {"missing required key", AGENT "[ceph]\nconf = /c\nclient = cinder\n" VOLUME KEYS,
         ":5: missing required key 'pool' in [ceph]"},
        {"missing section", AGENT VOLUME KEYS,
         ":0: missing section [ceph] (required: conf, client, pool)"},
        {"missing section keys", AGENT CEPH VOLUME,
         ":0: missing section [keys] (required: provider)"},
        {"missing directory", AGENT CEPH VOLUME "[keys]\nprovider = file\n",
         ":11: missing key 'directory' in [keys] (required by provider = file)"},
        {"missing command", AGENT CEPH VOLUME "[keys]\nprovider = command\n",
         ":11: missing key 'command' in [keys] (required by provider = command)"},
        {"directory with command",
         AGENT CEPH VOLUME "[keys]\nprovider = command\ncommand = /k\ndirectory = /d\n",
         ":14: directory is only used by provider = file"},
        {"command with file", MINIMAL "command = /bin/k\n",
         ":14: command is only used by provider = command"},
        {"command timeout with file", MINIMAL "command_timeout_ms = 500\n",
         ":14: command_timeout_ms is only used by provider = command"},
        {"bad provider", AGENT CEPH VOLUME "[keys]\nprovider = vault\n",
         ":12: provider = 'vault': allowed: file, command, metadata"},
        {"missing kek_id", AGENT CEPH VOLUME "[keys]\nprovider = metadata\nkek_file = /k\n",
         ":11: missing key 'kek_id' in [keys] (required by provider = metadata)"},
        {"missing kek_file", AGENT CEPH VOLUME "[keys]\nprovider = metadata\nkek_id = k\n",
         ":11: missing key 'kek_file' in [keys] (required by provider = metadata)"},
        {"kek_id characters", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nkek_id = kek/1\nkek_file = /k\n",
         ":13: kek_id = 'kek/1': not a valid name (allowed: 1 to 32 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"kek_id too long", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nkek_id = a123456789b123456789c123456789abc\n"
         "kek_file = /k\n",
         ":13: kek_id = 'a123456789b123456789c123456789abc': not a valid name (allowed: 1 to 32 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"kek_id empty", AGENT CEPH VOLUME "[keys]\nprovider = metadata\nkek_id =\nkek_file = /k\n",
         ":13: kek_id = '': not a valid name (allowed: 1 to 32 characters of A-Z a-z 0-9 _ . -)"},
        {"kek_file relative", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nkek_id = k\nkek_file = kek.bin\n",
         ":14: kek_file = 'kek.bin': must be an absolute path"},
        {"directory with metadata", METADATA "directory = /d\n",
         ":15: directory is only used by provider = file"},
        {"command with metadata", METADATA "command = /bin/k\n",
         ":15: command is only used by provider = command"},
        {"command timeout with metadata", METADATA "command_timeout_ms = 500\n",
         ":15: command_timeout_ms is only used by provider = command"},
        {"kek_id with file", MINIMAL "kek_id = kek-1\n",
         ":14: kek_id is only used by provider = metadata"},
        {"kek_file with file", MINIMAL "kek_file = /k\n",
         ":14: kek_file is only used by provider = metadata"},
        {"old_keks with command",
         AGENT CEPH VOLUME "[keys]\nprovider = command\ncommand = /k\nold_keks = a:/a\n",
         ":14: old_keks is only used by provider = metadata"},
        {"old_keks empty entry", METADATA "old_keks = a:/a,,b:/b\n",
         ":15: old_keks = 'a:/a,,b:/b': empty entry in the list"},
        {"old_keks trailing comma", METADATA "old_keks = a:/a, \n",
         ":15: old_keks = 'a:/a,': empty entry in the list"},
        {"old_keks no colon", METADATA "old_keks = a:/a, kek-0\n",
         ":15: old_keks = 'a:/a, kek-0': 'kek-0' is not ID:PATH"},
        {"old_keks bad id", METADATA "old_keks = kek 0:/a\n",
         ":15: old_keks = 'kek 0:/a': 'kek 0' is not a valid KEK id (allowed: 1 to 32 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"old_keks empty id", METADATA "old_keks = :/a\n",
         ":15: old_keks = ':/a': '' is not a valid KEK id (allowed: 1 to 32 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"old_keks id too long", METADATA "old_keks = a123456789b123456789c123456789abc:/a\n",
         ":15: old_keks = 'a123456789b123456789c123456789abc:/a': "
         "'a123456789b123456789c123456789abc' is not a valid KEK id (allowed: 1 to 32 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"old_keks relative path", METADATA "old_keks = a:/a,  kek-0:kek.bin\n",
         ":15: old_keks = 'a:/a,  kek-0:kek.bin': 'kek-0:kek.bin': KEK file must be an "
         "absolute path"},
        {"old_keks empty path", METADATA "old_keks = kek-0:\n",
         ":15: old_keks = 'kek-0:': 'kek-0:': KEK file must be an absolute path"},
        {"old_keks duplicate id", METADATA "old_keks = kek-0:/a, kek-0:/b\n",
         ":15: old_keks = 'kek-0:/a, kek-0:/b': KEK id 'kek-0' is listed twice"},
        {"old_keks holds kek_id", METADATA "old_keks = kek-0:/a, kek-1:/b\n",
         ":15: old_keks: KEK id 'kek-1' is already kek_id (each KEK needs an id of its own)"},
        {"old_keks holds later kek_id", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nold_keks = k:/a\nkek_id = k\nkek_file = /k\n",
         ":13: old_keks: KEK id 'k' is already kek_id (each KEK needs an id of its own)"},
        {"bad cipher", MINIMAL "[luks]\ncipher = aes-ctr\n",
         ":15: cipher = 'aes-ctr': allowed: aes-xts-plain64, serpent-xts-plain64, "
         "twofish-xts-plain64, aes-cbc-essiv:sha256"},
        {"key_bits for xts", MINIMAL "[luks]\nkey_bits = 128\n",
         ":15: key_bits = '128': aes-xts-plain64 takes 256 or 512"},
        {"key_bits for cbc", MINIMAL "[luks]\ncipher = aes-cbc-essiv:sha256\nkey_bits = 512\n",
         ":16: key_bits = '512': aes-cbc-essiv:sha256 takes 128, 192 or 256"},
        {"bad hash", MINIMAL "[luks]\nhash = md5\n",
         ":15: hash = 'md5': allowed: sha1, sha256, sha512"},
        {"client. prefix",
         AGENT "[ceph]\nconf = /c\nclient = client.cinder\npool = p\n" VOLUME KEYS,
         ":7: client = 'client.cinder': give the cephx user without \"client.\" (client = "
         "cinder)"},
        {"pool characters", AGENT "[ceph]\nconf = /c\nclient = c\npool = my pool\n" VOLUME KEYS,
         ":8: pool = 'my pool': not a valid name (allowed: 1 to 100 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"pool too long", AGENT "[ceph]\nconf = /c\nclient = c\npool = "
                          "a123456789a123456789a123456789a123456789a123456789"
                          "a123456789a123456789a123456789a123456789a123456789x\n" VOLUME KEYS,
         ":8: pool = 'a123456789a123456789a123456789a123456789a123456789"
         "a123456789a123456789a123456789a123456789a123456789x': not a valid name (allowed: "
         "1 to 100 characters of A-Z a-z 0-9 _ . -)"},
        {"types empty element", AGENT CEPH "[volume]\ntypes = a,,b\n" KEYS,
         ":10: types = 'a,,b': empty volume type id in the list"},
        {"types trailing comma", AGENT CEPH "[volume]\ntypes = a,\n" KEYS,
         ":10: types = 'a,': empty volume type id in the list"},
        {"types star in list", AGENT CEPH "[volume]\ntypes = a, *\n" KEYS,
         ":10: types = 'a, *': * must stand alone"},
        {"types bad id", AGENT CEPH "[volume]\ntypes = a, b/c\n" KEYS,
         ":10: types = 'a, b/c': 'b/c' is not a valid volume type id (allowed: 1 to 64 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"relative path", "[agent]\nrole = volume\nhook_file = /h\nstate_dir = var/lib\n" CEPH
                          VOLUME KEYS,
         ":4: state_dir = 'var/lib': must be an absolute path"},
        {"role other", "[agent]\nrole = web\nhook_file = /h\nstate_dir = /s\n" CEPH VOLUME KEYS,
         ":2: role = 'web': allowed: volume, compute"},
        /* Not knowing the role, nothing is said about the sections it needs. */
        {"role other without [volume]",
         "[agent]\nrole = web\nhook_file = /h\nstate_dir = /s\n" CEPH KEYS,
         ":2: role = 'web': allowed: volume, compute"},
        {"missing role", "[agent]\nhook_file = /h\nstate_dir = /s\n" CEPH KEYS,
         ":1: missing required key 'role' in [agent]"},

        /* Sections and roles. */
        {"volume role without [volume]", AGENT CEPH KEYS,
         ":0: missing section [volume] (required: types)"},
        {"compute role with [volume]", COMPUTE_AGENT CEPH VOLUME KEYS,
         ":9: [volume] is only used by role = volume"},
        {"compute role with [volume] lacking types", COMPUTE_AGENT CEPH "[volume]\n" KEYS,
         ":9: [volume] is only used by role = volume"},
        {"volume role with [compute]", MINIMAL "[compute]\nuri = qemu:///system\n",
         ":14: [compute] is only used by role = compute"},
        {"volume role with [secret:*]", MINIMAL SECRET_CEPH,
         ":14: [secret:ceph] is only used by role = compute"},
        {"volume role with an empty [secret:*]", MINIMAL "[secret:a]\n",
         ":14: [secret:a] is only used by role = compute"},
        {"compute role without [ceph]", COMPUTE_AGENT "[compute]\n" KEYS,
         ":0: missing section [ceph] (required: conf, client, pool)"},
        {"compute role without [keys]", COMPUTE_AGENT CEPH "[compute]\n",
         ":0: missing section [keys] (required: provider)"},
        {"duplicate [compute]", COMPUTE "[compute]\n",
         ":14: duplicate section [compute] (first at line 9)"},

        /* [compute] values; line 10. */
        {"uri with a space", COMPUTE_WITH("uri = qemu:///system x\n"),
         ":10: uri = 'qemu:///system x': not a libvirt URI (allowed: 1 to 512 printable ASCII "
         "characters, no spaces)"},
        {"uri empty", COMPUTE_WITH("uri =\n"),
         ":10: uri = '': not a libvirt URI (allowed: 1 to 512 printable ASCII characters, no "
         "spaces)"},
        {"uri control character", COMPUTE_WITH("uri = qemu:///sys\x01tem\n"),
         ":10: uri = 'qemu:///sys\x01tem': not a libvirt URI (allowed: 1 to 512 printable ASCII "
         "characters, no spaces)"},
        {"uri non-ASCII", COMPUTE_WITH("uri = qemu:///syst\xc3\xa9m\n"),
         ":10: uri = 'qemu:///syst\xc3\xa9m': not a libvirt URI (allowed: 1 to 512 printable "
         "ASCII characters, no spaces)"},
        {"host with a space", COMPUTE_WITH("host = compute 1\n"),
         ":10: host = 'compute 1': not a valid host name (allowed: 1 to 255 characters of "
         "A-Z a-z 0-9 _ . -, or empty for this machine's hostname)"},
        {"host with a slash", COMPUTE_WITH("host = a/b\n"),
         ":10: host = 'a/b': not a valid host name (allowed: 1 to 255 characters of "
         "A-Z a-z 0-9 _ . -, or empty for this machine's hostname)"},
        {"compute types", COMPUTE_WITH("types = a,,b\n"),
         ":10: types = 'a,,b': empty volume type id in the list"},
        {"compute private", COMPUTE_WITH("private = true\n"),
         ":10: private = 'true': allowed: yes, no"},
        {"reconcile_interval_s low", COMPUTE_WITH("reconcile_interval_s = 9\n"),
         ":10: reconcile_interval_s = '9': out of range (allowed: 10..86400)"},
        {"reconcile_interval_s high", COMPUTE_WITH("reconcile_interval_s = 86401\n"),
         ":10: reconcile_interval_s = '86401': out of range (allowed: 10..86400)"},
        {"gc_interval_s in the gap", COMPUTE_WITH("gc_interval_s = 59\n"),
         ":10: gc_interval_s = '59': out of range (allowed: 0 (never) or 60..604800)"},
        {"gc_interval_s 1", COMPUTE_WITH("gc_interval_s = 1\n"),
         ":10: gc_interval_s = '1': out of range (allowed: 0 (never) or 60..604800)"},
        {"gc_interval_s high", COMPUTE_WITH("gc_interval_s = 604801\n"),
         ":10: gc_interval_s = '604801': out of range (allowed: 0 (never) or 60..604800)"},
        {"gc_interval_s not a number", COMPUTE_WITH("gc_interval_s = 1h\n"),
         ":10: gc_interval_s = '1h': not a decimal number (allowed: 0 (never) or 60..604800)"},
        {"gc_grace_s high", COMPUTE_WITH("gc_grace_s = 604801\n"),
         ":10: gc_grace_s = '604801': out of range (allowed: 0..604800)"},
        {"volume key in [compute]", COMPUTE_WITH("lock_stale_after_s = 600\n"),
         ":10: unknown key 'lock_stale_after_s' in [compute]"},
        {"secret key in [compute]", COMPUTE_WITH(UUID_1),
         ":10: unknown key 'uuid' in [compute]"},

        /* [secret:NAME] headers, from line 14. */
        {"secret name with a space", COMPUTE "[secret:ceph cinder]\nusage = nonsense\n",
         ":14: [secret:ceph cinder]: not a valid secret name (allowed: 1 to 64 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"secret name empty", COMPUTE "[secret:]\n",
         ":14: [secret:]: not a valid secret name (allowed: 1 to 64 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"secret name too long",
         COMPUTE "[secret:a123456789b123456789c123456789d123456789e123456789f123456789g1234]\n",
         ":14: [secret:a123456789b123456789c123456789d123456789e123456789f123456789g1234]: "
         "not a valid secret name (allowed: 1 to 64 characters of A-Z a-z 0-9 _ . -)"},
        {"secret without a name", COMPUTE "[secret]\n",
         ":14: unknown section [secret] (known: agent, ceph, volume, compute, keys, luks, retry, "
         "amqp, secret:NAME)"},
        {"duplicate secret name",
         COMPUTE SECRET_CEPH "[secret:ceph]\n" UUID_1
         "usage = volume\nvolume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\nkey_file = /k\n",
         ":20: duplicate section [secret:ceph] (first at line 14)"},
        {"unknown key in a secret", COMPUTE SECRET_CEPH "value = abc\n",
         ":20: unknown key 'value' in [secret:ceph]"},
        {"duplicate key in a secret", COMPUTE SECRET_CEPH "usage = ceph\n",
         ":20: duplicate key 'usage' in [secret:ceph] (first set at line 16)"},

        /* [secret:NAME] keys; the header is line 14. */
        {"secret missing uuid", COMPUTE SECRET_A "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":14: missing required key 'uuid' in [secret:a]"},
        {"secret missing usage", COMPUTE SECRET_A UUID_1 "key_file = /k\n",
         ":14: missing required key 'usage' in [secret:a]"},
        {"secret uuid short", COMPUTE SECRET_A "uuid = 1234\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '1234': not a UUID (allowed: 8-4-4-4-12 hexadecimal digits)"},
        {"secret uuid long", COMPUTE SECRET_A "uuid = 11111111-2222-3333-4444-5555555555556\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '11111111-2222-3333-4444-5555555555556': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret uuid not hex", COMPUTE SECRET_A "uuid = 1111111g-2222-3333-4444-555555555555\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '1111111g-2222-3333-4444-555555555555': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret uuid dashes misplaced",
         COMPUTE SECRET_A "uuid = 111111112-222-3333-4444-555555555555\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '111111112-222-3333-4444-555555555555': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret uuid without dashes",
         COMPUTE SECRET_A "uuid = 1111111122223333444455555555555555\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '1111111122223333444455555555555555': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret usage", COMPUTE SECRET_A UUID_1 "usage = iscsi\nkey_file = /k\n",
         ":16: usage = 'iscsi': allowed: ceph, volume"},
        {"ceph secret without usage_name", COMPUTE SECRET_A UUID_1 "usage = ceph\nkey_file = /k\n",
         ":14: missing key 'usage_name' in [secret:a] (required by usage = ceph)"},
        {"volume secret without volume",
         COMPUTE SECRET_A UUID_1 "usage = volume\nkey_file = /k\n",
         ":14: missing key 'volume' in [secret:a] (required by usage = volume)"},
        {"ceph secret with volume",
         COMPUTE SECRET_CEPH "volume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n",
         ":20: volume is only used by usage = volume"},
        {"volume secret with usage_name",
         COMPUTE SECRET_A UUID_1 "usage = volume\nvolume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n"
         "usage_name = n\nkey_file = /k\n",
         ":18: usage_name is only used by usage = ceph"},
        {"volume not a UUID", COMPUTE SECRET_A UUID_1 "usage = volume\nvolume = vol-1\n"
         "key_file = /k\n",
         ":17: volume = 'vol-1': not a UUID (allowed: 8-4-4-4-12 hexadecimal digits)"},
        {"usage_name with a tab", COMPUTE SECRET_A UUID_1 "usage = ceph\n"
         "usage_name = client.cinder\tsecret\nkey_file = /k\n",
         ":17: usage_name = 'client.cinder\tsecret': not a usage name (allowed: 1 to 127 "
         "printable ASCII characters)"},
        {"usage_name empty", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name =\nkey_file = /k\n",
         ":17: usage_name = '': not a usage name (allowed: 1 to 127 printable ASCII "
         "characters)"},
        {"no value source", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n",
         ":14: missing value source in [secret:a] (set keyring and entity, or key_file)"},
        {"keyring and key_file", COMPUTE SECRET_CEPH "key_file = /k\n",
         ":20: keyring and key_file are mutually exclusive (set only one)"},
        {"keyring without entity", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /etc/ceph/k\n",
         ":14: missing key 'entity' in [secret:a] (required by keyring)"},
        {"entity without keyring", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "entity = client.cinder\nkey_file = /k\n",
         ":18: entity is only used with keyring"},
        {"entity without type", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /k\nentity = cinder\n",
         ":19: entity = 'cinder': give the full cephx entity name (entity = client.cinder)"},
        {"entity without id", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /k\nentity = client.\n",
         ":19: entity = 'client.': not a cephx entity name TYPE.ID (e.g. client.cinder)"},
        {"entity characters", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /k\nentity = client/cinder\n",
         ":19: entity = 'client/cinder': not a valid name (allowed: 1 to 100 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"keyring relative", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = ceph.keyring\nentity = client.cinder\n",
         ":18: keyring = 'ceph.keyring': must be an absolute path"},
        {"key_file relative", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "key_file = k.bin\n",
         ":18: key_file = 'k.bin': must be an absolute path"},
        {"secret private", COMPUTE SECRET_CEPH "private = 1\n",
         ":20: private = '1': allowed: yes, no"},

        /* Two sections for one libvirt secret. */
        {"duplicate uuid", COMPUTE SECRET_CEPH
         "[secret:b]\nuuid = 457eb676-33DA-42ec-9a8c-9293d545c337\nusage = ceph\n"
         "usage_name = other\nkey_file = /k\n",
         ":21: uuid '457eb676-33da-42ec-9a8c-9293d545c337' is already used by [secret:ceph] "
         "(line 14)"},
        {"duplicate ceph usage", COMPUTE SECRET_CEPH
         "[secret:b]\n" UUID_1 "usage = ceph\nusage_name = client.cinder secret\n"
         "key_file = /k\n",
         ":23: usage_name 'client.cinder secret' is already used by [secret:ceph] (line 14); "
         "libvirt keeps one secret per usage"},
        {"duplicate volume usage", COMPUTE
         SECRET_A UUID_1 "usage = volume\nvolume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n"
         "key_file = /k\n"
         "[secret:b]\n" UUID_2 "usage = volume\nvolume = 6A7C2EC6-6B8E-4F5A-9D43-2F0C1A6B5E3D\n"
         "key_file = /k\n",
         ":22: volume '6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d' is already used by [secret:a] "
         "(line 14); libvirt keeps one secret per usage"},
        {"log level", AGENT "log_level = loud\n" CEPH VOLUME KEYS,
         ":5: log_level = 'loud': allowed: error, warn, info, debug"},
        {"log format", AGENT "log_format = xml\n" CEPH VOLUME KEYS,
         ":5: log_format = 'xml': allowed: text, json"},
        {"max_ms below initial_ms", MINIMAL "[retry]\ninitial_ms = 5000\nmax_ms = 1000\n",
         ":16: max_ms = '1000': must not be less than initial_ms (5000)"},
        {"initial_ms above default max", MINIMAL "[retry]\ninitial_ms = 120000\n",
         ":15: initial_ms = '120000': must not be more than max_ms (60000)"},

        /* [amqp]; the header is line 14, its first key line 15. */
        {"amqp host with a space", MINIMAL "[amqp]\nhost = rabbit 1\n",
         ":15: host = 'rabbit 1': not a host name or IP address (allowed: 1 to 255 characters "
         "of A-Z a-z 0-9 _ . - :)"},
        {"amqp host empty", MINIMAL "[amqp]\nhost =\n",
         ":15: host = '': not a host name or IP address (allowed: 1 to 255 characters of "
         "A-Z a-z 0-9 _ . - :)"},
        {"amqp port 0", MINIMAL "[amqp]\nport = 0\n",
         ":15: port = '0': out of range (allowed: 1..65535)"},
        {"amqp port too high", MINIMAL "[amqp]\nport = 65536\n",
         ":15: port = '65536': out of range (allowed: 1..65535)"},
        {"amqp vhost with a space", MINIMAL "[amqp]\nvhost = my vhost\n",
         ":15: vhost = 'my vhost': allowed: 1 to 255 printable ASCII characters, no spaces"},
        {"amqp user empty", MINIMAL "[amqp]\nuser =\n",
         ":15: user = '': allowed: 1 to 255 printable ASCII characters, no spaces"},
        {"amqp user control character", MINIMAL "[amqp]\nuser = a\x01b\n",
         ":15: user = 'a\x01b': allowed: 1 to 255 printable ASCII characters, no spaces"},
        {"amqp password_file relative", MINIMAL "[amqp]\npassword_file = amqp.pass\n",
         ":15: password_file = 'amqp.pass': must be an absolute path"},
        {"amqp exchange characters", MINIMAL "[amqp]\nexchange = open/stack\n",
         ":15: exchange = 'open/stack': not a valid name (allowed: 1 to 127 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"amqp queue reserved", MINIMAL "[amqp]\nqueue = amq.luks\n",
         ":15: queue = 'amq.luks': names starting with \"amq.\" are reserved by the broker"},
        {"amqp queue empty", MINIMAL "[amqp]\nqueue =\n",
         ":15: queue = '': not a valid name (allowed: 1 to 127 characters of A-Z a-z 0-9 _ . -)"},
        {"amqp routing key empty element", MINIMAL "[amqp]\nrouting_keys = a.info,,b.info\n",
         ":15: routing_keys = 'a.info,,b.info': empty routing key in the list"},
        {"amqp routing keys trailing comma", MINIMAL "[amqp]\nrouting_keys = a.info,\n",
         ":15: routing_keys = 'a.info,': empty routing key in the list"},
        {"amqp routing key characters", MINIMAL "[amqp]\nrouting_keys = a.info, b/c\n",
         ":15: routing_keys = 'a.info, b/c': 'b/c' is not a routing key (allowed: 1 to 255 "
         "characters of A-Z a-z 0-9 _ . - * #)"},
        {"amqp routing key twice", MINIMAL "[amqp]\nrouting_keys = a.info , a.info\n",
         ":15: routing_keys = 'a.info , a.info': routing key 'a.info' is listed twice"},
        {"amqp prefetch 0", MINIMAL "[amqp]\nprefetch = 0\n",
         ":15: prefetch = '0': out of range (allowed: 1..65535)"},
        {"amqp prefetch too high", MINIMAL "[amqp]\nprefetch = 65536\n",
         ":15: prefetch = '65536': out of range (allowed: 1..65535)"},
        {"amqp heartbeat too high", MINIMAL "[amqp]\nheartbeat_s = 601\n",
         ":15: heartbeat_s = '601': out of range (allowed: 0 (no heartbeats) or 1..600)"},
        {"amqp heartbeat not a number", MINIMAL "[amqp]\nheartbeat_s = 30s\n",
         ":15: heartbeat_s = '30s': not a decimal number (allowed: 0 (no heartbeats) or "
         "1..600)"},
        {"amqp batch_max 0", MINIMAL "[amqp]\nbatch_max = 0\n",
         ":15: batch_max = '0': out of range (allowed: 1..4096)"},
        {"amqp batch_max too high", MINIMAL "[amqp]\nprefetch = 8192\nbatch_max = 4097\n",
         ":16: batch_max = '4097': out of range (allowed: 1..4096)"},
        {"amqp batch_ms too high", MINIMAL "[amqp]\nbatch_ms = 1001\n",
         ":15: batch_ms = '1001': out of range (allowed: 0..1000)"},
        {"amqp batch_max above prefetch", MINIMAL "[amqp]\nprefetch = 10\nbatch_max = 20\n",
         ":16: batch_max = '20': must not be more than prefetch (10)"},
        {"amqp prefetch below default batch_max", MINIMAL "[amqp]\nprefetch = 10\n",
         ":15: prefetch = '10': must not be less than batch_max (64)"},
        {"amqp tls", MINIMAL "[amqp]\ntls = true\n", ":15: tls = 'true': allowed: yes, no"},
        {"amqp tls_verify", MINIMAL "[amqp]\ntls = yes\ntls_verify = 0\n",
         ":16: tls_verify = '0': allowed: yes, no"},
        {"amqp tls_ca_file relative", MINIMAL "[amqp]\ntls = yes\ntls_ca_file = ca.pem\n",
         ":16: tls_ca_file = 'ca.pem': must be an absolute path"},
        {"amqp tls_ca_file without tls", MINIMAL "[amqp]\ntls_ca_file = /etc/ca.pem\n",
         ":15: tls_ca_file is only used with tls = yes"},
        {"amqp tls_verify with tls = no", MINIMAL "[amqp]\ntls = no\ntls_verify = no\n",
         ":16: tls_verify is only used with tls = yes"},
        {"amqp unknown key", MINIMAL "[amqp]\nurl = amqp://x\n",
         ":15: unknown key 'url' in [amqp]"},
        {"amqp duplicate key", MINIMAL "[amqp]\nport = 1\nport = 2\n",
         ":16: duplicate key 'port' in [amqp] (first set at line 15)"},
        {"duplicate [amqp]", MINIMAL "[amqp]\n[amqp]\n",
         ":15: duplicate section [amqp] (first at line 14)"},
        {"no equals sign", MINIMAL "just some words\n",
         ":14: syntax error (expected [section] or key = value)"},
        {"continuation line", MINIMAL "  /more/path\n",
         ":14: syntax error (expected [section] or key = value)"},
        {"unterminated section", MINIMAL "[luks\n",
         ":14: syntax error (expected [section] or key = value)"},
        {"comment inside section header", MINIMAL "[luks ;]\n",
         ":14: syntax error (expected [section] or key = value)"},
};

TEST(config_each_problem_exact)
{
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                const struct bad_case *b = &bad_cases[i];
                struct config_problems p = {0};
                struct config *c = NULL;
                int r = load_text(b->text, &c, &p);

                if (r != -EINVAL || c != NULL || p.count != 1 || p.dropped != 0 ||
                    !problem_is(&p, 0, b->problem)) {
                        unit_fail(__FILE__, __LINE__, b->name);
                        print_problems(&p);
                }
                config_free(c);
                config_problems_clear(&p);
        }
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

TEST(config_wants_type)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(AGENT CEPH "[volume]\ntypes = gold,silver\n" KEYS, &c, &p) == 0);
        CHECK(config_wants_type(c, "gold"));
        CHECK(config_wants_type(c, "silver"));
        CHECK(!config_wants_type(c, "bronze"));
        CHECK(!config_wants_type(c, "gol"));
        CHECK(!config_wants_type(c, NULL));
        config_free(c);
        c = NULL;

        REQUIRE(load_text(MINIMAL, &c, &p) == 0);
        CHECK(config_wants_type(c, "anything"));
        CHECK(config_wants_type(c, NULL));
        config_free(c);
        config_problems_clear(&p);
}

/* types = t0,t1,...,t(n-1) */
static int load_types(unsigned n, struct config **ret, struct config_problems *p)
{
        char text[2048] = AGENT CEPH "[volume]\ntypes = ";
        size_t len = strlen(text);

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%st%u", i ? "," : "", i);
        snprintf(text + len, sizeof(text) - len, "\n%s", KEYS);
        return load_text(text, ret, p);
}

TEST(config_types_limit)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_types(CONFIG_MAX_TYPES, &c, &p) == 0);
        CHECK(c->n_types == CONFIG_MAX_TYPES);
        CHECK(config_wants_type(c, "t63"));
        config_free(c);
        c = NULL;

        CHECK(load_types(CONFIG_MAX_TYPES + 1, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 1);
        CHECK(p.count == 1 && strstr(p.lines[0], ":10: types = 't0,t1,") &&
              strstr(p.lines[0], ",t64': more than 64 volume types"));
        config_problems_clear(&p);
}

/* ---- [amqp] and the feed command ---------------------------------------- */

TEST(config_amqp_every_key)
{
        static const char text[] = MINIMAL "[amqp]\n"
                                           "host = rabbit-1.example.org\n"
                                           "port = 5673\n"
                                           "vhost = /openstack\n"
                                           "user = rbd-luks\n"
                                           "password_file = /etc/rbd-luks-agent/amqp.pass\n"
                                           "exchange = cinder\n"
                                           "queue = luks.feed\n"
                                           "routing_keys =  a.info , b.*,c.# \n"
                                           "prefetch = 65535\n"
                                           "heartbeat_s = 0\n"
                                           "batch_max = 4096\n"
                                           "batch_ms = 0\n"
                                           "tls = yes\n"
                                           "tls_ca_file = /etc/ssl/ca.pem\n"
                                           "tls_verify = no\n";
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(text, &c, &p) == 0);
        CHECK(c->has_amqp);
        CHECK(strcmp(c->amqp_host, "rabbit-1.example.org") == 0 && c->amqp_port == 5673);
        CHECK(strcmp(c->amqp_vhost, "/openstack") == 0 && strcmp(c->amqp_user, "rbd-luks") == 0);
        CHECK(strcmp(c->amqp_password_file, "/etc/rbd-luks-agent/amqp.pass") == 0);
        CHECK(strcmp(c->amqp_exchange, "cinder") == 0 && strcmp(c->amqp_queue, "luks.feed") == 0);
        REQUIRE(c->n_amqp_routing_keys == 3);
        CHECK(strcmp(c->amqp_routing_keys[0], "a.info") == 0 &&
              strcmp(c->amqp_routing_keys[1], "b.*") == 0 &&
              strcmp(c->amqp_routing_keys[2], "c.#") == 0);
        CHECK(c->amqp_prefetch == 65535 && c->amqp_heartbeat_s == 0);
        CHECK(c->amqp_batch_max == 4096 && c->amqp_batch_ms == 0);
        CHECK(c->amqp_tls && !c->amqp_tls_verify);
        CHECK(strcmp(c->amqp_tls_ca_file, "/etc/ssl/ca.pem") == 0);
        config_free(c);
        c = NULL;

        /* TLS without a port: AMQPS's 5671. IPv6 hosts need no brackets. */
        REQUIRE(load_text(MINIMAL "[amqp]\nhost = fd00::1\ntls = yes\n", &c, &p) == 0);
        CHECK(c->amqp_port == 5671 && strcmp(c->amqp_host, "fd00::1") == 0);
        CHECK(c->amqp_tls_verify && c->amqp_tls_ca_file == NULL);
        config_free(c);
        c = NULL;

        /* Both roles may have it. */
        REQUIRE(load_text(COMPUTE "[amqp]\nuser = u\n", &c, &p) == 0);
        CHECK(c->has_amqp && strcmp(c->amqp_user, "u") == 0);
        config_free(c);
        config_problems_clear(&p);
}

/* routing_keys = k0.info,k1.info,... */
static int load_routing_keys(unsigned n, struct config **ret, struct config_problems *p)
{
        char text[2048] = MINIMAL "[amqp]\nrouting_keys = ";
        size_t len = strlen(text);

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%sk%u.info",
                                        i ? "," : "", i);
        snprintf(text + len, sizeof(text) - len, "\n");
        return load_text(text, ret, p);
}

TEST(config_amqp_routing_keys_limit)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_routing_keys(CONFIG_MAX_ROUTING_KEYS, &c, &p) == 0);
        CHECK(c->n_amqp_routing_keys == CONFIG_MAX_ROUTING_KEYS);
        CHECK(strcmp(c->amqp_routing_keys[15], "k15.info") == 0);
        config_free(c);
        c = NULL;

        CHECK(load_routing_keys(CONFIG_MAX_ROUTING_KEYS + 1, &c, &p) == -EINVAL);
        CHECK(c == NULL);
        CHECK(p.count == 1 && strstr(p.lines[0], ":15: routing_keys = 'k0.info,k1.info,") &&
              strstr(p.lines[0], ",k16.info': more than 16 routing keys"));
        config_problems_clear(&p);
}

/* MINIMAL with hook_file and state_dir in the test's directory, then
 * amqp (from line 14 on). */
static int load_feed_text(const char *amqp, struct config **ret, struct config_problems *p)
{
        const char *dir = unit_tmpdir();
        char text[2048];

        snprintf(text, sizeof(text),
                 "[agent]\nrole = volume\nhook_file = %s/events.jsonl\nstate_dir = %s\n" CEPH
                         VOLUME KEYS "%s",
                 dir, dir, amqp);
        snprintf(cfg_path, sizeof(cfg_path), "%s",
                 write_file(dir, "agent.ini", text, strlen(text)));
        return config_load_feed(cfg_path, ret, p);
}

/* [compute] sasl_user and sasl_password_file: both or neither. */
TEST(config_compute_sasl_login)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(COMPUTE, &c, &p) == 0);
        CHECK(c->libvirt_sasl_user == NULL && c->libvirt_sasl_password_file == NULL);
        config_free(c);
        c = NULL;

        REQUIRE(load_text(COMPUTE_WITH("uri = qemu+tcp://h/system\nsasl_user = nova\n"
                                       "sasl_password_file = /etc/x/libvirt-sasl.pass\n"),
                          &c, &p) == 0);
        CHECK(p.count == 0);
        CHECK(strcmp(c->libvirt_sasl_user, "nova") == 0);
        CHECK(strcmp(c->libvirt_sasl_password_file, "/etc/x/libvirt-sasl.pass") == 0);
        config_free(c);
        c = NULL;

        CHECK(load_text(COMPUTE_WITH("uri = qemu+tcp://h/system\nsasl_user = nova\n"), &c,
                        &p) == -EINVAL);
        CHECK(c == NULL && p.count == 1);
        CHECK(problem_is(&p, 0, ":11: sasl_user is set without sasl_password_file: a SASL login "
                                "to libvirt needs both"));
        config_problems_clear(&p);

        CHECK(load_text(COMPUTE_WITH("uri = qemu+tcp://h/system\nsasl_password_file = /etc/x/p\n"),
                        &c, &p) == -EINVAL);
        CHECK(p.count == 1);
        CHECK(problem_is(&p, 0, ":11: sasl_password_file is set without sasl_user: a SASL login "
                                "to libvirt needs both"));
        config_problems_clear(&p);

        CHECK(load_text(COMPUTE_WITH("uri = qemu+tcp://h/system\nsasl_user = no va\n"
                                     "sasl_password_file = relative.pass\n"),
                        &c, &p) == -EINVAL);
        CHECK(has_problem(&p, ":11: sasl_user = 'no va': "));
        CHECK(has_problem(&p, ":12: sasl_password_file = 'relative.pass': must be an absolute path"));
        config_problems_clear(&p);
}

TEST(config_feed_needs_user_and_password_file)
{
        struct config_problems p = {0};
        struct config *c = NULL;

        CHECK(load_feed_text("", &c, &p) == -EINVAL);
        CHECK(c == NULL && p.count == 1);
        CHECK(problem_is(&p, 0, ":0: missing section [amqp] (required by feed: user, "
                                "password_file)"));
        config_problems_clear(&p);

        CHECK(load_feed_text("[amqp]\nport = 5672\n", &c, &p) == -EINVAL);
        CHECK(p.count == 2);
        CHECK(problem_is(&p, 0, ":14: missing key 'user' in [amqp] (required by feed)"));
        CHECK(problem_is(&p, 1, ":14: missing key 'password_file' in [amqp] (required by "
                                "feed)"));
        config_problems_clear(&p);

        /* Other commands do not need them... */
        CHECK(load_text(MINIMAL "[amqp]\nport = 5672\n", &c, &p) == 0);
        config_free(c);
        c = NULL;
        config_problems_clear(&p);

        /* ...but check-config asks for them when there is an [amqp] section. */
        CHECK(config_load_all(cfg_path, &c, &p) == -EINVAL);
        CHECK(has_problem(&p, ":14: missing key 'user' in [amqp] (required by feed)"));
        config_problems_clear(&p);
        CHECK(load_text(MINIMAL, &c, &p) == 0);
        config_free(c);
        c = NULL;
        CHECK(config_load_all(cfg_path, &c, &p) == -EINVAL); /* MINIMAL's paths */
        CHECK(c == NULL && !has_problem(&p, "[amqp]"));
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

/* The sample files' [amqp] keys, uncommented, are valid and are the
 * defaults (tls_ca_file and tls_verify stay commented: they need tls = yes). */
static void check_sample_amqp(const char *sample)
{
        struct config_problems p = {0};
        struct config *c = NULL;
        char *text = NULL, *line = NULL;
        size_t size = 0, length = 0;
        bool in_amqp = false;
        FILE *in = fopen(sample, "re"), *out;

        REQUIRE(in);
        out = open_memstream(&text, &length);
        REQUIRE(out);
        while (getline(&line, &size, in) > 0) {
                bool key = line[1] == '[' || (line[1] >= 'a' && line[1] <= 'z');

                if (strcmp(line, ";[amqp]\n") == 0)
                        in_amqp = true;
                if (in_amqp && line[0] == ';' && key && strncmp(line, ";tls_", 5) != 0)
                        fputs(line + 1, out);
                else
                        fputs(line, out);
        }
        free(line);
        fclose(in);
        fclose(out);
        REQUIRE(in_amqp);
        CHECK(load_text(text, &c, &p) == 0);
        print_problems(&p);
        if (c) {
                CHECK(c->has_amqp && strcmp(c->amqp_host, "127.0.0.1") == 0);
                CHECK(c->amqp_port == 5672 && strcmp(c->amqp_vhost, "/") == 0);
                CHECK(strcmp(c->amqp_user, "rbd-luks-agent") == 0);
                CHECK(strcmp(c->amqp_password_file, "/etc/rbd-luks-agent/amqp.password") == 0);
                CHECK(strcmp(c->amqp_exchange, "openstack") == 0);
                CHECK(strcmp(c->amqp_queue, "rbd-luks-agent") == 0);
                CHECK(c->n_amqp_routing_keys == 1 &&
                      strcmp(c->amqp_routing_keys[0], "notifications_luks.info") == 0);
                CHECK(c->amqp_prefetch == 256 && c->amqp_heartbeat_s == 30);
                CHECK(c->amqp_batch_max == 64 && c->amqp_batch_ms == 20);
                CHECK(!c->amqp_tls && c->amqp_tls_verify && !c->amqp_tls_ca_file);
        }
        config_free(c);
        config_problems_clear(&p);
        free(text);
}

TEST(config_sample_files_amqp_defaults)
{
        check_sample_amqp("config/rbd-luks-agent.ini");
        check_sample_amqp("config/rbd-luks-agent-compute.ini");
}

TEST(config_deleted_keys)
{
        struct config_problems p = {0};
        struct config *c;

        REQUIRE(load_text(AGENT CEPH VOLUME "deleted_keys = shred\n" KEYS, &c, &p) == 0);
        CHECK(c->shred_deleted_keys);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(AGENT CEPH VOLUME "deleted_keys = keep\n" KEYS, &c, &p) == 0);
        CHECK(!c->shred_deleted_keys);
        config_free(c);
        config_problems_clear(&p);
}

TEST(config_kdf)
{
        struct config_problems p = {0};
        struct config *c;

        REQUIRE(load_text(MINIMAL "[luks]\nkdf = fast\n", &c, &p) == 0);
        CHECK(c->kdf_fast && c->iterations == 1000 && c->iter_time_ms == 0);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkdf = standard\niterations = 5000\n", &c, &p) == 0);
        CHECK(!c->kdf_fast && c->iterations == 5000 && c->iter_time_ms == 0);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkdf = standard\n", &c, &p) == 0);
        CHECK(!c->kdf_fast && c->iterations == 0 && c->iter_time_ms == 2000);
        CHECK(!c->keyslot_by_libcryptsetup);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkeyslot_writer = libcryptsetup\n", &c, &p) == 0);
        CHECK(c->keyslot_by_libcryptsetup);
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(MINIMAL "[luks]\nkeyslot_writer = agent\n", &c, &p) == 0);
        CHECK(!c->keyslot_by_libcryptsetup);
        config_free(c);
        config_problems_clear(&p);
}

/* No kdf line: fast for the metadata provider's own 256-bit keys, unless
 * a count or time is asked for; standard for file keys. -1: not checked. */
TEST(config_kdf_default)
{
        static const struct {
                const char *text;
                bool fast;
                long iterations, iter_time_ms;
        } rows[] = {
                {METADATA, true, 1000, 0},
                {METADATA "[luks]\niter_time_ms = 500\n", false, 0, 500},
                {METADATA "[luks]\niterations = 5000\n", false, 5000, -1},
                {METADATA "[luks]\nkdf = standard\n", false, -1, 2000},
                {MINIMAL, false, -1, 2000},
        };

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct config_problems p = {0};
                struct config *c;

                REQUIRE(load_text(rows[i].text, &c, &p) == 0);
                CHECK(c->kdf_fast == rows[i].fast);
                CHECK(rows[i].iterations < 0 || c->iterations == (unsigned)rows[i].iterations);
                CHECK(rows[i].iter_time_ms < 0 ||
                      c->iter_time_ms == (unsigned)rows[i].iter_time_ms);
                config_free(c);
                config_problems_clear(&p);
        }
}

TEST(config_backends)
{
        struct config_problems p = {0};
        struct config *c;

        REQUIRE(load_text(MINIMAL, &c, &p) == 0);
        CHECK(c->n_backends == 0);
        /* Unset: every backend, and events without a host too. */
        CHECK(config_wants_backend(c, "h@any#p"));
        CHECK(config_wants_backend(c, ""));
        CHECK(config_wants_backend(c, NULL));
        config_free(c);
        config_problems_clear(&p);
        REQUIRE(load_text(AGENT CEPH VOLUME "backends = rbd-1, rbd_2\n" KEYS, &c, &p) == 0);
        CHECK(c->n_backends == 2);
        CHECK(config_wants_backend(c, "cinder@rbd-1#volumes"));
        CHECK(config_wants_backend(c, "cinder@rbd_2"));
        CHECK(!config_wants_backend(c, "cinder@rbd-10#volumes"));
        CHECK(!config_wants_backend(c, "cinder@rbd#volumes"));
        CHECK(!config_wants_backend(c, "cinder#rbd-1"));
        CHECK(!config_wants_backend(c, "rbd-1"));
        CHECK(!config_wants_backend(c, ""));
        CHECK(!config_wants_backend(c, NULL));
        config_free(c);
        config_problems_clear(&p);
        CHECK(load_text(AGENT CEPH VOLUME "backends = rbd-1,,rbd-2\n" KEYS, &c, &p) < 0);
        CHECK(p.count == 1 && strstr(p.lines[0], "empty backend name in the list"));
        config_problems_clear(&p);
        CHECK(load_text(AGENT CEPH VOLUME "backends = rbd@1\n" KEYS, &c, &p) < 0);
        CHECK(p.count == 1 && strstr(p.lines[0], "'rbd@1' is not a valid backend name"));
        config_problems_clear(&p);
}

/* The fail-closed scope keys of [compute]: the same lists as the volume
 * side's, zones, and what happens to a raw disk. */
TEST(config_compute_scope_and_raw_disk)
{
        static const char text[] = COMPUTE_AGENT CEPH
                "[compute]\n"
                "backends = rbd-fast, rbd-slow\n"
                "availability_zones = az-1,nova\n"
                "on_raw_disk = alert\n" META_KEYS;
        static const char bad[] = COMPUTE_AGENT CEPH
                "[compute]\n"                 /* 9 */
                "availability_zones = a b\n"  /* 10 */
                "on_raw_disk = stop\n"        /* 11 */
                META_KEYS;
        struct config_problems p = {0};
        struct config *c = NULL;

        REQUIRE(load_text(text, &c, &p) == 0);
        REQUIRE(c->n_backends == 2 && c->n_zones == 2);
        CHECK(strcmp(c->backends[1], "rbd-slow") == 0 && strcmp(c->zones[0], "az-1") == 0);
        CHECK(c->raw_disk_alert_only);
        CHECK(config_wants_zone(c, "nova") && !config_wants_zone(c, "az-3"));
        CHECK(config_wants_zone(c, "") && config_wants_zone(c, NULL)); /* unknown: in scope */
        CHECK(config_wants_backend(c, "h@rbd-fast#p") && !config_wants_backend(c, "h@other#p"));
        config_free(c);
        c = NULL;
        REQUIRE(load_text(COMPUTE_AGENT CEPH META_KEYS, &c, &p) == 0);
        CHECK(!c->raw_disk_alert_only && c->n_zones == 0 && config_wants_zone(c, "any"));
        config_free(c);
        c = NULL;
        CHECK(load_text(bad, &c, &p) == -EINVAL);
        CHECK(p.count == 2);
        CHECK(p.count == 2 && strstr(p.lines[0], ":10: availability_zones = 'a b': 'a b' is not a "
                                                 "valid availability zone name"));
        CHECK(p.count == 2 && strstr(p.lines[1], ":11: on_raw_disk = 'stop': allowed: pause, alert"));
        config_problems_clear(&p);
}
