/* kolla_copy: the doing half of kolla-start (kolla.h) — config_files
 * copied (glob sources, a dest ending in '/'), each file through a
 * temporary file renamed into place, and the COPY_ONCE marker. Directories
 * are in kolla_tree.c, owners, modes and permissions in kolla_perms.c; the
 * rule on links all three keep is in kolla_internal.h.
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
 * runs as a non-root user, who may "set" the owner it already is. */
#include "kolla.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fdio.h"
#include "base/log.h"
#include "base/secret.h"
#include "kolla_internal.h"

#define TEMP_NAME ".kolla-copy.XXXXXX"
#define TEMP_ATTEMPTS 100

int kolla_copier_fail(struct kolla_copier *c, int r, const char *fmt, ...)
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

bool kolla_has_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

int kolla_join(struct kolla_copier *c, char *buf, const char *dir, const char *name)
{
        size_t n = strlen(dir);
        int k = snprintf(buf, PATH_MAX, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);

        if (k < 0 || k >= PATH_MAX)
                return kolla_copier_fail(c, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
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

/* ---- files ----------------------------------------------------------------- */

/* name in the directory open as dir, a directory: opened as it is, links
 * and all (config.json named it), or made (mode 0755 whatever the umask)
 * and opened without following a link, should one have been swapped in
 * for it. path names it in messages. The new descriptor, or -errno. */
static int open_or_make(struct kolla_copier *c, int dir, const char *name, const char *path)
{
        int fd;

        if (mkdirat(dir, name, 0755) == 0) {
                fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        (void)fchmod(fd, 0755);
        } else if (errno == EEXIST) {
                fd = openat(dir, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        } else {
                return kolla_copier_fail(c, -errno, "cannot create directory %s: %s", path,
                                         strerror(errno));
        }
        if (fd < 0)
                return kolla_copier_fail(c, -errno, "cannot open directory %s: %s", path,
                                         strerror(errno));
        return fd;
}

/* Opens dir, one name after the other, making what is missing of it. */
static int open_directory(struct kolla_copier *c, const char *dir, int *ret_fd)
{
        char buf[PATH_MAX];
        int fd, next;

        snprintf(buf, sizeof(buf), "%s", dir);
        fd = open(buf[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return kolla_copier_fail(c, -errno, "cannot open directory %s: %s", dir,
                                         strerror(errno));
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
static int open_parent(struct kolla_copier *c, const char *path, int *ret_fd, char *name)
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

static int copy_through_buffer(struct kolla_copier *c, int in, int out, const char *source)
{
        ssize_t n;
        int r;

        if (!c->buffer && (r = secret_new(SECRET_MAX_BYTES, &c->buffer)) < 0)
                return kolla_copier_fail(c, r, "no locked memory to copy %s through: %s", source,
                            strerror(-r));
        while ((n = read(in, c->buffer->data, c->buffer->capacity)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kolla_copier_fail(c, -errno, "cannot read %s: %s", source,
                                                 strerror(errno));
                r = fd_write_all(out, c->buffer->data, (size_t)n);
                if (r < 0)
                        return kolla_copier_fail(c, r, "cannot write a copy of %s: %s", source,
                                                 strerror(-r));
        }
        return 0;
}

static int copy_data(struct kolla_copier *c, int in, int out, const char *source)
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
                return kolla_copier_fail(c, -errno, "cannot copy %s: %s", source, strerror(errno));
        }
}

/* Owner, mode, times and fsync of the filled temporary file. */
static int finish_file(struct kolla_copier *c, int out, const char *dest, const struct stat *source)
{
        struct timespec times[2] = {source->st_atim, source->st_mtim};
        struct stat st;
        int r;

        if (fstat(out, &st) < 0)
                return kolla_copier_fail(c, -errno, "cannot stat the copy for %s: %s", dest,
                                         strerror(errno));
        r = kolla_apply_owner(c, out, dest, &st, source);
        if (r == 0)
                r = kolla_set_mode(c, out, dest, kolla_copy_mode(c, source, false));
        if (r == 0 && c->preserve && futimens(out, times) < 0)
                r = kolla_copier_fail(c, -errno, "cannot set the times of %s: %s", dest,
                                      strerror(errno));
        if (r == 0 && fsync(out) < 0)
                r = kolla_copier_fail(c, -errno, "cannot write %s: %s", dest, strerror(errno));
        return r;
}

/* The copy of in named name in the directory open as dir; dest names it
 * in messages. */
int kolla_copy_file(struct kolla_copier *c, int in, const struct stat *st, const char *source,
                    int dir, const char *name, const char *dest)
{
        char where[PATH_MAX], temp[sizeof(TEMP_NAME)];
        struct stat existing;
        int out, r;

        if (fstatat(dir, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(existing.st_mode))
                return kolla_copier_fail(
                        c, -EISDIR, "dest %s is a directory; end dest with '/' to copy into it",
                        dest);
        out = create_temp(dir, temp);
        if (out < 0) {
                parent_of(dest, where);
                return kolla_copier_fail(c, out, "cannot create a file in %s: %s", where,
                                         strerror(-out));
        }
        r = copy_data(c, in, out, source);
        if (r == 0)
                r = finish_file(c, out, dest, st);
        if (close(out) < 0 && r == 0)
                r = kolla_copier_fail(c, -errno, "cannot write %s: %s", dest, strerror(errno));
        if (r == 0 && renameat(dir, temp, dir, name) < 0)
                r = kolla_copier_fail(c, -errno, "cannot put the copy in place as %s: %s", dest,
                         strerror(errno));
        if (r < 0)
                (void)unlinkat(dir, temp, 0);
        else
                c->files++;
        return r;
}

/* ---- config_files ---------------------------------------------------------- */

static void log_copied(const struct kolla_copier *c, const char *source, const char *target,
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
static int copy_to(struct kolla_copier *c, const char *source, const char *target)
{
        char name[PATH_MAX];
        struct stat st;
        int fd, dir, r;

        fd = kolla_open_source(c, source, &st);
        if (fd < 0)
                return fd;
        r = open_parent(c, target, &dir, name);
        if (r == 0) {
                r = kolla_copy_opened(c, fd, &st, source, dir, name, target, 0);
                close(dir);
        }
        close(fd);
        return r;
}

/* One source (a glob match or the source itself) to dest, or into dest
 * when dest ends in '/'. */
static int copy_match(struct kolla_copier *c, const struct kolla_file *f, const char *source)
{
        char target[PATH_MAX], trimmed[PATH_MAX];
        size_t n = strlen(f->dest);
        struct stat st;
        int r;

        if (n > 0 && f->dest[n - 1] == '/') {
                snprintf(trimmed, sizeof(trimmed), "%s", source);
                for (n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
                        trimmed[n - 1] = '\0';
                r = kolla_join(c, target, f->dest, strrchr(trimmed, '/') + 1);
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

static int copy_glob(struct kolla_copier *c, const struct kolla_file *f)
{
        glob_t g;
        int r;

        r = glob(f->source, 0, NULL, &g);
        if (r == GLOB_NOMATCH) {
                if (!f->optional)
                        return kolla_copier_fail(c, -ENOENT, "source %s: no file matches",
                                                 f->source);
                log_info("%s: %s: source %s matches no file; optional, skipped", c->path, c->label,
                         f->source);
                return 0;
        }
        if (r != 0) {
                globfree(&g);
                return kolla_copier_fail(
                        c, r == GLOB_NOSPACE ? -ENOMEM : -EIO, "source %s: %s", f->source,
                        r == GLOB_NOSPACE ? "out of memory" : "cannot read its directory");
        }
        if (g.gl_pathc > 1 && f->dest[strlen(f->dest) - 1] != '/')
                r = kolla_copier_fail(c, -EINVAL,
                                      "source %s matches %zu files; end dest with '/' to copy "
                                      "them into a directory",
                                      f->source, g.gl_pathc);
        for (size_t i = 0; r == 0 && i < g.gl_pathc; i++)
                r = copy_match(c, f, g.gl_pathv[i]);
        globfree(&g);
        return r;
}

static int copy_entry(struct kolla_copier *c, const struct kolla_file *f)
{
        struct stat st;

        if (kolla_has_glob(f->source))
                return copy_glob(c, f);
        if (stat(f->source, &st) < 0) {
                if (errno != ENOENT || !f->optional)
                        return kolla_copier_fail(c, -errno, "source %s: %s", f->source,
                                                 strerror(errno));
                log_info("%s: %s: source %s does not exist; optional, skipped", c->path, c->label,
                         f->source);
                return 0;
        }
        return copy_match(c, f, f->source);
}

void kolla_copier_init(struct kolla_copier *c, const struct kolla_config *k, const char *list,
                       size_t i, char *error, size_t size)
{
        *c = (struct kolla_copier){.path = k->path, .error = error, .size = size,
                             .uid = (uid_t)-1, .gid = (gid_t)-1, .perm = KOLLA_PERM_UNSET};
        snprintf(c->label, sizeof(c->label), "%s[%zu]", list, i);
}

int kolla_copy_files(const struct kolla_config *k, char *error, size_t size)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < k->n_files; i++) {
                const struct kolla_file *f = &k->files[i];
                struct kolla_copier c;

                kolla_copier_init(&c, k, "config_files", i, error, size);
                c.perm = f->perm;
                c.preserve = f->preserve_properties;
                c.merge = f->merge;
                if (f->owner)
                        r = kolla_resolve_owner(&c, f->owner);
                if (r == 0)
                        r = copy_entry(&c, f);
                secret_free(c.buffer);
        }
        return r;
}

/* ---- COPY_ONCE -------------------------------------------------------------- */

int kolla_mark_configured(const char *marker, char *error, size_t size)
{
        struct kolla_copier c = {.path = "COPY_ONCE", .error = error, .size = size};
        char name[PATH_MAX];
        int dir, fd, r;

        r = open_parent(&c, marker, &dir, name);
        if (r < 0)
                return r;
        fd = openat(dir, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        r = fd < 0 ? -errno : 0;
        close(dir);
        if (r < 0)
                return kolla_copier_fail(&c, r,
                                         "cannot create the marker %s: %s (its directory must be "
                                         "writable by uid %u; or use COPY_ALWAYS)",
                                         marker, strerror(-r), (unsigned)geteuid());
        close(fd);
        return 0;
}
