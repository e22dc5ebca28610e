/* kolla: kolla-start and kolla-set-configs (kolla.h): the settings from
 * the environment, KOLLA_CONFIG_STRATEGY and the COPY_ONCE marker, the
 * command split into words, the drop from root to the service user and
 * the exec. config.json is parsed in kolla_json.c; the file copies and
 * permissions are in kolla_copy.c, kolla_tree.c and kolla_perms.c.
 *
 * This is a command layer: kolla_prepare() and kolla_start() log; the
 * parsing functions only hand back an error line. */
#include "kolla.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "kolla_internal.h"

#define FALLBACK_COMMAND "run"

/* ---- the strategy and the command ---------------------------------------- */

int kolla_parse_strategy(const char *value, enum kolla_strategy *ret, bool *ret_defaulted)
{
        *ret_defaulted = false;
        if (!value || !value[0]) {
                *ret_defaulted = true;
                *ret = KOLLA_COPY_ALWAYS;
        } else if (strcmp(value, "COPY_ALWAYS") == 0) {
                *ret = KOLLA_COPY_ALWAYS;
        } else if (strcmp(value, "COPY_ONCE") == 0) {
                *ret = KOLLA_COPY_ONCE;
        } else {
                return -EINVAL;
        }
        return 0;
}

void kolla_argv_free(char **argv)
{
        if (!argv)
                return;
        for (char **a = argv; *a; a++)
                free(*a);
        free(argv);
}

int kolla_split_command(const char *command, char ***ret, char *error, size_t size)
{
        char **argv;
        size_t n = 0;
        const char *p = command;

        for (const char *s = command; *s; s++)
                if ((unsigned char)*s < 0x20 && *s != '\t')
                        return kolla_fail(error, size, -EINVAL,
                                    "command holds a control character (byte %zu); it is "
                                    "one line, split on blanks",
                                    (size_t)(s - command));
        argv = calloc(KOLLA_MAX_ARGS + 1, sizeof(*argv));
        if (!argv)
                return kolla_fail(error, size, -ENOMEM, "out of memory");
        for (;;) {
                size_t length;

                p += strspn(p, " \t");
                if (!*p)
                        break;
                length = strcspn(p, " \t");
                if (n == KOLLA_MAX_ARGS) {
                        kolla_argv_free(argv);
                        return kolla_fail(error, size, -E2BIG, "command has more than %d words",
                                    KOLLA_MAX_ARGS);
                }
                argv[n] = strndup(p, length);
                if (!argv[n]) {
                        kolla_argv_free(argv);
                        return kolla_fail(error, size, -ENOMEM, "out of memory");
                }
                n++;
                p += length;
        }
        if (n == 0) {
                kolla_argv_free(argv);
                return kolla_fail(error, size, -EINVAL, "command is empty");
        }
        *ret = argv;
        return 0;
}

/* ---- kolla-start ---------------------------------------------------------- */

static const char *env_or(const char *name, const char *fallback)
{
        const char *v = getenv(name);

        return v && v[0] ? v : fallback;
}

void kolla_settings_from_environment(struct kolla_settings *s, const char *agent_config)
{
        *s = (struct kolla_settings){
                .config_file = env_or("KOLLA_CONFIG_FILE", KOLLA_DEFAULT_CONFIG_FILE),
                .strategy = getenv("KOLLA_CONFIG_STRATEGY"),
                .marker = env_or("KOLLA_CONFIGURED_MARKER", KOLLA_DEFAULT_MARKER),
                .agent_config = agent_config,
        };
}

static char **copy_argv(char *const *argv)
{
        size_t n = 0;
        char **copy;

        while (argv[n])
                n++;
        copy = calloc(n + 1, sizeof(*copy));
        for (size_t i = 0; copy && i < n; i++) {
                copy[i] = strdup(argv[i]);
                if (!copy[i]) {
                        kolla_argv_free(copy);
                        return NULL;
                }
        }
        return copy;
}

