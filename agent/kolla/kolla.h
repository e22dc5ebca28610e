/* kolla: `kolla-start`, the container start contract of Kolla images, so
 * kolla-ansible (and TripleO, which uses the same contract) can run the
 * agent's image like one of its own.
 *
 * The deployment tool bind-mounts a directory holding config.json and the
 * files it names. At start the image copies those files where the agent
 * reads them, with the owner and mode asked for, fixes the ownership of
 * the paths listed under "permissions", and execs "command". The parsing
 * (config.json -> struct kolla_config) is kept apart from the doing
 * (kolla_copy_files, kolla_set_permissions) so each can be tested alone.
 *
 * config.json:
 *   command        string, required: split on blanks (spaces, tabs), no
 *                  shell, exec'd with execvp; like kolla_start, quotes are
 *                  not special
 *   config_files   list of {source, dest, owner, perm, optional, merge,
 *                  preserve_properties}
 *   permissions    list of {path, owner, perm, recurse}
 * Unknown keys are warned about (kolla_config.warnings) and ignored.
 *
 * Errors come back as a negative errno and one line in error[], starting
 * with the config.json path and the entry, e.g.
 *   "/var/lib/kolla/config_files/config.json: config_files[2]: source
 *    /var/lib/kolla/config_files/ceph.conf: No such file or directory".
 * Limits: config.json at most KOLLA_MAX_FILE_BYTES, nested at most
 * KOLLA_MAX_DEPTH, at most KOLLA_MAX_ENTRIES entries per list, paths
 * shorter than PATH_MAX, command at most KOLLA_MAX_ARGS words, directory
 * trees at most KOLLA_MAX_TREE_DEPTH deep. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define KOLLA_DEFAULT_CONFIG_FILE "/var/lib/kolla/config_files/config.json"
#define KOLLA_DEFAULT_MARKER "/var/lib/kolla/.configured"
#define KOLLA_MAX_FILE_BYTES (1024 * 1024)
#define KOLLA_MAX_DEPTH 8
#define KOLLA_MAX_ENTRIES 256
#define KOLLA_MAX_ARGS 256
#define KOLLA_MAX_WARNINGS 32
#define KOLLA_MAX_TREE_DEPTH 32
#define KOLLA_ERROR_MAX 2048
#define KOLLA_PERM_UNSET (-1)

/* One config_files entry. */
struct kolla_file {
        char *source; /* absolute; may hold a glob(3) pattern */
        char *dest;   /* absolute; a trailing '/' means "into this directory" */
        char *owner;  /* "user" or "user:group" (names or numbers); NULL: not set */
        int perm;     /* 0..07777, or KOLLA_PERM_UNSET */
        bool optional;            /* a source matching nothing is not an error */
        bool merge;               /* directories: keep what dest already holds */
        bool preserve_properties; /* the source's mode, owner and times, where
                                   * perm and owner do not say otherwise */
};

/* One permissions entry. */
struct kolla_permission {
        char *path; /* absolute; may hold a glob(3) pattern */
        char *owner;
        int perm;
        bool recurse;
};

struct kolla_config {
        char *path; /* config.json, as named in every message */
        char **argv; /* command split into words, NULL-terminated */
        struct kolla_file *files;
        size_t n_files;
        struct kolla_permission *permissions;
        size_t n_permissions;
        char *warnings[KOLLA_MAX_WARNINGS]; /* "PATH: config_files[1]: unknown key 'x' ..." */
        size_t n_warnings;
        size_t dropped_warnings;
};

/* Parses text (length bytes) read from path. 0 and *ret, or -EINVAL (not
 * JSON, a missing or mistyped key, a bad path, perm or owner, an empty
 * command), -E2BIG (a limit) or -ENOMEM, with the reason in error. */
int kolla_parse(const char *path, const char *text, size_t length, struct kolla_config **ret,
                char *error, size_t size);
/* Reads path and parses it; -ENOENT when there is no such file. */
int kolla_load(const char *path, struct kolla_config **ret, char *error, size_t size);
void kolla_config_free(struct kolla_config *k);

/* Splits command on spaces and tabs into a NULL-terminated vector. -EINVAL
 * for an empty command or one holding another control character, -E2BIG
 * past KOLLA_MAX_ARGS words. */
int kolla_split_command(const char *command, char ***ret, char *error, size_t size);
void kolla_argv_free(char **argv);

/* 0..07777 from "0600", "600" or "4755" (3 or 4 octal digits); -EINVAL. */
int kolla_parse_perm(const char *text, int *ret);

/* The copy strategy from KOLLA_CONFIG_STRATEGY's value: NULL means
 * COPY_ALWAYS (*ret_defaulted set); anything but COPY_ALWAYS or COPY_ONCE
 * is -EINVAL. */
