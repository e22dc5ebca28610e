/* volume_index: the pool's managed-volume list (volume_index.h). */
#include "volume_index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/uuid.h"
#include "ceph/ceph.h"

static const char *const state_names[] = {
        [VOLUME_INDEX_FORMATTED] = "formatted",
        [VOLUME_INDEX_REFUSED] = "refused",
        [VOLUME_INDEX_FAILED] = "failed",
        [VOLUME_INDEX_FOREIGN] = "foreign",
};

const char *volume_index_state_name(enum volume_index_state s)
{
        return (size_t)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

static bool plain(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               strchr("._@#:+-", c) != NULL;
}

/* " name=value", value percent-encoded, "-" for empty. */
static int put_field(char *buf, size_t size, size_t *len, const char *name, const char *value)
{
        int n = snprintf(buf + *len, size - *len, " %s=%s", name, value[0] ? "" : "-");

        if (n < 0 || (size_t)n >= size - *len)
                return -E2BIG;
        *len += (size_t)n;
        for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
                n = plain(*p) ? snprintf(buf + *len, size - *len, "%c", *p)
                                            : snprintf(buf + *len, size - *len, "%%%02X", *p);
                if (n < 0 || (size_t)n >= size - *len)
                        return -E2BIG;
                *len += (size_t)n;
        }
        return 0;
}

int volume_index_encode(const struct volume_index_entry *e, char *buf, size_t size)
{
        size_t len = 0;
        int n, r;

        if (!uuid_is_valid(e->volume_id) || (size_t)e->state >= 4)
                return -EINVAL;
        n = snprintf(buf, size, "v1 state=%s", volume_index_state_name(e->state));
        if (n < 0 || (size_t)n >= size)
                return -E2BIG;
        len = (size_t)n;
        r = put_field(buf, size, &len, "type", e->type);
        if (r >= 0)
                r = put_field(buf, size, &len, "host", e->host);
        if (r >= 0)
                r = put_field(buf, size, &len, "zone", e->zone);
        if (r >= 0)
                r = put_field(buf, size, &len, "uuid", e->uuid);
        if (r < 0)
                return r;
        n = snprintf(buf + len, size - len, " time=%" PRId64, e->time);
        return n < 0 || (size_t)n >= size - len ? -E2BIG : 0;
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Decodes [s, end) into out (size bytes with NUL); "-" is empty. */
static int get_field(const char *s, const char *end, char *out, size_t size)
{
        size_t len = 0;

        if (end - s == 1 && s[0] == '-') {
                out[0] = '\0';
                return 0;
        }
        for (const char *p = s; p < end; p++) {
                int c = (unsigned char)*p;

                if (c == '%') {
                        int hi = end - p >= 3 ? hex_value(p[1]) : -1;
                        int lo = hi >= 0 ? hex_value(p[2]) : -1;

                        if (lo < 0)
                                return -EINVAL;
                        c = hi * 16 + lo;
                        p += 2;
                        if (c < 0x20 || c == 0x7f)
                                return -EINVAL;
                } else if (!plain((unsigned char)c)) {
                        return -EINVAL;
                }
                if (len + 1 >= size)
                        return -EINVAL;
                out[len++] = (char)c;
        }
        out[len] = '\0';
        return 0;
}

static int parse_state(const char *s, size_t n, enum volume_index_state *ret)
{
        for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
                if (strlen(state_names[i]) == n && memcmp(s, state_names[i], n) == 0) {
                        *ret = (enum volume_index_state)i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_time(const char *s, const char *end, int64_t *ret)
{
        int64_t t = 0;

        if (s == end || end - s > 18)
                return -EINVAL;
        for (const char *p = s; p < end; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                t = t * 10 + (*p - '0');
        }
        *ret = t;
        return 0;
}

int volume_index_decode(const char *volume_id, const char *value, struct volume_index_entry *ret)
{
        static const char *const names[] = {"state", "type", "host", "zone", "uuid", "time"};
        struct volume_index_entry e = {0};
        const char *p = value;
        int r = 0;

        if (!uuid_is_valid(volume_id) || strncmp(p, "v1", 2) != 0)
                return -EINVAL;
        snprintf(e.volume_id, sizeof(e.volume_id), "%s", volume_id);
        p += 2;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && r >= 0; i++) {
                size_t name_len = strlen(names[i]);
                const char *v, *end;

                if (p[0] != ' ' || strncmp(p + 1, names[i], name_len) != 0 ||
                    p[1 + name_len] != '=')
                        return -EINVAL;
                v = p + 2 + name_len;
                end = v + strcspn(v, " ");
                switch (i) {
                case 0: r = parse_state(v, (size_t)(end - v), &e.state); break;
                case 1: r = get_field(v, end, e.type, sizeof(e.type)); break;
                case 2: r = get_field(v, end, e.host, sizeof(e.host)); break;
                case 3: r = get_field(v, end, e.zone, sizeof(e.zone)); break;
                case 4: r = get_field(v, end, e.uuid, sizeof(e.uuid)); break;
                default: r = parse_time(v, end, &e.time); break;
                }
                p = end;
        }
        if (r < 0 || *p != '\0')
                return -EINVAL;
        *ret = e;
        return 0;
}

int volume_index_put(struct ceph_cluster *c, const char *pool, const struct volume_index_entry *e)
{
        char value[CEPH_INDEX_VALUE_MAX + 1];
        int r = volume_index_encode(e, value, sizeof(value));

        if (r < 0)
                return r == -E2BIG ? -EINVAL : r;
        return ceph_omap_set(c, pool, CEPH_INDEX_OBJECT, e->volume_id, value);
}

int volume_index_remove(struct ceph_cluster *c, const char *pool, const char *volume_id)
{
        if (!uuid_is_valid(volume_id))
                return -EINVAL;
        return ceph_omap_remove(c, pool, CEPH_INDEX_OBJECT, volume_id);
}

int volume_index_get(struct ceph_cluster *c, const char *pool, const char *volume_id,
                     struct volume_index_entry *ret)
{
        char value[CEPH_INDEX_VALUE_MAX + 1];
        int r;

        if (!uuid_is_valid(volume_id))
                return -EINVAL;
        r = ceph_omap_get(c, pool, CEPH_INDEX_OBJECT, volume_id, value, sizeof(value));
        if (r < 0)
                return r == -ERANGE ? -EINVAL : r;
        return volume_index_decode(volume_id, value, ret);
}

struct each_state {
        volume_index_fn fn;
        void *opaque;
};

static int each_entry(void *opaque, const char *key, const char *value)
{
        struct each_state *st = opaque;
        struct volume_index_entry e;

        if (volume_index_decode(key, value, &e) < 0)
                return st->fn(st->opaque, key, NULL);
        return st->fn(st->opaque, key, &e);
}

int volume_index_each(struct ceph_cluster *c, const char *pool, volume_index_fn fn, void *opaque,
                      size_t *ret_reads)
{
        struct each_state st = {fn, opaque};

        return ceph_omap_each(c, pool, CEPH_INDEX_OBJECT, "", each_entry, &st, ret_reads);
}