/* This very binary, wherever it is installed; /proc/self/exe itself when
 * its path is gone (replaced by an upgrade while running). */
static void self_path(char *buf, size_t size)
{
        ssize_t n = readlink("/proc/self/exe", buf, size - 1);

        if (n <= 0 || (size_t)n >= size - 1) {
                snprintf(buf, size, "/proc/self/exe");
                return;
        }
        buf[n] = '\0';
        if (strstr(buf, " (deleted)"))
                snprintf(buf, size, "/proc/self/exe");
}

static int fallback_argv(const struct kolla_settings *s, char ***ret)
{
        char self[PATH_MAX];
        char *argv[] = {self, "-c", (char *)s->agent_config, FALLBACK_COMMAND, NULL};

        self_path(self, sizeof(self));
        log_info("%s does not exist: not started by Kolla, so the agent runs with %s",
                 s->config_file, s->agent_config);
        *ret = copy_argv(argv);
        if (!*ret) {
                log_error("out of memory");
                return -ENOMEM;
        }
        return 0;
}

/* COPY_ONCE: true when an earlier start copied the files. */
static int already_configured(const char *marker, bool *ret)
{
        struct stat st;

        if (lstat(marker, &st) == 0) {
                *ret = true;
                return 0;
        }
        if (errno != ENOENT) {
                log_error("COPY_ONCE: cannot check the marker %s: %s", marker, strerror(errno));
                return -errno;
        }
        *ret = false;
        return 0;
}

static void log_warnings(const struct kolla_config *k)
{
        for (size_t i = 0; i < k->n_warnings; i++)
                log_warn("%s", k->warnings[i]);
        if (k->dropped_warnings)
                log_warn("%s: %zu more warnings not shown", k->path, k->dropped_warnings);
}

static int configure(const struct kolla_settings *s, const struct kolla_config *k,
                     enum kolla_strategy strategy)
{
        char error[KOLLA_ERROR_MAX];
        bool done = false;
        int r = 0;

        if (strategy == KOLLA_COPY_ONCE)
                r = already_configured(s->marker, &done);
        if (r < 0)
                return r;
        if (done)
                log_info("COPY_ONCE: %s exists, the files were copied at an earlier start; not "
                         "copying them again", s->marker);
        else
                r = kolla_copy_files(k, error, sizeof(error));
        if (r == 0 && !done && strategy == KOLLA_COPY_ONCE)
                r = kolla_mark_configured(s->marker, error, sizeof(error));
        if (r == 0)
                r = kolla_set_permissions(k, error, sizeof(error));
        if (r < 0)
                log_error("%s", error);
        return r;
}

int kolla_prepare(const struct kolla_settings *s, char ***ret_argv)
{
        char error[KOLLA_ERROR_MAX];
        struct kolla_config *k = NULL;
        enum kolla_strategy strategy;
        bool defaulted;
        int r;

        if (kolla_parse_strategy(s->strategy, &strategy, &defaulted) < 0) {
                log_error("KOLLA_CONFIG_STRATEGY=%s: not a strategy (COPY_ALWAYS or COPY_ONCE)",
                          s->strategy);
                return -EINVAL;
        }
        if (defaulted)
                log_info("KOLLA_CONFIG_STRATEGY is not set; using COPY_ALWAYS");
        r = kolla_load(s->config_file, &k, error, sizeof(error));
        if (r == -ENOENT)
                return fallback_argv(s, ret_argv);
        if (r < 0) {
                log_error("%s", error);
                return r;
        }
        log_warnings(k);
        r = configure(s, k, strategy);
        if (r == 0) {
                *ret_argv = copy_argv(k->argv);
                if (!*ret_argv) {
                        log_error("out of memory");
                        r = -ENOMEM;
                }
        }
        kolla_config_free(k);
        return r;
}

