/* kolla_internal: what the files of kolla/ share. Not an interface for
 * anyone else: kolla.h is.
 *
 * kolla_fail writes the error line of config.json's parse and of the
 * command's split (kolla_json.c, kolla.c). The copier carries out one
 * entry of config.json on disk: kolla_copy.c copies files (and the
 * config_files entries, the COPY_ONCE marker), kolla_tree.c walks, empties
 * and copies directories, kolla_perms.c sets owners and modes (and the
 * permissions entries).
 *
 * Symbolic links: a source (and what a source directory holds) is
 * followed, as the deployment tool may hand over links. The paths
 * config.json names (dest, permissions' path) are taken as they are up to
 * their last name, which is never followed. Below that, in a tree being
 * copied into, emptied or given permissions, whoever can write there may
 * swap an entry for a link at any moment, while we run as root: so
 * nothing there is ever named by a path. Each directory is held open and
 * each entry is reached from it by name (openat with O_NOFOLLOW, mkdirat,
 * unlinkat, renameat); owners and modes are set on the descriptor of what
 * was opened, never through a name, and a link met there is never
 * followed (it is removed, or its own owner set; never its mode). Paths
 * are built alongside only for messages.
 *
 * Every function taking a copier returns 0 or a negative errno, with its
 * error line written through kolla_copier_fail; none logs, except where
 * its comment says so. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "kolla.h"

struct secret;

/* r, with the error line (fmt) in error[size]. */
__attribute__((format(printf, 4, 5))) int kolla_fail(char *error, size_t size, int r,
                                                     const char *fmt, ...);

/* One entry of config.json being carried out. */
struct kolla_copier {
        const char *path;  /* config.json, or "COPY_ONCE" */
        char label[48];    /* "config_files[2]"; "" for none */
        char *error;
        size_t size;
        bool set_owner;    /* owner given */
        uid_t uid;         /* (uid_t)-1: keep */
        gid_t gid;         /* (gid_t)-1: keep */
        char owner_text[128];
        int perm;
        bool preserve;
        bool merge;
        struct secret *buffer; /* the copy_file_range fallback's, made on first use */
        unsigned files, directories, skipped;
};

/* kolla_copy.c */

/* r, with "PATH: LABEL: what" (or "PATH: what") in c's error. */
__attribute__((format(printf, 3, 4))) int kolla_copier_fail(struct kolla_copier *c, int r,
                                                            const char *fmt, ...);
/* A copier for entry i of list ("config_files", "permissions") of k. */
void kolla_copier_init(struct kolla_copier *c, const struct kolla_config *k, const char *list,
                       size_t i, char *error, size_t size);
/* Whether s holds a glob(3) pattern. */
bool kolla_has_glob(const char *s);
/* dir/name into buf (PATH_MAX); -ENAMETOOLONG. */
int kolla_join(struct kolla_copier *c, char *buf, const char *dir, const char *name);
/* The regular file open as in (st: what fstat saw of it, source its
 * path) copied to name in the directory open as dir through a temporary
 * file renamed into place; dest names it in messages. */
int kolla_copy_file(struct kolla_copier *c, int in, const struct stat *st, const char *source,
                    int dir, const char *name, const char *dest);

/* kolla_tree.c */

/* What kolla_for_each_entry calls for each entry: name in the directory
 * open as dir, path for messages, depth that of dir. */
typedef int kolla_each_entry_fn(struct kolla_copier *c, int dir, const char *name,
                                const char *path, unsigned depth);
/* each for every entry of the directory open as dir (path, at depth);
 * -E2BIG past KOLLA_MAX_TREE_DEPTH; stops at the first error. */
int kolla_for_each_entry(struct kolla_copier *c, int dir, const char *path, unsigned depth,
                         kolla_each_entry_fn *each);
/* source opened to be copied (a FIFO does not block); the descriptor and
 * *st, or -errno. */
int kolla_open_source(struct kolla_copier *c, const char *source, struct stat *st);
/* The source open as fd (st) copied to name in the directory open as
 * dir: a directory whole (kolla_tree.c), a regular file (kolla_copy_file);
 * anything else is refused at depth 0 and skipped below, with a warning
 * logged. */
int kolla_copy_opened(struct kolla_copier *c, int fd, const struct stat *st, const char *source,
                      int dir, const char *name, const char *dest, unsigned depth);

/* kolla_perms.c */

/* owner ("user" or "user:group") resolved into c; -ENOENT for a name this
 * container does not have. */
int kolla_resolve_owner(struct kolla_copier *c, const char *owner);
/* The owner c wants (its own, or with preserve the source's) on what fd
 * holds open (target: what fstat saw of it); only when it differs. */
int kolla_apply_owner(struct kolla_copier *c, int fd, const char *path, const struct stat *target,
                      const struct stat *source);
/* kolla_wanted_mode() for c and source. */
mode_t kolla_copy_mode(const struct kolla_copier *c, const struct stat *source, bool directory);
/* fchmod of fd to mode. */
int kolla_set_mode(struct kolla_copier *c, int fd, const char *path, mode_t mode);
