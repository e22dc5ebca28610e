/* kolla_perms: owners and modes — owner texts resolved to ids, the owner
 * and mode a copy gets (kolla_copy.c, kolla_tree.c), and the permissions
 * entries of config.json applied (kolla_set_permissions): owner, then
 * mode, on the descriptor of what was opened, recursively with recurse,
 * never following a link (kolla_internal.h). */
#include "kolla.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "kolla_internal.h"

/* Directories need x to be entered: add it wherever perm grants r. */
static mode_t directory_mode(int perm)
{
        return (mode_t)perm | (((mode_t)perm & 0444) >> 2);
}

/* ---- owners ---------------------------------------------------------------- */

static bool parse_id(const char *s, unsigned long *ret)
{
        char *end;

        if (*s < '0' || *s > '9')
                return false;
        errno = 0;
        *ret = strtoul(s, &end, 10);
        return !*end && errno == 0 && *ret < (unsigned long)INT32_MAX;
}

int kolla_owner_ids(const char *owner, uid_t *ret_uid, gid_t *ret_gid, const char **ret_missing)
{
        char user[64];
        const char *group = strchr(owner, ':');
        struct passwd *pw;
        struct group *gr;
        unsigned long id;
        uid_t uid;
        gid_t gid;

        snprintf(user, sizeof(user), "%.*s", group ? (int)(group - owner) : (int)strlen(owner),
                 owner);
        if (parse_id(user, &id)) {
                uid = (uid_t)id;
                pw = getpwuid(uid);
        } else if ((pw = getpwnam(user))) {
                uid = pw->pw_uid;
        } else {
                *ret_missing = "user";
                return -ENOENT;
        }
        gid = pw ? pw->pw_gid : (gid_t)-1;
        if (group && parse_id(group + 1, &id)) {
                gid = (gid_t)id;
        } else if (group && (gr = getgrnam(group + 1))) {
                gid = gr->gr_gid;
        } else if (group) {
                *ret_missing = "group";
                return -ENOENT;
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* "user" or "user:group" to ids; a user alone brings its primary group. */
int kolla_resolve_owner(struct kolla_copier *c, const char *owner)
{
        const char *missing = NULL, *group = strchr(owner, ':');

        if (kolla_owner_ids(owner, &c->uid, &c->gid, &missing) < 0) {
                if (strcmp(missing, "group") == 0)
                        return kolla_copier_fail(c, -ENOENT,
                                                 "owner '%s': no group %s in this container", owner,
                                                 group + 1);
                return kolla_copier_fail(c, -ENOENT, "owner '%s': no user %.*s in this container",
                                         owner, group ? (int)(group - owner) : (int)strlen(owner),
                                         owner);
        }
        c->set_owner = true;
        if (c->gid == (gid_t)-1)
                snprintf(c->owner_text, sizeof(c->owner_text), "%s (uid %u)", owner,
                         (unsigned)c->uid);
        else
                snprintf(c->owner_text, sizeof(c->owner_text), "%s (uid %u, gid %u)", owner,
                         (unsigned)c->uid, (unsigned)c->gid);
        return 0;
}

/* On what fd holds open: a file, a directory, or (an O_PATH descriptor
 * opened with O_NOFOLLOW) a link itself, never what it points to. path
 * only names it in messages. */
static int change_owner(struct kolla_copier *c, int fd, const char *path, const struct stat *st,
                        uid_t uid, gid_t gid, const char *owner_text)
{
        bool uid_differs = uid != (uid_t)-1 && st->st_uid != uid;
        bool gid_differs = gid != (gid_t)-1 && st->st_gid != gid;

        if (!uid_differs && !gid_differs)
                return 0;
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) == 0)
                return 0;
        if (errno == EPERM)
                return kolla_copier_fail(c, -EPERM,
                            "cannot change the owner of %s to %s: the container user (uid %u) "
                            "may not change ownership; run the copy as root, or set owner to "
                            "the container user",
                            path, owner_text, (unsigned)geteuid());
        return kolla_copier_fail(c, -errno, "cannot change the owner of %s: %s", path,
                                 strerror(errno));
}

/* The owner an entry wants for something copied from st. */
int kolla_apply_owner(struct kolla_copier *c, int fd, const char *path, const struct stat *target,
                      const struct stat *source)
{
        char text[64];

        if (c->set_owner)
                return change_owner(c, fd, path, target, c->uid, c->gid, c->owner_text);
        if (!c->preserve)
                return 0;
        snprintf(text, sizeof(text), "uid %u, gid %u (the source's)", (unsigned)source->st_uid,
                 (unsigned)source->st_gid);
        return change_owner(c, fd, path, target, source->st_uid, source->st_gid, text);
}

mode_t kolla_wanted_mode(int perm, bool preserve, mode_t source_mode, bool directory)
{
        if (perm != KOLLA_PERM_UNSET)
                return directory ? directory_mode(perm) : (mode_t)perm;
        return source_mode & (preserve ? 07777 : 0777);
}

mode_t kolla_copy_mode(const struct kolla_copier *c, const struct stat *source, bool directory)
{
        return kolla_wanted_mode(c->perm, c->preserve, source->st_mode, directory);
}

int kolla_set_mode(struct kolla_copier *c, int fd, const char *path, mode_t mode)
{
        if (fchmod(fd, mode) < 0)
                return kolla_copier_fail(c, -errno, "cannot set mode %04o on %s: %s",
                                         (unsigned)mode, path, strerror(errno));
        return 0;
}