/* The command as it will run (config.json's own text; nothing secret). */
static void log_command(char *const *argv)
{
        char line[1024] = "";
        size_t used = 0;

        for (size_t i = 0; argv[i] && used + 1 < sizeof(line); i++)
                used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%s", i ? " " : "",
                                         argv[i]);
        log_info("running %s", line);
}

/* Started as root (TripleO's containers, whose config.json is root's 0600):
 * the copies are done as root, the command runs as the service user. No
 * setting keeps root: a user that resolves to uid 0 is refused before
 * anything is copied, and so is a drop that could be undone. */
struct service_user {
        bool drop;
        char name[64];
        uid_t uid;
        gid_t gid;
};

static int resolve_service_user(struct service_user *u)
{
        const char *name = env_or("RBD_LUKS_AGENT_USER", KOLLA_DEFAULT_SERVICE_USER);
        struct passwd *pw;

        *u = (struct service_user){.drop = geteuid() == 0};
        if (!u->drop)
                return 0;
        errno = 0;
        pw = getpwnam(name);
        if (!pw) {
                log_error("started as root: cannot drop to user %s: %s", name,
                          errno ? strerror(errno) : "no such user");
                return -1;
        }
        if (pw->pw_uid == 0) {
                log_error("started as root: user %s is uid 0; the agent does not run as root",
                          name);
                return -1;
        }
        snprintf(u->name, sizeof(u->name), "%s", name);
        u->uid = pw->pw_uid;
        u->gid = pw->pw_gid;
        return 0;
}

static int drop_to_service_user(const struct service_user *u)
{
        if (!u->drop)
                return 0;
        if (initgroups(u->name, u->gid) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0) {
                log_error("started as root: cannot drop to user %s (uid %u): %s", u->name,
                          (unsigned)u->uid, strerror(errno));
                return -1;
        }
        if (setuid(0) == 0 || geteuid() == 0) {
                log_error("started as root: uid 0 could be taken back after the drop to %s",
                          u->name);
                return -1;
        }
        log_info("started as root: copies done, running as %s (uid %u, gid %u)", u->name,
                 (unsigned)u->uid, (unsigned)u->gid);
        return 0;
}

int kolla_start(const char *agent_config)
{
        struct service_user user;
        struct kolla_settings s;
        char **argv = NULL;

        kolla_settings_from_environment(&s, agent_config);
        if (resolve_service_user(&user) < 0 || kolla_prepare(&s, &argv) < 0)
                return 1;
        if (drop_to_service_user(&user) < 0) {
                kolla_argv_free(argv);
                return 1;
        }
        log_command(argv);
        fflush(NULL);
        execvp(argv[0], argv);
        log_error("%s: cannot run %s: %s", s.config_file, argv[0], strerror(errno));
        kolla_argv_free(argv);
        return 1;
}

int kolla_set_configs(const char *agent_config, bool check)
{
        char what[KOLLA_ERROR_MAX];
        struct kolla_settings s;
        struct kolla_config *k = NULL;
        char **argv = NULL;
        int r;

        kolla_settings_from_environment(&s, agent_config);
        if (!check) {
                r = kolla_prepare(&s, &argv);
                kolla_argv_free(argv);
                return r < 0 ? 1 : 0;
        }
        r = kolla_load(s.config_file, &k, what, sizeof(what));
        if (r == -ENOENT) {
                log_info("%s: no such file; nothing is copied, nothing can differ",
                         s.config_file);
                return 0;
        }
        if (r < 0) {
                log_error("%s", what);
                return 1;
        }
        r = kolla_check_files(k, what, sizeof(what));
        kolla_config_free(k);
        if (r < 0) {
                log_error("%s", what[0] ? what : strerror(-r));
                return 1;
        }
        if (r > 0) {
                printf("%s\n", what);
                return 1;
        }
        printf("%s: every config_files entry is in place\n", s.config_file);
        return 0;
}
