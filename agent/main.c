/* main: command line of rbd-luks-agent. Parses arguments, loads the config,
 * hands over to a role. Exit codes: 0 success, 1 failure, 2 usage error. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_index.h"
#include "cli/cli_keys.h"
#include "config/config.h"
#include "base/uuid.h"
#include "feed/feeder.h"
#include "runtime/health.h"
#include "kolla/kolla.h"
#include "base/log.h"
#include "luks/luks.h"
#include "compute/role_compute.h"
#include "volume/role_volume.h"
#include "base/secret.h"

#define DEFAULT_CONFIG "/etc/rbd-luks-agent/rbd-luks-agent.ini"
#define EXIT_USAGE 2

static const char main_usage[] =
        "Usage: rbd-luks-agent [-c FILE] COMMAND [ARGS]\n"
        "\n"
        "LUKS-formats new Ceph RBD volumes for OpenStack, from notifications in a hook file.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  INI file (default " DEFAULT_CONFIG ")\n"
        "  -h, --help         this text; COMMAND --help for a command's\n"
        "  -V, --version      print the version\n"
        "\n"
        "Commands:\n"
        "  check-config       validate the config and what it points at\n"
        "  run [--once]       follow the hook file and handle each event\n"
        "  feed               append notifications from RabbitMQ to the hook file\n"
        "  format VOLUME_ID   format one volume now, as for its create event\n"
        "  keys ...           show, verify, audit, re-wrap volume keys; recovery\n"
        "  secrets ...        list, provision, reconcile, remove, gc libvirt secrets (role compute)\n"
        "  index ...          the pool's volume index and header map: list, rebuild, shred\n"
        "  health [--feed]    container health check: is run (feed) alive and well\n"
        "  kolla-start        Kolla container start: copy config.json's files, then\n"
        "                     exec its command\n"
        "  kolla-set-configs [--check]  Kolla's kolla_set_configs: the copies alone, or\n"
        "                     whether they are in place (exit 0) or would change (1)\n";

static const char check_usage[] =
        "Usage: rbd-luks-agent -c FILE check-config\n"
        "\n"
        "Reads FILE and checks every value, then that the directories, files and\n"
        "programs it names exist and are usable (with an [amqp] section, also what\n"
        "feed needs). Prints each problem as FILE:LINE: message and exits 1, or\n"
        "exits 0 when there is none.\n";

static const char run_usage[] =
        "Usage: rbd-luks-agent -c FILE run [--once]\n"
        "\n"
        "Follows [agent] hook_file from the checkpoint in [agent] state_dir. Role\n"
        "volume: formats the volume of each volume.create.end event of the\n"
        "configured types and records it in the pool's volume index. Role compute:\n"
        "keeps the static libvirt secrets in place and a volume secret for every\n"
        "live volume in the index, from volume.create.start to its deletion.\n"
        "Results go to state_dir/results.jsonl, unusable lines to rejects.jsonl.\n"
        "Stops on SIGTERM or SIGINT after the events being formatted end.\n"
        "\n"
        "  --once   handle every complete line already in the file, then exit:\n"
        "           0 when every event ended formatted or skipped, 1 otherwise\n";

static const char feed_usage[] =
        "Usage: rbd-luks-agent -c FILE feed\n"
        "\n"
        "Consumes OpenStack notifications from RabbitMQ ([amqp]: its own durable\n"
        "queue, bound to the exchange with the routing keys) and appends each\n"
        "message body as one line to [agent] hook_file. A message is acknowledged\n"
        "only once its line is on disk (write + fdatasync per group of up to\n"
        "batch_max messages). Bodies with a newline are re-written as compact JSON;\n"
        "ones that cannot be one line (not JSON, NUL byte, longer than\n"
        "max_line_bytes) go to state_dir/rejects.jsonl. Reconnects with the\n"
        "[retry] backoff when the broker goes away. Stops on SIGTERM or SIGINT\n"
        "after writing and acknowledging what it received; exit 0, or 1 when it\n"
        "could not start or write its last group. Needs [amqp] user and\n"
        "password_file; does not need Ceph, keys or libvirt.\n";

static const char format_usage[] =
        "Usage: rbd-luks-agent -c FILE format VOLUME_ID\n"
        "\n"
        "Formats image <image_prefix>VOLUME_ID in the configured pool, with the\n"
        "same checks as for an event: skipped if already LUKS, refused if it holds\n"
        "data. The payload keeps the image's current size. Exit 0 when formatted\n"
        "or skipped, 1 otherwise. The outcome is also added to results.jsonl.\n";

static const char health_usage[] =
        "Usage: rbd-luks-agent -c FILE health [--feed]\n"
        "\n"
        "For a container HEALTHCHECK. Reads the status file that run (or, with\n"
        "--feed, feed) refreshes from its main loop every [agent] health_interval\n"
        "seconds: state_dir/health (state_dir/health-feed). Needs no Ceph, libvirt\n"
        "or broker. Exit 0, printing \"healthy: ROLE pid N, updated Ns ago\", when\n"
        "the file is at most 3 x health_interval + 5 s old and its state is ok;\n"
        "exit 1, printing why, when it is missing, stale (the main loop is stuck\n"
        "or dead) or degraded (the loop runs but Ceph, libvirt or the broker does\n"
        "not answer).\n";

static const char kolla_usage[] =
        "Usage: rbd-luks-agent [-c FILE] kolla-start\n"
        "\n"
        "The start command of a Kolla image (kolla-ansible, TripleO). Reads\n"
        "$KOLLA_CONFIG_FILE (default " KOLLA_DEFAULT_CONFIG_FILE "),\n"
        "copies its config_files (owner, perm, optional, merge,\n"
        "preserve_properties), applies its permissions, then execs its command\n"
        "(split on blanks, no shell). KOLLA_CONFIG_STRATEGY: COPY_ALWAYS (the\n"
        "default) copies at every start; COPY_ONCE only while\n"
        "$KOLLA_CONFIGURED_MARKER (default " KOLLA_DEFAULT_MARKER ") does not\n"
        "exist, and then creates it. Without config.json it runs\n"
        "\"rbd-luks-agent -c FILE run\". Any error names config.json and the\n"
        "entry, and exits 1 without running the command.\n";

static const char kolla_set_configs_usage[] =
        "Usage: rbd-luks-agent kolla-set-configs [--check]\n"
        "\n"
        "Kolla's kolla_set_configs (the image's /usr/local/bin/kolla_set_configs).\n"
        "Without --check: what kolla-start does before its exec (copies,\n"
        "permissions), nothing run. With --check: exit 0 when every config_files\n"
        "entry of $KOLLA_CONFIG_FILE is in place as the copy leaves it (content,\n"
        "mode, owner), 1 when a copy would change something or fail, printing\n"
        "the first difference; kolla-ansible recreates the container on 1.\n";

static bool wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
                        return true;
        return false;
}

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
        fprintf(stderr, "rbd-luks-agent: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", usage);
        return EXIT_USAGE;
}

/* Prints every problem of a load that returned r; returns r. */
static int report_problems(const char *path, int r, struct config_problems *problems)
{
        for (size_t i = 0; i < problems->count; i++)
                fprintf(stderr, "%s\n", problems->lines[i]);
        if (problems->dropped)
                fprintf(stderr, "%s: %zu more problems not shown\n", path, problems->dropped);
        config_problems_clear(problems);
        return r;
}