/* ---- permissions ------------------------------------------------------------ */

/* The mode of what the O_PATH descriptor fd holds open. fchmod refuses
 * such a descriptor, so through its /proc/self/fd link, which names the
 * very file opened, not a path that could have been swapped since. Never
 * called on a link. 0 or -errno. */
static int chmod_descriptor(int fd, mode_t mode)
{
        char proc[64];

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, mode) == 0)
                return 0;
        return errno == ENOENT ? -EOPNOTSUPP : -errno;
}

static int change_mode(struct kolla_copier *c, int fd, const char *path, const struct stat *st)
{
        mode_t mode = S_ISDIR(st->st_mode) ? directory_mode(c->perm) : (mode_t)c->perm;
        int r;

        if (c->perm == KOLLA_PERM_UNSET || S_ISLNK(st->st_mode) || (st->st_mode & 07777) == mode)
                return 0;
        r = chmod_descriptor(fd, mode);
        if (r == 0)
                return 0;
        if (r == -EPERM)
                return kolla_copier_fail(
                        c, r,
                        "cannot set mode %04o on %s: the container user (uid %u) "
                        "does not own it; run as root, or give it to the container user "
                        "first",
                        (unsigned)mode, path, (unsigned)geteuid());
        if (r == -EOPNOTSUPP)
                return kolla_copier_fail(c, r,
                                         "cannot set mode %04o on %s: /proc is not mounted, and "
                                         "without it a mode is not set without following links",
                                         (unsigned)mode, path);
        return kolla_copier_fail(c, r, "cannot set mode %04o on %s: %s", (unsigned)mode, path,
                                 strerror(-r));
}

/* Owner, then mode, on what fd holds open (st: what fstat saw of it). */
static int set_attributes(struct kolla_copier *c, int fd, const char *path, const struct stat *st)
{
        int r = 0;

        if (c->set_owner)
                r = change_owner(c, fd, path, st, c->uid, c->gid, c->owner_text);
        if (r == 0)
                r = change_mode(c, fd, path, st);
        c->files++;
        return r;
}

static kolla_each_entry_fn permission_entry;

/* What fd holds open, then, with recurse, what a directory holds: the
 * directory first, as Kolla's walk does. */
static int permission_opened(struct kolla_copier *c, int fd, const char *path, bool recurse,
                             unsigned depth)
{
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return kolla_copier_fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
        r = set_attributes(c, fd, path, &st);
        if (r == 0 && recurse && S_ISDIR(st.st_mode))
                r = kolla_for_each_entry(c, fd, path, depth, permission_entry);
        return r;
}

/* An entry met in a recursive walk, opened where it is as it is: a link
 * is the link itself (its owner set, not its mode), never its target. */
static int permission_entry(struct kolla_copier *c, int dir, const char *name, const char *path,
                            unsigned depth)
{
        int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), r;

        if (fd < 0)
                return kolla_copier_fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
        r = permission_opened(c, fd, path, true, depth + 1);
        close(fd);
        return r;
}

static int permission_match(struct kolla_copier *c, const struct kolla_permission *p,
                            const char *path)
{
        struct stat st;
        int fd, r;

        fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return kolla_copier_fail(c, -errno, "path %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0) {
                r = kolla_copier_fail(c, -errno, "path %s: %s", path, strerror(errno));
        } else if (S_ISLNK(st.st_mode)) {
                log_warn("%s: %s: path %s is a symbolic link; not followed, nothing changed",
                         c->path, c->label, path);
                r = 0;
        } else {
                c->files = 0;
                r = permission_opened(c, fd, path, p->recurse, 0);
                if (r == 0)
                        log_info("%s: %s: %s: %u entries given%s%s%s", c->path, c->label,
                                 path, c->files, c->set_owner ? " owner " : "",
                                 c->set_owner ? c->owner_text : "",
                                 p->perm != KOLLA_PERM_UNSET ? " and their mode" : "");
        }
        close(fd);
        return r;
}

static int apply_permission(struct kolla_copier *c, const struct kolla_permission *p)
{
        glob_t g;
        int r;

        if (!kolla_has_glob(p->path)) {
                struct stat st;

                if (lstat(p->path, &st) == 0 || errno != ENOENT)
                        return permission_match(c, p, p->path);
                log_warn("%s: %s: path %s does not exist; nothing to change", c->path, c->label,
                         p->path);
                return 0;
        }
        r = glob(p->path, 0, NULL, &g);
        if (r == GLOB_NOMATCH) {
                log_warn("%s: %s: path %s matches nothing; nothing to change", c->path,
                         c->label, p->path);
                return 0;
        }
        if (r != 0) {
                globfree(&g);
                return kolla_copier_fail(
                        c, r == GLOB_NOSPACE ? -ENOMEM : -EIO, "path %s: %s", p->path,
                        r == GLOB_NOSPACE ? "out of memory" : "cannot read its directory");
        }
        for (size_t i = 0; r == 0 && i < g.gl_pathc; i++)
                r = permission_match(c, p, g.gl_pathv[i]);
        globfree(&g);
        return r;
}

int kolla_set_permissions(const struct kolla_config *k, char *error, size_t size)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < k->n_permissions; i++) {
                const struct kolla_permission *p = &k->permissions[i];
                struct kolla_copier c;

                kolla_copier_init(&c, k, "permissions", i, error, size);
                c.perm = p->perm;
                if (p->owner)
                        r = kolla_resolve_owner(&c, p->owner);
                if (r == 0)
                        r = apply_permission(&c, p);
        }
        return r;
}
