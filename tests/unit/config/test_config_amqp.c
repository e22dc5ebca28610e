/* Unit tests for agent/config/: [amqp] and the feed command: every key, the
 * routing keys' limit, what feed and check-config require, the sample files'
 * [amqp] defaults.
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
