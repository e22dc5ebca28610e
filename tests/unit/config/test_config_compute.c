/* Unit tests for agent/config/: [compute] and [secret:NAME]: defaults, every
 * key, edges, length limits, the cap on secrets, problems in line order, the
 * SASL login, the fail-closed scope keys.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
