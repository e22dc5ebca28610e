/* secretfile: one careful read of a key or KEK file into locked memory
 * (secretfile.h).
 *
 * Returns 0 or a negative errno with a reason (reason.h); never logs. */
#include "secretfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "reason.h"

static int open_failure(const char *path, const char *what, int r, const char **ret_reason)
{
        if (r == -ENOENT)
                return reason_format(r, ret_reason, "%s %s not found", what, path);
        /* O_NOFOLLOW: a link could point a volume at another volume's key,
         * or swap in another KEK behind our back. */
        if (r == -ELOOP)
                return reason_format(r, ret_reason,
                                     "%s %s is a symbolic link; refusing to follow it", what, path);
        return reason_format(r, ret_reason, "cannot open %s %s: %s", what, path, strerror(-r));
}

static int size_failure(const char *path, const char *what, unsigned long long size,
                        size_t min_bytes, size_t max_bytes, const char **ret_reason)
{
        if (min_bytes == max_bytes)
                return reason_format(-EBADMSG, ret_reason,
                                     "%s %s is %llu bytes; it must be exactly %zu bytes", what,
                                     path, size, min_bytes);
        return reason_format(-EBADMSG, ret_reason, "%s %s is %llu bytes; it must be %zu to %zu bytes",
                             what, path, size, min_bytes, max_bytes);
}

static int check_stat(const char *path, const char *what, const struct stat *st,
                      size_t min_bytes, size_t max_bytes, const char **ret_reason)
{
        unsigned long long size;

        if (!S_ISREG(st->st_mode))
                return reason_format(-EINVAL, ret_reason, "%s %s is not a regular file", what, path);
        if (st->st_mode & (S_IRWXG | S_IRWXO))
                return reason_format(-EPERM, ret_reason,
                                     "%s %s is accessible by group or others (mode %04o); "
                                     "chmod 600 it",
                                     what, path, (unsigned)(st->st_mode & 07777));
        size = st->st_size < 0 ? 0 : (unsigned long long)st->st_size;
        if (size < min_bytes || size > max_bytes)
                return size_failure(path, what, size, min_bytes, max_bytes, ret_reason);
        return 0;
}

static int read_secret(int fd, const char *path, const char *what, size_t min_bytes,
                       size_t max_bytes, struct secret **ret, const char **ret_reason)
{
        struct secret *s = NULL;
        int r;

        /* One byte of room more than the file may have: a file that grew
         * after fstat() is caught instead of cut short. */
        r = secret_new(max_bytes + 1, &s);
        if (r < 0)
                return reason_format(r, ret_reason, "cannot get locked memory for %s %s", what,
                                     path);
        r = fd_read_all(fd, s->data, s->capacity, &s->len);
        if (r < 0)
                r = reason_format(r, ret_reason, "cannot read %s %s: %s", what, path, strerror(-r));
        else if (s->len < min_bytes || s->len > max_bytes)
                r = reason_format(-EBADMSG, ret_reason,
                                  "%s %s changed size while being read (%zu bytes)", what, path,
                                  s->len);
        if (r < 0) {
                secret_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int secretfile_read(const char *path, const char *what, size_t min_bytes, size_t max_bytes,
                    struct secret **ret, const char **ret_reason)
{
        struct stat st;
        int fd, r;

        if (!what || min_bytes > max_bytes || max_bytes >= SECRET_MAX_BYTES)
                return reason_set(-EINVAL, ret_reason, "bad arguments for reading a secret file");
        if (!path)
                return reason_format(-EINVAL, ret_reason, "no %s given", what);
        /* O_NONBLOCK: a FIFO planted at the path must not hang the caller;
         * it is refused as not a regular file right after. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return open_failure(path, what, -errno, ret_reason);
        if (fstat(fd, &st) < 0) {
                r = -errno;
                r = reason_format(r, ret_reason, "cannot stat %s %s: %s", what, path, strerror(-r));
                goto out;
        }
        r = check_stat(path, what, &st, min_bytes, max_bytes, ret_reason);
        if (r < 0)
                goto out;
        r = read_secret(fd, path, what, min_bytes, max_bytes, ret, ret_reason);
out:
        close(fd);
        return r;
}

int secretfile_read_password(const char *path, struct secret **ret, const char **ret_reason)
{
        struct secret *raw = NULL, *password = NULL;
        size_t n;
        int r;

        r = secretfile_read(path, "password file", 1, SECRETFILE_PASSWORD_MAX, &raw, ret_reason);
        if (r < 0)
                return r;
        n = raw->len;
        if (n > 0 && raw->data[n - 1] == '\n')
                n--;
        if (n > 0 && raw->data[n - 1] == '\r')
                n--;
        if (n == 0 || memchr(raw->data, '\0', n)) {
                r = reason_format(-EBADMSG, ret_reason, "password file %s %s", path,
                                  n == 0 ? "is empty" : "holds a NUL byte");
                secret_free(raw);
                return r;
        }
        r = secret_new(n + 1, &password);
        if (r == 0) {
                memcpy(password->data, raw->data, n);
                password->len = n;
                *ret = password;
        } else {
                reason_format(r, ret_reason, "no locked memory for the password from %s: %s", path,
                              strerror(-r));
        }
        secret_free(raw);
        return r;
}
