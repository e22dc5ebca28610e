/* header_map: header UUID -> the volumes whose keys open it (header_map.h). */
#include "header_map.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/uuid.h"
#include "ceph/ceph.h"

/* A LUKS UUID as libcryptsetup writes it: 8-4-4-4-12 hex digits. */
static bool is_header_uuid(const char *s)
{
        return uuid_is_valid(s);
}

int header_map_encode(const struct header_map_entry *e, char *key, size_t key_size, char *value,
                      size_t value_size)
{
        char deleted[24] = "-";
        const char *record = e->kind == HEADER_MAP_RECORD     ? e->record
                             : e->kind == HEADER_MAP_SHREDDED ? "shredded"
                                                              : "-";
        int n;

        if (!is_header_uuid(e->uuid) || !uuid_is_valid(e->volume_id) ||
            (e->kind == HEADER_MAP_RECORD &&
             (e->record[0] == '\0' || strpbrk(e->record, "\n\r") != NULL ||
              strcmp(e->record, "-") == 0 || strcmp(e->record, "shredded") == 0)))
                return -EINVAL;
        n = snprintf(key, key_size, "%s/%s", e->uuid, e->volume_id);
        if (n < 0 || (size_t)n >= key_size)
                return -E2BIG;
        if (e->deleted)
                snprintf(deleted, sizeof(deleted), "%" PRId64, e->deleted);
        n = snprintf(value, value_size, "v1 created=%" PRId64 " deleted=%s record=%s", e->created,
                     deleted, record);
        return n < 0 || (size_t)n >= value_size ? -E2BIG : 0;
}

/* "NAME=" at *s, the number after it (or "-" for 0), and the blank after. */
static int take_number(const char **s, const char *name, int64_t *ret)
{
        size_t n = strlen(name);
        char *end;

        if (strncmp(*s, name, n) != 0 || (*s)[n] != '=')
                return -EINVAL;
        *s += n + 1;
        if ((*s)[0] == '-' && (*s)[1] == ' ') {
                *ret = 0;
                *s += 2;
                return 0;
        }
        if (**s < '0' || **s > '9')
                return -EINVAL;
        errno = 0;
        *ret = (int64_t)strtoll(*s, &end, 10);
        if (errno || *end != ' ')
                return -EINVAL;
        *s = end + 1;
        return 0;
}

int header_map_decode(const char *key, const char *value, struct header_map_entry *ret)
{
        const char *slash = strchr(key, '/'), *s = value;
        size_t uuid_len = slash ? (size_t)(slash - key) : 0;

        *ret = (struct header_map_entry){.kind = HEADER_MAP_NONE};
        if (!slash || uuid_len >= sizeof(ret->uuid) || strlen(slash + 1) >= sizeof(ret->volume_id))
                return -EINVAL;
        memcpy(ret->uuid, key, uuid_len);
        ret->uuid[uuid_len] = '\0';
        snprintf(ret->volume_id, sizeof(ret->volume_id), "%s", slash + 1);
        if (!is_header_uuid(ret->uuid) || !uuid_is_valid(ret->volume_id) ||
            strncmp(s, "v1 ", 3) != 0)
                return -EINVAL;
        s += 3;
        if (take_number(&s, "created", &ret->created) < 0 ||
            take_number(&s, "deleted", &ret->deleted) < 0 || strncmp(s, "record=", 7) != 0)
                return -EINVAL;
        s += 7;
        if (strcmp(s, "-") == 0)
                ret->kind = HEADER_MAP_NONE;
        else if (strcmp(s, "shredded") == 0)
                ret->kind = HEADER_MAP_SHREDDED;
        else if (s[0] == '\0' || strlen(s) >= sizeof(ret->record))
                return -EINVAL;
        else {
                ret->kind = HEADER_MAP_RECORD;
                memcpy(ret->record, s, strlen(s) + 1);
        }
        return 0;
}

int header_map_put(struct ceph_cluster *c, const char *pool, const struct header_map_entry *e)
{
        char key[CEPH_INDEX_KEY_MAX + 1], value[CEPH_INDEX_VALUE_MAX + 1];
        int r = header_map_encode(e, key, sizeof(key), value, sizeof(value));

        return r < 0 ? r : ceph_omap_set(c, pool, CEPH_HEADERS_OBJECT, key, value);
}

int header_map_get(struct ceph_cluster *c, const char *pool, const char *uuid,
                   const char *volume_id, struct header_map_entry *ret)
{
        char key[CEPH_INDEX_KEY_MAX + 1], value[CEPH_INDEX_VALUE_MAX + 1];
        int n = snprintf(key, sizeof(key), "%s/%s", uuid, volume_id), r;

        if (n < 0 || (size_t)n >= sizeof(key) || !is_header_uuid(uuid) ||
            !uuid_is_valid(volume_id))
                return -EINVAL;
        r = ceph_omap_get(c, pool, CEPH_HEADERS_OBJECT, key, value, sizeof(value));
        return r < 0 ? r : header_map_decode(key, value, ret);
}

struct each_state {
        header_map_fn fn;
        void *opaque;
        struct header_map_entry entry;
};

static int each_entry(void *opaque, const char *key, const char *value)
{
        struct each_state *st = opaque;

        if (header_map_decode(key, value, &st->entry) < 0)
                return st->fn(st->opaque, key, NULL);
        return st->fn(st->opaque, key, &st->entry);
}

int header_map_each(struct ceph_cluster *c, const char *pool, const char *uuid, header_map_fn fn,
                    void *opaque)
{
        struct each_state st = {.fn = fn, .opaque = opaque};
        char prefix[HEADER_MAP_UUID_MAX + 1] = "";

        if (uuid[0]) {
                if (!is_header_uuid(uuid))
                        return -EINVAL;
                snprintf(prefix, sizeof(prefix), "%s/", uuid);
        }
        return ceph_omap_each(c, pool, CEPH_HEADERS_OBJECT, prefix, each_entry, &st, NULL);
}
