/* config_environment: what the INI file points at on disk, checked when a
 * command asks for it (config_load() with check_environment, feed,
 * check-config): directories usable, the key command executable, KEK files
 * private and the right size. The section modules check their own files
 * (config_secrets_check_files(), config_amqp_check_password_file()) with
 * config_check_path() and config_check_private_file(). Problems go to the
 * load's list with the line of the key to fix; nothing here logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "base/secretfile.h"

/* keywrap.h's KEYWRAP_KEK_BYTES: the KEK files the metadata provider
 * accepts, checked here so check-config finds them. */
#define KEK_BYTES 32

static const struct env_check env_checks[] = {
        {KEY_STATE_DIR, "state directory", true, W_OK | X_OK, "writable", true},
        {KEY_HOOK_FILE, "hook file directory", true, X_OK, "searchable", true},
        {KEY_CEPH_CONF, "ceph conf", false, R_OK, "readable", false},
        {KEY_CEPH_KEYRING, "keyring", false, R_OK, "readable", false},
        {KEY_KEY_DIRECTORY, "key directory", true, R_OK | X_OK, "readable", false},
        {KEY_KEY_COMMAND, "key command", false, X_OK, "executable", false},
        {KEY_AMQP_TLS_CA_FILE, "TLS CA file", false, R_OK, "readable", true},
};

void config_check_path(struct load *l, const struct env_check *e, unsigned line,
                       const char *path)
{
        struct stat st;

        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        config_problem(l, line, "%s %s does not exist", e->what, path);
                else
                        config_problem(l, line, "%s %s: %s", e->what, path, strerror(errno));
        } else if (e->directory && !S_ISDIR(st.st_mode)) {
                config_problem(l, line, "%s %s is not a directory", e->what, path);
        } else if (!e->directory && !S_ISREG(st.st_mode)) {
                config_problem(l, line, "%s %s is not a regular file", e->what, path);
        } else if (access(path, e->mode) < 0) {
                config_problem(l, line, "%s %s is not %s: %s", e->what, path, e->can,
                               strerror(errno));
        }
}

/* What secretfile_read() insists on before it reads, reported with the
 * line to fix. False when there is no regular file to look at further. */
bool config_check_private_file(struct load *l, unsigned line, const char *what,
                               const char *path, struct stat *st)
{
        if (lstat(path, st) < 0) {
                if (errno == ENOENT)
                        config_problem(l, line, "%s %s does not exist", what, path);
                else
                        config_problem(l, line, "%s %s: %s", what, path, strerror(errno));
                return false;
        }
        if (S_ISLNK(st->st_mode)) {
                config_problem(l, line, "%s %s is a symbolic link; name the file itself", what,
                               path);
                return false;
        }
        if (!S_ISREG(st->st_mode)) {
                config_problem(l, line, "%s %s is not a regular file", what, path);
                return false;
        }
        if (st->st_mode & (S_IRWXG | S_IRWXO))
                config_problem(l, line,
                               "%s %s is accessible by group or others (mode %04o); chmod 600 it",
                               what, path, (unsigned)(st->st_mode & 07777));
        return true;
}

/* What secretfile_read_password() insists on, for the path key `key`
 * holds (RabbitMQ's or libvirt SASL's password file). */
void config_check_password_file(struct load *l, enum key_id key)
{
        const char *path = *(char **)config_field_of(l, &config_keys[key]);
        unsigned line = l->key_lines[key];
        struct stat st;

        if (!path || l->key_bad[key] ||
            !config_check_private_file(l, line, "password file", path, &st))
                return;
        if (st.st_size == 0 || st.st_size > SECRETFILE_PASSWORD_MAX)
                config_problem(l, line, "password file %s is %lld bytes (allowed: 1..%d)", path,
                               (long long)st.st_size, SECRETFILE_PASSWORD_MAX);
        else if (access(path, R_OK) < 0)
                config_problem(l, line, "password file %s is not readable: %s", path,
                               strerror(errno));
}

/* What keywrap_load_kek() insists on. */
static void check_kek_file(struct load *l, unsigned line, const char *path)
{
        struct stat st;

        if (!config_check_private_file(l, line, "KEK file", path, &st))
                return;
        if (st.st_size != KEK_BYTES)
                config_problem(
                        l, line,
                        "KEK file %s is %lld bytes; a KEK is exactly %d random bytes (head -c "
                        "%d /dev/urandom)",
                        path, (long long)st.st_size, KEK_BYTES, KEK_BYTES);
        else if (access(path, R_OK) < 0)
                config_problem(l, line, "KEK file %s is not readable: %s", path, strerror(errno));
}

static void check_kek_files(struct load *l)
{
        const struct config *c = l->config;

        if (c->kek_file && !l->key_bad[KEY_KEK_FILE])
                check_kek_file(l, l->key_lines[KEY_KEK_FILE], c->kek_file);
        if (l->key_bad[KEY_OLD_KEKS])
                return;
        for (size_t i = 0; i < c->n_old_keks; i++)
                check_kek_file(l, l->key_lines[KEY_OLD_KEKS], c->old_kek_files[i]);
}

void config_check_environment(struct load *l, enum load_mode mode)
{
        bool roles = mode != LOAD_FEED, feed = mode != LOAD_ENVIRONMENT;

        if (roles) {
                check_kek_files(l);
                config_secrets_check_files(l);
                if (l->config->role == ROLE_COMPUTE)
                        config_check_password_file(l, KEY_SASL_PASSWORD_FILE);
        }
        if (feed)
                config_amqp_check_password_file(l);
        for (size_t i = 0; i < sizeof(env_checks) / sizeof(env_checks[0]); i++) {
                const struct env_check *e = &env_checks[i];
                char *path = *(char **)config_field_of(l, &config_keys[e->key]);
                bool amqp = config_keys[e->key].section == SECTION_AMQP;
                char *slash;

                if (!path || l->key_bad[e->key] || (!roles && !e->feed) || (!feed && amqp))
                        continue;
                if (e->key != KEY_HOOK_FILE) {
                        config_check_path(l, e, l->key_lines[e->key], path);
                        continue;
                }
                /* The hook file may not exist yet; its directory must. */
                path = strdup(path);
                if (!path) {
                        l->error = -ENOMEM;
                        return;
                }
                slash = strrchr(path, '/');
                slash[slash == path] = '\0'; /* "/x" keeps "/" */
                config_check_path(l, e, l->key_lines[e->key], path);
                free(path);
        }
}
