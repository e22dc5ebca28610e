/* kolla_tree: directories for kolla_copy.c — a tree walked entry by entry
 * through directory descriptors, a dest emptied (without merge: the
 * directory itself stays, it may be a mount point) or kept (merge) or
 * made, a source directory copied whole into it, and what each source is
 * dispatched to (a directory here, a regular file to kolla_copy_file).
 * Nothing below dest is reached through a path (kolla_internal.h). */
#include "kolla.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "kolla_internal.h"

/* ---- directories ----------------------------------------------------------- */

/* each() for every entry of the directory open as dir (path, at depth),
 * with the entry's path for messages; stops at the first error. */
int kolla_for_each_entry(struct kolla_copier *c, int dir, const char *path, unsigned depth,
                         kolla_each_entry_fn *each)
{
        char child[PATH_MAX];
        struct dirent *e;
        DIR *d = NULL;
        int fd, r = 0;

        if (depth > KOLLA_MAX_TREE_DEPTH)
                return kolla_copier_fail(c, -E2BIG, "%s: directories nested deeper than %d", path,
                            KOLLA_MAX_TREE_DEPTH);
        fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || !(d = fdopendir(fd))) {
                r = kolla_copier_fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        for (errno = 0; r == 0 && (e = readdir(d)); errno = 0) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                r = kolla_join(c, child, path, e->d_name);
                if (r == 0)
                        r = each(c, dirfd(d), e->d_name, child, depth);
        }
        if (r == 0 && errno)
                r = kolla_copier_fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
        closedir(d);
        return r;
}

/* name in dir, whatever it is: a link or file is unlinked itself, a
 * directory emptied through a descriptor of its own, then removed. */
static int remove_entry(struct kolla_copier *c, int dir, const char *name, const char *path,
                        unsigned depth)
{
        int fd, r;

        if (unlinkat(dir, name, 0) == 0)
                return 0;
        if (errno != EISDIR)
                return kolla_copier_fail(c, -errno, "cannot remove %s from dest: %s", path,
                                         strerror(errno));
        fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return kolla_copier_fail(c, -errno, "cannot remove %s from dest: %s", path,
                                         strerror(errno));
        r = kolla_for_each_entry(c, fd, path, depth + 1, remove_entry);
        close(fd);
        if (r == 0 && unlinkat(dir, name, AT_REMOVEDIR) < 0)
                r = kolla_copier_fail(c, -errno, "cannot remove %s from dest: %s", path,
                                      strerror(errno));
        return r;
}

/* Opens the directory name in parent; without merge, dest ends up holding
 * what the source holds: its old contents go, the directory itself stays
 * (it may be a mount point). */
static int open_dest(struct kolla_copier *c, int parent, const char *name, const char *dest,
                     bool empty, int *ret_fd)
{
        int fd, r = 0;

        if (empty && strspn(dest, "/") == strlen(dest))
                return kolla_copier_fail(c, -EINVAL,
                                         "dest / cannot be replaced; set merge: true to copy into "
                                         "it");
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return kolla_copier_fail(c, -errno, "dest %s: %s", dest, strerror(errno));
        if (empty)
                r = kolla_for_each_entry(c, fd, dest, 0, remove_entry);
        if (r < 0)
                close(fd);
        else
                *ret_fd = fd;
        return r;
}

/* Opens dest (name in parent) as a directory to copy into: emptied (no
 * merge, top level), kept (merge), or created. */
static int prepare_directory(struct kolla_copier *c, int parent, const char *name, const char *dest,
                             unsigned depth, int *ret_fd)
{
        struct stat st;

        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return kolla_copier_fail(c, -errno, "dest %s: %s", dest, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
                return open_dest(c, parent, name, dest, !c->merge && depth == 0, ret_fd);
        } else if (c->merge) {
                return kolla_copier_fail(c, -ENOTDIR,
                                         "dest %s exists and is not a directory (merge keeps "
                                         "what dest holds)",
                                         dest);
        } else if (unlinkat(parent, name, 0) < 0) {
                return kolla_copier_fail(c, -errno, "cannot replace dest %s: %s", dest,
                                         strerror(errno));
        }
        if (mkdirat(parent, name, 0700) < 0)
                return kolla_copier_fail(c, -errno, "cannot create directory %s: %s", dest,
                                         strerror(errno));
        return open_dest(c, parent, name, dest, false, ret_fd);
}

