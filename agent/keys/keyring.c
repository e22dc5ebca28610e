/* keyring: cephx keys out of Ceph keyring files (keyring.h). The file is
 * small and holds secrets, so it is read whole into locked memory and
 * scanned there; nothing of it is copied to ordinary memory. */
#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keywrap.h"
#include "base/fdio.h"
#include "base/reason.h"

static int read_whole(const char *path, struct secret **ret, const char **ret_reason)
{
        struct secret *buf = NULL;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return reason_format(-errno, ret_reason, "cannot open keyring %s: %s", path,
                                     strerror(errno));
        r = secret_new(KEYRING_MAX_BYTES + 1, &buf);
        if (r >= 0)
                r = fd_read_all(fd, buf->data, KEYRING_MAX_BYTES + 1, &buf->len);
        close(fd);
        if (r >= 0 && buf->len > KEYRING_MAX_BYTES)
                r = reason_format(-EFBIG, ret_reason, "keyring %s is larger than %d bytes", path,
                                  KEYRING_MAX_BYTES);
        else if (r < 0)
                reason_format(r, ret_reason, "cannot read keyring %s: %s", path, strerror(-r));
        if (r < 0) {
                secret_free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

/* [start, end) without surrounding blanks. */
static void trim(const char **start, const char **end)
{
        while (*start < *end && (**start == ' ' || **start == '\t'))
                (*start)++;
        while (*end > *start && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
                (*end)--;
}

static bool is_section(const char *s, const char *e, const char *entity)
{
        size_t n = strlen(entity);

        return e - s == (ptrdiff_t)n + 2 && s[0] == '[' && e[-1] == ']' &&
               memcmp(s + 1, entity, n) == 0;
}

/* Ceph's own parser ends a line at '#' or ';' (a comment; neither is in a
 * base64 key or an entity name) and takes a value in double quotes too: a
 * keyring Ceph reads is read here the same way. */
static void cut_comment(const char *start, const char **end)
{
        for (const char *c = start; c < *end; c++)
                if (*c == '#' || *c == ';') {
                        *end = c;
                        return;
                }
}

static void unquote(const char **start, const char **end)
{
        if (*end - *start >= 2 && **start == '"' && (*end)[-1] == '"') {
                (*start)++;
                (*end)--;
        }
}

/* The value of "key = ..." in the entity's section, within buf. */
static int find_key(const char *buf, size_t len, const char *entity, const char **ret_value,
                    size_t *ret_len)
{
        const char *p = buf, *end = buf + len;
        bool in_section = false;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *s = p, *e = eol ? eol : end;

                p = eol ? eol + 1 : end;
                cut_comment(s, &e);
                trim(&s, &e);
                if (s < e && s[0] == '[') {
                        in_section = is_section(s, e, entity);
                        continue;
                }
                if (!in_section || e - s < 3 || strncmp(s, "key", 3) != 0)
                        continue;
                s += 3;
                trim(&s, &e);
                if (s == e || *s != '=')
                        continue;
                s++;
                trim(&s, &e);
                unquote(&s, &e);
                *ret_value = s;
                *ret_len = (size_t)(e - s);
                return 0;
        }
        return -ENOENT;
}

int keyring_read_key(const char *path, const char *entity, struct secret **ret_key,
                     const char **ret_reason)
{
        struct secret *buf = NULL;
        const char *value, *why = NULL;
        size_t len;
        int r;

        r = read_whole(path, &buf, ret_reason);
        if (r < 0)
                return r;
        r = find_key((const char *)buf->data, buf->len, entity, &value, &len);
        if (r < 0)
                reason_format(r, ret_reason, "keyring %s has no key for [%s]", path, entity);
        else if ((r = keywrap_decode_base64_secret(value, len, KEYRING_KEY_MIN, KEYRING_KEY_MAX,
                                                   ret_key, &why)) < 0)
                reason_format(r, ret_reason, "keyring %s: key of [%s] is not a cephx key (%s)",
                              path, entity, why);
        secret_free(buf);
        return r;
}