/* Loads and checks the config; prints every problem. */
static int load_config(const char *path, struct config **ret)
{
        struct config_problems problems = {0};

        return report_problems(path, config_load(path, true, ret, &problems), &problems);
}

static int command_check_config(const char *path, int argc, char **argv)
{
        struct config_problems problems = {0};
        struct config *c;

        if (wants_help(argc, argv)) {
                fputs(check_usage, stdout);
                return 0;
        }
        if (argc > 1)
                return usage_error(check_usage, "check-config takes no argument: %s", argv[1]);
        if (report_problems(path, config_load_all(path, &c, &problems), &problems) < 0)
                return 1;
        printf("%s: OK (role %s, pool %s, key provider %s)\n", path, config_role_name(c->role),
               c->pool, config_key_provider_name(c->key_provider));
        config_free(c);
        return 0;
}

/* [agent] log_file, for the daemons (run, feed): a file it cannot open is
 * a start that fails, naming it. */
static int open_log_file(const struct config *c)
{
        int r;

        if (!c->log_file)
                return 0;
        r = log_open_file(c->log_file);
        if (r < 0)
                log_error("%s: [agent] log_file %s: %s", c->path, c->log_file, strerror(-r));
        return r;
}

static int command_run(const char *path, int argc, char **argv)
{
        struct config *c;
        bool once = false;
        int code;

        if (wants_help(argc, argv)) {
                fputs(run_usage, stdout);
                return 0;
        }
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--once") != 0)
                        return usage_error(run_usage, "unknown argument to run: %s", argv[i]);
                once = true;
        }
        if (load_config(path, &c) < 0)
                return 1;
        log_setup(c->log_level, c->log_format);
        if (open_log_file(c) < 0) {
                config_free(c);
                return 1;
        }
        code = c->role == ROLE_COMPUTE ? role_compute_run(c, once) : role_volume_run(c, once);
        config_free(c);
        return code;
}

/* Checks only what feed uses: a feeder may run where Ceph and keys are not. */
static int command_feed(const char *path, int argc, char **argv)
{
        struct config_problems problems = {0};
        struct config *c;
        int code;

        if (wants_help(argc, argv)) {
                fputs(feed_usage, stdout);
                return 0;
        }
        if (argc > 1)
                return usage_error(feed_usage, "feed takes no argument: %s", argv[1]);
        if (report_problems(path, config_load_feed(path, &c, &problems), &problems) < 0)
                return 1;
        log_setup(c->log_level, c->log_format);
        if (open_log_file(c) < 0) {
                config_free(c);
                return 1;
        }
        code = feeder_run(c);
        config_free(c);
        return code;
}