static int copy_path(struct kolla_copier *c, const char *source, int dir, const char *name,
                     const char *dest, unsigned depth);

static int copy_entries(struct kolla_copier *c, const char *source, int dir, const char *dest,
                        unsigned depth)
{
        char from[PATH_MAX], to[PATH_MAX];
        struct dirent *e;
        DIR *d = opendir(source);
        int r = 0;

        if (!d)
                return kolla_copier_fail(c, -errno, "source %s: %s", source, strerror(errno));
        while (r == 0 && (e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                r = kolla_join(c, from, source, e->d_name);
                if (r == 0)
                        r = kolla_join(c, to, dest, e->d_name);
                if (r == 0)
                        r = copy_path(c, from, dir, e->d_name, to, depth + 1);
        }
        closedir(d);
        return r;
}

/* The directory's own owner and mode come last: a mode without w for us
 * would stop the copy of its contents. */
static int copy_tree(struct kolla_copier *c, const struct stat *st, const char *source, int parent,
                     const char *name, const char *dest, unsigned depth)
{
        struct stat target;
        int fd, r;

        if (depth > KOLLA_MAX_TREE_DEPTH)
                return kolla_copier_fail(c, -E2BIG,
                                         "source %s: directories nested deeper than %d (a link "
                                         "loop?)",
                                         source, KOLLA_MAX_TREE_DEPTH);
        r = prepare_directory(c, parent, name, dest, depth, &fd);
        if (r < 0)
                return r;
        r = copy_entries(c, source, fd, dest, depth);
        if (r == 0 && fstat(fd, &target) < 0)
                r = kolla_copier_fail(c, -errno, "dest %s: %s", dest, strerror(errno));
        if (r == 0)
                r = kolla_apply_owner(c, fd, dest, &target, st);
        if (r == 0)
                r = kolla_set_mode(c, fd, dest, kolla_copy_mode(c, st, true));
        close(fd);
        c->directories += r == 0;
        return r;
}

/* O_NONBLOCK: a FIFO among the sources must not hang the start. */
int kolla_open_source(struct kolla_copier *c, const char *source, struct stat *st)
{
        int fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd < 0)
                return kolla_copier_fail(c, -errno, "source %s: %s", source, strerror(errno));
        if (fstat(fd, st) < 0) {
                int r = kolla_copier_fail(c, -errno, "source %s: %s", source, strerror(errno));

                close(fd);
                return r;
        }
        return fd;
}

/* The source open as fd copied to name in the directory open as dir. */
int kolla_copy_opened(struct kolla_copier *c, int fd, const struct stat *st, const char *source,
                      int dir, const char *name, const char *dest, unsigned depth)
{
        if (S_ISDIR(st->st_mode))
                return copy_tree(c, st, source, dir, name, dest, depth);
        if (S_ISREG(st->st_mode))
                return kolla_copy_file(c, fd, st, source, dir, name, dest);
        if (depth == 0)
                return kolla_copier_fail(c, -EINVAL, "source %s is not a regular file or directory",
                                         source);
        log_warn("%s: %s: %s is not a regular file or directory; skipped", c->path, c->label,
                 source);
        c->skipped++;
        return 0;
}

static int copy_path(struct kolla_copier *c, const char *source, int dir, const char *name,
                     const char *dest, unsigned depth)
{
        struct stat st;
        int fd = kolla_open_source(c, source, &st), r;

        if (fd < 0)
                return fd;
        r = kolla_copy_opened(c, fd, &st, source, dir, name, dest, depth);
        close(fd);
        return r;
}
