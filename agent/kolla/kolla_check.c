/* kolla_check: whether config.json's files are in place as kolla-start
 * would leave them (kolla.h, kolla_check_files), for kolla-ansible's
 * compare_container, which runs `kolla_set_configs --check` in the running
 * container and recreates it on exit 1.
 *
 * Only reads. A source is followed as the copy follows it; a destination
 * is taken with lstat, so a link where the copy would put a file is a
 * difference. Contents are compared through locked, wiped buffers: they
 * are keyrings and keys as often as not. */
#include "kolla.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fdio.h"
#include "base/secret.h"

#define CHUNK SECRET_MAX_BYTES

/* One config_files entry being compared. */
struct checker {
        const struct kolla_config *k;
        size_t index;
        const struct kolla_file *f;
        bool set_owner;
        uid_t uid;
        gid_t gid;
        struct secret *a, *b; /* content buffers, made on first use */
        char *what;
        size_t size;
};

/* The first difference: 1, with what it is in c->what. */
__attribute__((format(printf, 2, 3))) static int differs(struct checker *c, const char *fmt,
                                                         ...)
{
        char text[KOLLA_ERROR_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        snprintf(c->what, c->size, "%s: config_files[%zu]: %s", c->k->path, c->index, text);
        return 1;
}

/* Same bytes in both (their sizes are equal). 0 same, 1 not, or -errno. */
static int contents_differ(struct checker *c, const char *source, const char *dest)
{
        int in = -1, out = -1, r = 0;
        size_t x, y;

        if ((!c->a && secret_new(CHUNK, &c->a) < 0) || (!c->b && secret_new(CHUNK, &c->b) < 0))
                return -ENOMEM;
        in = open(source, O_RDONLY | O_CLOEXEC);
        out = open(dest, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0 || out < 0) {
                r = -errno;
                goto out;
        }
        for (;;) {
                r = fd_read_all(in, c->a->data, CHUNK, &x);
                if (r == 0)
                        r = fd_read_all(out, c->b->data, CHUNK, &y);
                if (r < 0)
                        break;
                if (x != y || memcmp(c->a->data, c->b->data, x) != 0) {
                        r = 1;
                        break;
                }
                if (x < CHUNK)
                        break;
        }
        explicit_bzero(c->a->data, CHUNK);
        explicit_bzero(c->b->data, CHUNK);
out:
        if (in >= 0)
                close(in);
        if (out >= 0)
                close(out);
        return r;
}

/* Mode and owner of dest (lstat'ed as st) against what the copy gives it. */
static int properties_differ(struct checker *c, const char *dest, const struct stat *st,
                             const struct stat *source, bool directory)
{
        mode_t want = kolla_wanted_mode(c->f->perm, c->f->preserve_properties, source->st_mode,
                                        directory);
        uid_t uid = c->set_owner ? c->uid : c->f->preserve_properties ? source->st_uid : (uid_t)-1;
        gid_t gid = c->set_owner ? c->gid : c->f->preserve_properties ? source->st_gid : (gid_t)-1;

        if ((st->st_mode & 07777) != want)
                return differs(c, "%s has mode %04o, the copy gives %04o", dest,
                               (unsigned)(st->st_mode & 07777), (unsigned)want);
        if ((uid != (uid_t)-1 && st->st_uid != uid) || (gid != (gid_t)-1 && st->st_gid != gid))
                return differs(c, "%s is owned by %u:%u, the copy gives %d:%d", dest,
                               (unsigned)st->st_uid, (unsigned)st->st_gid,
                               uid == (uid_t)-1 ? -1 : (int)uid, gid == (gid_t)-1 ? -1 : (int)gid);
        return 0;
}

static int check_path(struct checker *c, const char *source, const char *dest, unsigned depth);

static int join(char *buf, const char *dir, const char *name)
{
        size_t n = strlen(dir);
        int k = snprintf(buf, PATH_MAX, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);

        return k < 0 || k >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static bool is_dot(const char *name)
{
        return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Without merge, the copy empties dest first: anything in it that the
 * source lacks would go. */
static int extra_entries(struct checker *c, const char *source, const char *dest)
{
        char path[PATH_MAX];
        struct dirent *e;
        struct stat st;
        DIR *d = opendir(dest);
        int r = 0;

        if (!d)
                return -errno;
        while (r == 0 && (e = readdir(d))) {
                if (is_dot(e->d_name))
                        continue;
                r = join(path, source, e->d_name);
                if (r == 0 && stat(path, &st) < 0)
                        r = errno == ENOENT ? differs(c, "%s/%s is not in the source %s and the "
                                                      "copy would remove it", dest, e->d_name,
                                                      source)
                                            : -errno;
        }
        closedir(d);
        return r;
}

static int check_directory(struct checker *c, const char *source, const char *dest,
                           unsigned depth)
{
        char from[PATH_MAX], to[PATH_MAX];
        struct dirent *e;
        DIR *d;
        int r = 0;

        if (depth >= KOLLA_MAX_TREE_DEPTH)
                return -ELOOP;
        d = opendir(source);
        if (!d)
                return -errno;
        while (r == 0 && (e = readdir(d))) {
                if (is_dot(e->d_name))
                        continue;
                r = join(from, source, e->d_name);
                if (r == 0)
                        r = join(to, dest, e->d_name);
                if (r == 0)
                        r = check_path(c, from, to, depth + 1);
        }
        closedir(d);
        if (r == 0 && !c->f->merge)
                r = extra_entries(c, source, dest);
        return r;
}

static int check_path(struct checker *c, const char *source, const char *dest, unsigned depth)
{
        struct stat src, st;
        int r;

        if (stat(source, &src) < 0)
                return -errno;
        if (lstat(dest, &st) < 0) {
                if (errno == ENOENT)
                        return differs(c, "%s is missing (from %s)", dest, source);
                return -errno;
        }
        if (S_ISDIR(src.st_mode)) {
                if (!S_ISDIR(st.st_mode))
                        return differs(c, "%s is not a directory, %s is", dest, source);
                r = properties_differ(c, dest, &st, &src, true);
                return r ? r : check_directory(c, source, dest, depth);
        }
        if (!S_ISREG(st.st_mode))
                return differs(c, "%s is not a regular file", dest);
        if (st.st_size != src.st_size)
                return differs(c, "%s has %lld bytes, %s %lld", dest, (long long)st.st_size,
                               source, (long long)src.st_size);
        r = contents_differ(c, source, dest);
        if (r == 1)
                return differs(c, "%s differs from %s", dest, source);
        return r ? r : properties_differ(c, dest, &st, &src, false);
}

/* Where the copy puts source: dest, or into it for a dest ending in '/'. */
static int dest_of(const struct kolla_file *f, const char *source, char *buf)
{
        const char *base = strrchr(source, '/');
        size_t n = strlen(f->dest);

        if (n == 0 || f->dest[n - 1] != '/')
                return snprintf(buf, PATH_MAX, "%s", f->dest) >= PATH_MAX ? -ENAMETOOLONG : 0;
        return join(buf, f->dest, base ? base + 1 : source);
}

static int check_entry(struct checker *c)
{
        const char *missing = NULL;
        char dest[PATH_MAX];
        glob_t g = {0};
        int r = 0, gr;

        if (c->f->owner && kolla_owner_ids(c->f->owner, &c->uid, &c->gid, &missing) < 0)
                return differs(c, "owner '%s': no such %s in this container; the copy would "
                               "fail", c->f->owner, missing);
        c->set_owner = c->f->owner != NULL;
        gr = glob(c->f->source, 0, NULL, &g);
        if (gr == GLOB_NOMATCH) {
                globfree(&g);
                return c->f->optional ? 0
                                      : differs(c, "source %s: not there; the copy would fail",
                                                c->f->source);
        }
        if (gr != 0) {
                globfree(&g);
                return gr == GLOB_NOSPACE ? -ENOMEM : -EIO;
        }
        for (size_t i = 0; r == 0 && i < g.gl_pathc; i++) {
                r = dest_of(c->f, g.gl_pathv[i], dest);
                if (r == 0)
                        r = check_path(c, g.gl_pathv[i], dest, 0);
                if (r < 0)
                        differs(c, "cannot compare %s with %s: %s", g.gl_pathv[i], dest,
                                strerror(-r));
        }
        globfree(&g);
        return r;
}

int kolla_check_files(const struct kolla_config *k, char *what, size_t size)
{
        struct checker c = {.k = k, .what = what, .size = size};
        int r = 0;

        what[0] = '\0';
        for (c.index = 0; r == 0 && c.index < k->n_files; c.index++) {
                c.f = &k->files[c.index];
                r = check_entry(&c);
        }
        secret_free(c.a);
        secret_free(c.b);
        return r;
}
