/* kolla_copy: the doing half of kolla-start (kolla.h) — config_files
 * copied, permissions applied, the COPY_ONCE marker.
 *
 * Why each file goes through a temporary file: a key or keyring must never
 * be readable by anyone but its owner, not even for an instant, and the
 * agent must never read half a file. The temporary file is made new
 * (O_EXCL, mode 0600, ours) in the destination's directory, so the rename
 * stays on one filesystem; it is filled, fsync'ed, given its owner and
 * only then its mode (chown first: group bits must apply to the wanted
 * group, not ours, and chown would clear setuid bits set before it), and
 * renamed over the destination. The bytes go from file to file inside the
 * kernel (copy_file_range) or through one locked buffer that is wiped, as
 * for any secret. Ownership is changed only when it differs: the image
 * runs as a non-root user, who may "set" the owner it already is.
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
 * are built alongside only for messages. */
#include "kolla.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fdio.h"
#include "base/log.h"
#include "base/secret.h"

#define TEMP_NAME ".kolla-copy.XXXXXX"
#define TEMP_ATTEMPTS 100

/* One entry of config.json being carried out. */
struct copier {
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

__attribute__((format(printf, 3, 4))) static int fail(struct copier *c, int r, const char *fmt,
                                                      ...)
{
        char what[KOLLA_ERROR_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (c->label[0])
                snprintf(c->error, c->size, "%s: %s: %s", c->path, c->label, what);
        else
                snprintf(c->error, c->size, "%s: %s", c->path, what);
        return r;
}

static bool has_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

/* Directories need x to be entered: add it wherever perm grants r. */
static mode_t directory_mode(int perm)
{
        return (mode_t)perm | (((mode_t)perm & 0444) >> 2);
}

static int join(struct copier *c, char *buf, const char *dir, const char *name)
{
        size_t n = strlen(dir);
        int k = snprintf(buf, PATH_MAX, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);

        if (k < 0 || k >= PATH_MAX)
                return fail(c, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
        return 0;
}

/* The directory path is in, without trailing slashes ("/" for "/x", "."
 * for "x"). */
static void parent_of(const char *path, char *buf)
{
        char *slash;

        snprintf(buf, PATH_MAX, "%s", path);
        for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
                buf[n - 1] = '\0';
        slash = strrchr(buf, '/');
        if (slash)
                slash[slash == buf] = '\0';
        else
                snprintf(buf, PATH_MAX, ".");
}

/* The last name in path, without trailing slashes ("." for "/"). */
static void last_name(const char *path, char *buf)
{
        size_t n = strlen(path);
        const char *start;

        while (n > 1 && path[n - 1] == '/')
                n--;
        for (start = path + n; start > path && start[-1] != '/';)
                start--;
        snprintf(buf, PATH_MAX, "%.*s", (int)(path + n - start), start);
        if (!buf[0])
                snprintf(buf, PATH_MAX, ".");
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
static int resolve_owner(struct copier *c, const char *owner)
{
        const char *missing = NULL, *group = strchr(owner, ':');

        if (kolla_owner_ids(owner, &c->uid, &c->gid, &missing) < 0) {
                if (strcmp(missing, "group") == 0)
                        return fail(c, -ENOENT, "owner '%s': no group %s in this container",
                                    owner, group + 1);
                return fail(c, -ENOENT, "owner '%s': no user %.*s in this container", owner,
                            group ? (int)(group - owner) : (int)strlen(owner), owner);
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
static int change_owner(struct copier *c, int fd, const char *path, const struct stat *st,
                        uid_t uid, gid_t gid, const char *owner_text)
{
        bool uid_differs = uid != (uid_t)-1 && st->st_uid != uid;
        bool gid_differs = gid != (gid_t)-1 && st->st_gid != gid;

        if (!uid_differs && !gid_differs)
                return 0;
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) == 0)
                return 0;
        if (errno == EPERM)
                return fail(c, -EPERM,
                            "cannot change the owner of %s to %s: the container user (uid %u) "
                            "may not change ownership; run the copy as root, or set owner to "
                            "the container user",
                            path, owner_text, (unsigned)geteuid());
        return fail(c, -errno, "cannot change the owner of %s: %s", path, strerror(errno));
}

/* The owner an entry wants for something copied from st. */
static int apply_owner(struct copier *c, int fd, const char *path, const struct stat *target,
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

static mode_t wanted_mode(const struct copier *c, const struct stat *source, bool directory)
{
        return kolla_wanted_mode(c->perm, c->preserve, source->st_mode, directory);
}

static int set_mode(struct copier *c, int fd, const char *path, mode_t mode)
{
        if (fchmod(fd, mode) < 0)
                return fail(c, -errno, "cannot set mode %04o on %s: %s", (unsigned)mode, path,
                            strerror(errno));
        return 0;
}

/* ---- files ----------------------------------------------------------------- */

/* name in the directory open as dir, a directory: opened as it is, links
 * and all (config.json named it), or made (mode 0755 whatever the umask)
 * and opened without following a link, should one have been swapped in
 * for it. path names it in messages. The new descriptor, or -errno. */
static int open_or_make(struct copier *c, int dir, const char *name, const char *path)
{
        int fd;

        if (mkdirat(dir, name, 0755) == 0) {
                fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        (void)fchmod(fd, 0755);
        } else if (errno == EEXIST) {
                fd = openat(dir, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        } else {
                return fail(c, -errno, "cannot create directory %s: %s", path, strerror(errno));
        }
        if (fd < 0)
                return fail(c, -errno, "cannot open directory %s: %s", path, strerror(errno));
        return fd;
}

/* Opens dir, one name after the other, making what is missing of it. */
static int open_directory(struct copier *c, const char *dir, int *ret_fd)
{
        char buf[PATH_MAX];
        int fd, next;

        snprintf(buf, sizeof(buf), "%s", dir);
        fd = open(buf[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return fail(c, -errno, "cannot open directory %s: %s", dir, strerror(errno));
        for (char *name = buf + strspn(buf, "/"); *name; name += strspn(name, "/")) {
                char *end = name + strcspn(name, "/"), saved = *end;

                *end = '\0'; /* buf is now the path up to name */
                next = open_or_make(c, fd, name, buf);
                *end = saved;
                close(fd);
                if (next < 0)
                        return next;
                fd = next;
                name = end;
        }
        *ret_fd = fd;
        return 0;
}

/* The directory of path, made if missing and opened, and the last name
 * in path to create there. */
static int open_parent(struct copier *c, const char *path, int *ret_fd, char *name)
{
        char dir[PATH_MAX];

        parent_of(path, dir);
        last_name(path, name);
        return open_directory(c, dir, ret_fd);
}

/* A new file in dir named like TEMP_NAME, mode 0600, ours: O_EXCL and
 * O_NOFOLLOW, so nothing planted under that name is opened instead. Its
 * descriptor, or -errno. */
static int create_temp(int dir, char name[static sizeof(TEMP_NAME)])
{
        static const char letters[] =
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        const size_t xs = sizeof(TEMP_NAME) - 1 - strlen("XXXXXX"); /* where XXXXXX starts */
        unsigned char bytes[6];

        for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
                int fd;

                if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
                        return errno ? -errno : -EIO;
                memcpy(name, TEMP_NAME, sizeof(TEMP_NAME));
                for (size_t i = 0; i < sizeof(bytes); i++)
                        name[xs + i] = letters[bytes[i] % (sizeof(letters) - 1)];
                fd = openat(dir, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY |
                            O_CLOEXEC, 0600);
                if (fd >= 0 || errno != EEXIST)
                        return fd >= 0 ? fd : -errno;
        }
        return -EEXIST;
}

static int copy_through_buffer(struct copier *c, int in, int out, const char *source)
{
        ssize_t n;
        int r;

        if (!c->buffer && (r = secret_new(SECRET_MAX_BYTES, &c->buffer)) < 0)
                return fail(c, r, "no locked memory to copy %s through: %s", source,
                            strerror(-r));
        while ((n = read(in, c->buffer->data, c->buffer->capacity)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail(c, -errno, "cannot read %s: %s", source, strerror(errno));
                r = fd_write_all(out, c->buffer->data, (size_t)n);
                if (r < 0)
                        return fail(c, r, "cannot write a copy of %s: %s", source, strerror(-r));
        }
        return 0;
}

static int copy_data(struct copier *c, int in, int out, const char *source)
{
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);

                if (n > 0 || (n < 0 && errno == EINTR))
                        continue;
                if (n == 0)
                        return 0;
                /* Not across these filesystems or not at all: the offsets
                 * have not moved past what was copied, so go on by hand. */
                if (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                    errno == EOPNOTSUPP || errno == EBADF)
                        return copy_through_buffer(c, in, out, source);
                return fail(c, -errno, "cannot copy %s: %s", source, strerror(errno));
        }
}

/* Owner, mode, times and fsync of the filled temporary file. */
static int finish_file(struct copier *c, int out, const char *dest, const struct stat *source)
{
        struct timespec times[2] = {source->st_atim, source->st_mtim};
        struct stat st;
        int r;

        if (fstat(out, &st) < 0)
                return fail(c, -errno, "cannot stat the copy for %s: %s", dest, strerror(errno));
        r = apply_owner(c, out, dest, &st, source);
        if (r == 0)
                r = set_mode(c, out, dest, wanted_mode(c, source, false));
        if (r == 0 && c->preserve && futimens(out, times) < 0)
                r = fail(c, -errno, "cannot set the times of %s: %s", dest, strerror(errno));
        if (r == 0 && fsync(out) < 0)
                r = fail(c, -errno, "cannot write %s: %s", dest, strerror(errno));
        return r;
}

/* The copy of in named name in the directory open as dir; dest names it
 * in messages. */
static int copy_file(struct copier *c, int in, const struct stat *st, const char *source,
                     int dir, const char *name, const char *dest)
{
        char where[PATH_MAX], temp[sizeof(TEMP_NAME)];
        struct stat existing;
        int out, r;

        if (fstatat(dir, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(existing.st_mode))
                return fail(c, -EISDIR, "dest %s is a directory; end dest with '/' to copy into it",
                            dest);
        out = create_temp(dir, temp);
        if (out < 0) {
                parent_of(dest, where);
                return fail(c, out, "cannot create a file in %s: %s", where, strerror(-out));
        }
        r = copy_data(c, in, out, source);
        if (r == 0)
                r = finish_file(c, out, dest, st);
        if (close(out) < 0 && r == 0)
                r = fail(c, -errno, "cannot write %s: %s", dest, strerror(errno));
        if (r == 0 && renameat(dir, temp, dir, name) < 0)
                r = fail(c, -errno, "cannot put the copy in place as %s: %s", dest,
                         strerror(errno));
        if (r < 0)
                (void)unlinkat(dir, temp, 0);
        else
                c->files++;
        return r;
}

/* ---- directories ----------------------------------------------------------- */

typedef int each_entry_fn(struct copier *c, int dir, const char *name, const char *path,
                          unsigned depth);

/* each() for every entry of the directory open as dir (path, at depth),
 * with the entry's path for messages; stops at the first error. */
static int for_each_entry(struct copier *c, int dir, const char *path, unsigned depth,
                          each_entry_fn *each)
{
        char child[PATH_MAX];
        struct dirent *e;
        DIR *d = NULL;
        int fd, r = 0;

        if (depth > KOLLA_MAX_TREE_DEPTH)
                return fail(c, -E2BIG, "%s: directories nested deeper than %d", path,
                            KOLLA_MAX_TREE_DEPTH);
        fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || !(d = fdopendir(fd))) {
                r = fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        for (errno = 0; r == 0 && (e = readdir(d)); errno = 0) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                r = join(c, child, path, e->d_name);
                if (r == 0)
                        r = each(c, dirfd(d), e->d_name, child, depth);
        }
        if (r == 0 && errno)
                r = fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
        closedir(d);
        return r;
}

/* name in dir, whatever it is: a link or file is unlinked itself, a
 * directory emptied through a descriptor of its own, then removed. */
static int remove_entry(struct copier *c, int dir, const char *name, const char *path,
                        unsigned depth)
{
        int fd, r;

        if (unlinkat(dir, name, 0) == 0)
                return 0;
        if (errno != EISDIR)
                return fail(c, -errno, "cannot remove %s from dest: %s", path, strerror(errno));
        fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail(c, -errno, "cannot remove %s from dest: %s", path, strerror(errno));
        r = for_each_entry(c, fd, path, depth + 1, remove_entry);
        close(fd);
        if (r == 0 && unlinkat(dir, name, AT_REMOVEDIR) < 0)
                r = fail(c, -errno, "cannot remove %s from dest: %s", path, strerror(errno));
        return r;
}

/* Opens the directory name in parent; without merge, dest ends up holding
 * what the source holds: its old contents go, the directory itself stays
 * (it may be a mount point). */
static int open_dest(struct copier *c, int parent, const char *name, const char *dest,
                     bool empty, int *ret_fd)
{
        int fd, r = 0;

        if (empty && strspn(dest, "/") == strlen(dest))
                return fail(c, -EINVAL, "dest / cannot be replaced; set merge: true to copy into "
                            "it");
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail(c, -errno, "dest %s: %s", dest, strerror(errno));
        if (empty)
                r = for_each_entry(c, fd, dest, 0, remove_entry);
        if (r < 0)
                close(fd);
        else
                *ret_fd = fd;
        return r;
}

/* Opens dest (name in parent) as a directory to copy into: emptied (no
 * merge, top level), kept (merge), or created. */
static int prepare_directory(struct copier *c, int parent, const char *name, const char *dest,
                             unsigned depth, int *ret_fd)
{
        struct stat st;

        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return fail(c, -errno, "dest %s: %s", dest, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
                return open_dest(c, parent, name, dest, !c->merge && depth == 0, ret_fd);
        } else if (c->merge) {
                return fail(c, -ENOTDIR, "dest %s exists and is not a directory (merge keeps "
                            "what dest holds)", dest);
        } else if (unlinkat(parent, name, 0) < 0) {
                return fail(c, -errno, "cannot replace dest %s: %s", dest, strerror(errno));
        }
        if (mkdirat(parent, name, 0700) < 0)
                return fail(c, -errno, "cannot create directory %s: %s", dest, strerror(errno));
        return open_dest(c, parent, name, dest, false, ret_fd);
}

static int copy_path(struct copier *c, const char *source, int dir, const char *name,
                     const char *dest, unsigned depth);

static int copy_entries(struct copier *c, const char *source, int dir, const char *dest,
                        unsigned depth)
{
        char from[PATH_MAX], to[PATH_MAX];
        struct dirent *e;
        DIR *d = opendir(source);
        int r = 0;

        if (!d)
                return fail(c, -errno, "source %s: %s", source, strerror(errno));
        while (r == 0 && (e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                r = join(c, from, source, e->d_name);
                if (r == 0)
                        r = join(c, to, dest, e->d_name);
                if (r == 0)
                        r = copy_path(c, from, dir, e->d_name, to, depth + 1);
        }
        closedir(d);
        return r;
}

/* The directory's own owner and mode come last: a mode without w for us
 * would stop the copy of its contents. */
static int copy_tree(struct copier *c, const struct stat *st, const char *source, int parent,
                     const char *name, const char *dest, unsigned depth)
{
        struct stat target;
        int fd, r;

        if (depth > KOLLA_MAX_TREE_DEPTH)
                return fail(c, -E2BIG, "source %s: directories nested deeper than %d (a link "
                            "loop?)", source, KOLLA_MAX_TREE_DEPTH);
        r = prepare_directory(c, parent, name, dest, depth, &fd);
        if (r < 0)
                return r;
        r = copy_entries(c, source, fd, dest, depth);
        if (r == 0 && fstat(fd, &target) < 0)
                r = fail(c, -errno, "dest %s: %s", dest, strerror(errno));
        if (r == 0)
                r = apply_owner(c, fd, dest, &target, st);
        if (r == 0)
                r = set_mode(c, fd, dest, wanted_mode(c, st, true));
        close(fd);
        c->directories += r == 0;
        return r;
}

/* O_NONBLOCK: a FIFO among the sources must not hang the start. */
static int open_source(struct copier *c, const char *source, struct stat *st)
{
        int fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd < 0)
                return fail(c, -errno, "source %s: %s", source, strerror(errno));
        if (fstat(fd, st) < 0) {
                int r = fail(c, -errno, "source %s: %s", source, strerror(errno));

                close(fd);
                return r;
        }
        return fd;
}

/* The source open as fd copied to name in the directory open as dir. */
static int copy_opened(struct copier *c, int fd, const struct stat *st, const char *source,
                       int dir, const char *name, const char *dest, unsigned depth)
{
        if (S_ISDIR(st->st_mode))
                return copy_tree(c, st, source, dir, name, dest, depth);
        if (S_ISREG(st->st_mode))
                return copy_file(c, fd, st, source, dir, name, dest);
        if (depth == 0)
                return fail(c, -EINVAL, "source %s is not a regular file or directory", source);
        log_warn("%s: %s: %s is not a regular file or directory; skipped", c->path, c->label,
                 source);
        c->skipped++;
        return 0;
}

static int copy_path(struct copier *c, const char *source, int dir, const char *name,
                     const char *dest, unsigned depth)
{
        struct stat st;
        int fd = open_source(c, source, &st), r;

        if (fd < 0)
                return fd;
        r = copy_opened(c, fd, &st, source, dir, name, dest, depth);
        close(fd);
        return r;
}

/* ---- config_files ---------------------------------------------------------- */

static void log_copied(const struct copier *c, const char *source, const char *target,
                       bool directory)
{
        if (!directory)
                log_info("%s: %s: copied %s to %s%s%s", c->path, c->label, source, target,
                         c->set_owner ? ", owner " : "", c->set_owner ? c->owner_text : "");
        else
                log_info("%s: %s: copied directory %s to %s (%u files in %u directories%s%s%s)",
                         c->path, c->label, source, target, c->files, c->directories,
                         c->merge ? "; merged with what was there" : "",
                         c->set_owner ? "; owner " : "", c->set_owner ? c->owner_text : "");
}

/* source to target: the source opened first, so a source that cannot be
 * read leaves no directories made for it. */
static int copy_to(struct copier *c, const char *source, const char *target)
{
        char name[PATH_MAX];
        struct stat st;
        int fd, dir, r;

        fd = open_source(c, source, &st);
        if (fd < 0)
                return fd;
        r = open_parent(c, target, &dir, name);
        if (r == 0) {
                r = copy_opened(c, fd, &st, source, dir, name, target, 0);
                close(dir);
        }
        close(fd);
        return r;
}

/* One source (a glob match or the source itself) to dest, or into dest
 * when dest ends in '/'. */
static int copy_match(struct copier *c, const struct kolla_file *f, const char *source)
{
        char target[PATH_MAX], trimmed[PATH_MAX];
        size_t n = strlen(f->dest);
        struct stat st;
        int r;

        if (n > 0 && f->dest[n - 1] == '/') {
                snprintf(trimmed, sizeof(trimmed), "%s", source);
                for (n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
                        trimmed[n - 1] = '\0';
                r = join(c, target, f->dest, strrchr(trimmed, '/') + 1);
                if (r < 0)
                        return r;
        } else {
                snprintf(target, sizeof(target), "%s", f->dest);
        }
        c->files = c->directories = c->skipped = 0;
        r = copy_to(c, source, target);
        if (r == 0)
                log_copied(c, source, target, stat(target, &st) == 0 && S_ISDIR(st.st_mode));
        return r;
}

static int copy_glob(struct copier *c, const struct kolla_file *f)
{
        glob_t g;
        int r;

        r = glob(f->source, 0, NULL, &g);
        if (r == GLOB_NOMATCH) {
                if (!f->optional)
                        return fail(c, -ENOENT, "source %s: no file matches", f->source);
                log_info("%s: %s: source %s matches no file; optional, skipped", c->path,
                         c->label, f->source);
                return 0;
        }
        if (r != 0) {
                globfree(&g);
                return fail(c, r == GLOB_NOSPACE ? -ENOMEM : -EIO, "source %s: %s", f->source,
                            r == GLOB_NOSPACE ? "out of memory" : "cannot read its directory");
        }
        if (g.gl_pathc > 1 && f->dest[strlen(f->dest) - 1] != '/')
                r = fail(c, -EINVAL, "source %s matches %zu files; end dest with '/' to copy "
                         "them into a directory", f->source, g.gl_pathc);
        for (size_t i = 0; r == 0 && i < g.gl_pathc; i++)
                r = copy_match(c, f, g.gl_pathv[i]);
        globfree(&g);
        return r;
}

static int copy_entry(struct copier *c, const struct kolla_file *f)
{
        struct stat st;

        if (has_glob(f->source))
                return copy_glob(c, f);
        if (stat(f->source, &st) < 0) {
                if (errno != ENOENT || !f->optional)
                        return fail(c, -errno, "source %s: %s", f->source, strerror(errno));
                log_info("%s: %s: source %s does not exist; optional, skipped", c->path,
                         c->label, f->source);
                return 0;
        }
        return copy_match(c, f, f->source);
}

static void copier_init(struct copier *c, const struct kolla_config *k, const char *list,
                        size_t i, char *error, size_t size)
{
        *c = (struct copier){.path = k->path, .error = error, .size = size,
                             .uid = (uid_t)-1, .gid = (gid_t)-1, .perm = KOLLA_PERM_UNSET};
        snprintf(c->label, sizeof(c->label), "%s[%zu]", list, i);
}

int kolla_copy_files(const struct kolla_config *k, char *error, size_t size)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < k->n_files; i++) {
                const struct kolla_file *f = &k->files[i];
                struct copier c;

                copier_init(&c, k, "config_files", i, error, size);
                c.perm = f->perm;
                c.preserve = f->preserve_properties;
                c.merge = f->merge;
                if (f->owner)
                        r = resolve_owner(&c, f->owner);
                if (r == 0)
                        r = copy_entry(&c, f);
                secret_free(c.buffer);
        }
        return r;
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

static int change_mode(struct copier *c, int fd, const char *path, const struct stat *st)
{
        mode_t mode = S_ISDIR(st->st_mode) ? directory_mode(c->perm) : (mode_t)c->perm;
        int r;

        if (c->perm == KOLLA_PERM_UNSET || S_ISLNK(st->st_mode) || (st->st_mode & 07777) == mode)
                return 0;
        r = chmod_descriptor(fd, mode);
        if (r == 0)
                return 0;
        if (r == -EPERM)
                return fail(c, r, "cannot set mode %04o on %s: the container user (uid %u) "
                            "does not own it; run as root, or give it to the container user "
                            "first", (unsigned)mode, path, (unsigned)geteuid());
        if (r == -EOPNOTSUPP)
                return fail(c, r, "cannot set mode %04o on %s: /proc is not mounted, and "
                            "without it a mode is not set without following links",
                            (unsigned)mode, path);
        return fail(c, r, "cannot set mode %04o on %s: %s", (unsigned)mode, path, strerror(-r));
}

/* Owner, then mode, on what fd holds open (st: what fstat saw of it). */
static int set_attributes(struct copier *c, int fd, const char *path, const struct stat *st)
{
        int r = 0;

        if (c->set_owner)
                r = change_owner(c, fd, path, st, c->uid, c->gid, c->owner_text);
        if (r == 0)
                r = change_mode(c, fd, path, st);
        c->files++;
        return r;
}

static each_entry_fn permission_entry;

/* What fd holds open, then, with recurse, what a directory holds: the
 * directory first, as Kolla's walk does. */
static int permission_opened(struct copier *c, int fd, const char *path, bool recurse,
                             unsigned depth)
{
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
        r = set_attributes(c, fd, path, &st);
        if (r == 0 && recurse && S_ISDIR(st.st_mode))
                r = for_each_entry(c, fd, path, depth, permission_entry);
        return r;
}

/* An entry met in a recursive walk, opened where it is as it is: a link
 * is the link itself (its owner set, not its mode), never its target. */
static int permission_entry(struct copier *c, int dir, const char *name, const char *path,
                            unsigned depth)
{
        int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), r;

        if (fd < 0)
                return fail(c, -errno, "cannot read %s: %s", path, strerror(errno));
        r = permission_opened(c, fd, path, true, depth + 1);
        close(fd);
        return r;
}

static int permission_match(struct copier *c, const struct kolla_permission *p,
                            const char *path)
{
        struct stat st;
        int fd, r;

        fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail(c, -errno, "path %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0) {
                r = fail(c, -errno, "path %s: %s", path, strerror(errno));
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

static int apply_permission(struct copier *c, const struct kolla_permission *p)
{
        glob_t g;
        int r;

        if (!has_glob(p->path)) {
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
                return fail(c, r == GLOB_NOSPACE ? -ENOMEM : -EIO, "path %s: %s", p->path,
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
                struct copier c;

                copier_init(&c, k, "permissions", i, error, size);
                c.perm = p->perm;
                if (p->owner)
                        r = resolve_owner(&c, p->owner);
                if (r == 0)
                        r = apply_permission(&c, p);
        }
        return r;
}

/* ---- COPY_ONCE -------------------------------------------------------------- */

int kolla_mark_configured(const char *marker, char *error, size_t size)
{
        struct copier c = {.path = "COPY_ONCE", .error = error, .size = size};
        char name[PATH_MAX];
        int dir, fd, r;

        r = open_parent(&c, marker, &dir, name);
        if (r < 0)
                return r;
        fd = openat(dir, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        r = fd < 0 ? -errno : 0;
        close(dir);
        if (r < 0)
                return fail(&c, r, "cannot create the marker %s: %s (its directory must be "
                            "writable by uid %u; or use COPY_ALWAYS)", marker, strerror(-r),
                            (unsigned)geteuid());
        close(fd);
        return 0;
}