static int command_format(const char *path, int argc, char **argv)
{
        struct config *c;
        int code;

        if (wants_help(argc, argv)) {
                fputs(format_usage, stdout);
                return 0;
        }
        if (argc != 2)
                return usage_error(format_usage, "format takes one VOLUME_ID%s", "");
        if (!uuid_is_valid(argv[1]))
                return usage_error(format_usage, "not a volume id (UUID): %s", argv[1]);
        if (load_config(path, &c) < 0)
                return 1;
        log_setup(c->log_level, c->log_format);
        if (c->role != ROLE_VOLUME) {
                fprintf(stderr, "rbd-luks-agent: format needs [agent] role = volume\n");
                config_free(c);
                return 1;
        }
        code = role_volume_format_one(c, argv[1]);
        config_free(c);
        return code;
}

/* Only what the verdict needs: no environment checks, no Ceph, libvirt or
 * broker, so a HEALTHCHECK stays fast whatever is down. */
static int command_health(const char *path, int argc, char **argv)
{
        struct config_problems problems = {0};
        char file[PATH_MAX], verdict[512];
        struct config *c;
        bool feed = false, healthy;

        if (wants_help(argc, argv)) {
                fputs(health_usage, stdout);
                return 0;
        }
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--feed") != 0)
                        return usage_error(health_usage, "unknown argument to health: %s",
                                           argv[i]);
                feed = true;
        }
        if (report_problems(path, config_load(path, false, &c, &problems), &problems) < 0)
                return 1;
        snprintf(file, sizeof(file), "%s/%s", c->state_dir, feed ? HEALTH_FEED_FILE : HEALTH_FILE);
        healthy = health_judge(file, c->health_interval_s, time(NULL), verdict, sizeof(verdict));
        printf("%s\n", verdict);
        config_free(c);
        return healthy ? 0 : 1;
}

static int command_kolla_start(const char *path, int argc, char **argv)
{
        if (wants_help(argc, argv)) {
                fputs(kolla_usage, stdout);
                return 0;
        }
        if (argc > 1)
                return usage_error(kolla_usage, "kolla-start takes no argument: %s", argv[1]);
        return kolla_start(path);
}

static int command_kolla_set_configs(const char *path, int argc, char **argv)
{
        if (wants_help(argc, argv)) {
                fputs(kolla_set_configs_usage, stdout);
                return 0;
        }
        if (argc > 2 || (argc == 2 && strcmp(argv[1], "--check") != 0))
                return usage_error(kolla_set_configs_usage, "unknown argument: %s", argv[1]);
        return kolla_set_configs(path, argc == 2);
}

/* A command family that needs only the loaded config (keys, secrets). */
static int command_with_config(const char *path, int argc, char **argv, const char *usage,
                               int (*fn)(const struct config *c, int argc, char **argv))
{
        struct config *c;
        int code;

        if (wants_help(argc, argv)) {
                fputs(usage, stdout);
                return 0;
        }
        if (load_config(path, &c) < 0)
                return 1;
        log_setup(c->log_level, c->log_format);
        code = fn(c, argc, argv);
        config_free(c);
        return code;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {NULL, 0, NULL, 0},
        };
        const char *path = DEFAULT_CONFIG;
        int opt;

        /* Before anything can hold a key: no core dumps, no ptrace peers. */
        if (secret_harden_process() < 0) {
                fprintf(stderr, "rbd-luks-agent: cannot disable core dumps\n");
                return 1;
        }
        /* '+': stop at the command; its own options follow it. */
        while ((opt = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1) {
                switch (opt) {
                case 'c': path = optarg; break;
                case 'h': fputs(main_usage, stdout); return 0;
                case 'V': printf("rbd-luks-agent %s\n", AGENT_VERSION); return 0;
                default: fputs(main_usage, stderr); return EXIT_USAGE;
                }
        }
        if (optind >= argc)
                return usage_error(main_usage, "no command given%s", "");
        luks_setup_logging();
        argc -= optind;
        argv += optind;
        if (strcmp(argv[0], "check-config") == 0)
                return command_check_config(path, argc, argv);
        if (strcmp(argv[0], "run") == 0)
                return command_run(path, argc, argv);
        if (strcmp(argv[0], "feed") == 0)
                return command_feed(path, argc, argv);
        if (strcmp(argv[0], "format") == 0)
                return command_format(path, argc, argv);
        if (strcmp(argv[0], "health") == 0)
                return command_health(path, argc, argv);
        if (strcmp(argv[0], "kolla-start") == 0)
                return command_kolla_start(path, argc, argv);
        if (strcmp(argv[0], "kolla-set-configs") == 0)
                return command_kolla_set_configs(path, argc, argv);
        if (strcmp(argv[0], "keys") == 0)
                return command_with_config(path, argc, argv, cli_keys_usage, cli_keys);
        if (strcmp(argv[0], "index") == 0)
                return command_with_config(path, argc, argv, cli_index_usage, cli_index);
        if (strcmp(argv[0], "secrets") == 0)
                return command_with_config(path, argc, argv, role_compute_secrets_usage,
                                           role_compute_secrets_command);
        return usage_error(main_usage, "unknown command: %s", argv[0]);
}