enum kolla_strategy { KOLLA_COPY_ALWAYS, KOLLA_COPY_ONCE };
int kolla_parse_strategy(const char *value, enum kolla_strategy *ret, bool *ret_defaulted);

/* Copies every config_files entry in order, stopping at the first error.
 * Each file is written to a temporary file in its destination directory
 * (mode 0600 while it has content but not yet its owner), fsync'ed, given
 * its owner and then its mode, and renamed into place; missing parent
 * directories are created with mode 0755. A directory source is copied
 * whole: without merge, dest is emptied first (not removed: it may be a
 * mount point); copied directories get perm with an x bit wherever it has
 * r. A file's mode, without perm, is the source's. Inside dest nothing is
 * reached through a path: a link there, even one swapped in while the
 * copy runs, is replaced or removed, never followed. Logs each copy at
 * info level. */
int kolla_copy_files(const struct kolla_config *k, char *error, size_t size);

/* An owner text ("user", "user:group"; names or numbers) as ids; a user
 * alone brings its primary group ((gid_t)-1 for a number no user has).
 * -ENOENT with *ret_missing "user" or "group" when this container has no
 * such name. */
int kolla_owner_ids(const char *owner, uid_t *ret_uid, gid_t *ret_gid, const char **ret_missing);
/* The mode kolla_copy_files gives what it copies from a source of
 * source_mode: perm (directories: with x wherever it has r), else the
 * source's permission bits (with preserve_properties its special bits too). */
mode_t kolla_wanted_mode(int perm, bool preserve, mode_t source_mode, bool directory);

/* kolla_check.c: what `kolla_set_configs --check` answers kolla-ansible's
 * compare_container with. 0 when every config_files entry is in place as
 * kolla_copy_files would leave it (content, mode, owner; without merge, no
 * extra entries in a copied directory); 1 when a copy would change
 * something, or fail (a required source missing, an unknown owner), the
 * first such thing in what ("PATH: config_files[N]: dest ...: mode 0644,
 * wants 0600"). permissions entries are not compared, as in Kolla's own
 * check. */
int kolla_check_files(const struct kolla_config *k, char *what, size_t size);

/* Applies every permissions entry in order (owner, then mode; recursively
 * with recurse, where directories get an x bit wherever perm has r).
 * Symbolic links are never followed, not even one swapped in while the
 * walk runs: each entry is opened from its directory's descriptor and
 * changed through its own; a link met in the walk is given the owner
 * itself, never a mode. A path matching nothing is logged as a warning.
 * A mode is set through /proc/self/fd, so /proc must be mounted. */
int kolla_set_permissions(const struct kolla_config *k, char *error, size_t size);

/* COPY_ONCE: creates the marker (an empty file; missing parent
 * directories with mode 0755) once the files are copied. */
int kolla_mark_configured(const char *marker, char *error, size_t size);

/* Where kolla-start takes its settings from: the environment, with the
 * defaults above, and the agent config to run when there is no
 * config.json. */
struct kolla_settings {
        const char *config_file; /* KOLLA_CONFIG_FILE */
        const char *strategy;    /* KOLLA_CONFIG_STRATEGY, NULL when unset */
        const char *marker;      /* KOLLA_CONFIGURED_MARKER */
        const char *agent_config;
};

void kolla_settings_from_environment(struct kolla_settings *s, const char *agent_config);

/* Everything kolla-start does except the exec: strategy, config.json,
 * copies, the COPY_ONCE marker, permissions. Logs what it does and, once,
 * what failed. 0 and the argv to exec in *ret_argv (argv[0] is what
 * execvp looks up), or a negative errno. Without config.json the argv is
 * this binary's "-c agent_config run". */
int kolla_prepare(const struct kolla_settings *s, char ***ret_argv);

/* The user kolla-start runs the command as when it was started as root
 * (environment RBD_LUKS_AGENT_USER overrides; one that is uid 0 is refused). */
#define KOLLA_DEFAULT_SERVICE_USER "rbd-luks-agent"

/* kolla_prepare() with the environment's settings; started as root, it
 * then becomes the service user (initgroups, setgid, setuid; refuses to go
 * on if that fails or could be undone); then execvp. Returns only on
 * failure, with exit code 1. */
int kolla_start(const char *agent_config);
/* kolla-set-configs: with check, kolla_check_files on config.json (exit 0
 * in place, 1 changed, printing the difference; 1 too when config.json
 * cannot be read: a start would then say why); without, kolla_prepare
 * and no exec. Returns the exit code. */
int kolla_set_configs(const char *agent_config, bool check);
