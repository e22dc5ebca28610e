/* kolla_json: config.json read and parsed into struct kolla_config
 * (kolla.h): the command (split by kolla_split_command, kolla.c), the
 * config_files and permissions entries with their paths, owners, modes and
 * flags checked, unknown keys kept as warnings. It only hands back an
 * error line (kolla_fail, kolla_internal.h, is defined here); kolla.c logs
 * it. */
#include "kolla.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fdio.h"
#include "base/json.h"
#include "base/text.h"
#include "kolla_internal.h"

#define OWNER_PART_MAX 32

/* ---- errors and warnings ------------------------------------------------- */

int kolla_fail(char *error, size_t size, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(error, size, fmt, ap);
        va_end(ap);
        return r;
}

__attribute__((format(printf, 2, 3))) static void warn(struct kolla_config *k, const char *fmt, ...)
{
        va_list ap;
        char *text;
        int n;

        if (k->n_warnings == KOLLA_MAX_WARNINGS) {
                k->dropped_warnings++;
                return;
        }
        va_start(ap, fmt);
        n = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (n < 0) {
                k->dropped_warnings++;
                return;
        }
        k->warnings[k->n_warnings++] = text;
}

/* ---- values -------------------------------------------------------------- */

int kolla_parse_perm(const char *text, int *ret)
{
        size_t n = strlen(text);
        int mode = 0;

        if (n < 3 || n > 4)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (text[i] < '0' || text[i] > '7')
                        return -EINVAL;
                mode = mode * 8 + (text[i] - '0');
        }
        *ret = mode;
        return 0;
}

/* A user or group: a name as useradd takes it, or a numeric id. */
static bool owner_part_ok(const char *s, size_t n)
{
        return n > 0 && n <= OWNER_PART_MAX && s[0] != '-' && text_is_portable(s, n);
}

static bool owner_ok(const char *owner)
{
        const char *colon = strchr(owner, ':');

        if (!colon)
                return owner_part_ok(owner, strlen(owner));
        return owner_part_ok(owner, (size_t)(colon - owner)) &&
               owner_part_ok(colon + 1, strlen(colon + 1));
}


/* ---- entries ------------------------------------------------------------- */

enum field_kind { FIELD_PATH, FIELD_OWNER, FIELD_PERM, FIELD_BOOL };

struct field {
        const char *name;
        enum field_kind kind;
        size_t offset;
        bool required;
};

#define FILE_FIELD(name, kind, f, req) {name, kind, offsetof(struct kolla_file, f), req}
#define PERMISSION_FIELD(name, kind, f, req) \
        {name, kind, offsetof(struct kolla_permission, f), req}

static const struct field file_fields[] = {
        FILE_FIELD("source", FIELD_PATH, source, true),
        FILE_FIELD("dest", FIELD_PATH, dest, true),
        FILE_FIELD("owner", FIELD_OWNER, owner, false),
        FILE_FIELD("perm", FIELD_PERM, perm, false),
        FILE_FIELD("optional", FIELD_BOOL, optional, false),
        FILE_FIELD("merge", FIELD_BOOL, merge, false),
        FILE_FIELD("preserve_properties", FIELD_BOOL, preserve_properties, false),
};

static const struct field permission_fields[] = {
        PERMISSION_FIELD("path", FIELD_PATH, path, true),
        PERMISSION_FIELD("owner", FIELD_OWNER, owner, false),
        PERMISSION_FIELD("perm", FIELD_PERM, perm, false),
        PERMISSION_FIELD("recurse", FIELD_BOOL, recurse, false),
};

/* What one list of config.json holds. */
struct list_kind {
        const char *name;
        const struct field *fields;
        size_t n_fields;
        size_t entry_size;
};

static const struct list_kind file_list = {"config_files", file_fields,
                                           sizeof(file_fields) / sizeof(file_fields[0]),
                                           sizeof(struct kolla_file)};
static const struct list_kind permission_list = {
        "permissions", permission_fields, sizeof(permission_fields) / sizeof(permission_fields[0]),
        sizeof(struct kolla_permission)};

/* Where the messages of one place in config.json start. */
struct where {
        const char *path;
        char label[64]; /* "config_files[2]: " or "" */
        char *error;
        size_t size;
};

static int string_value(const struct where *w, const struct field *f, json_object *v,
                        const char **ret)
{
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return kolla_fail(w->error, w->size, -EINVAL, "%s: %s'%s' must be a string",
                                  w->path, w->label, f->name);
        s = json_object_get_string(v);
        if (strlen(s) != (size_t)json_object_get_string_len(v))
                return kolla_fail(w->error, w->size, -EINVAL, "%s: %s'%s' holds a NUL byte",
                                  w->path, w->label, f->name);
        *ret = s;
        return 0;
}

static int store_value(const struct where *w, const struct field *f, json_object *v,
                       void *entry)
{
        void *field = (char *)entry + f->offset;
        const char *s = NULL;
        int r;

        if (f->kind == FIELD_BOOL) {
                if (!json_object_is_type(v, json_type_boolean))
                        return kolla_fail(w->error, w->size, -EINVAL,
                                    "%s: %s'%s' must be true or false", w->path, w->label,
                                    f->name);
                *(bool *)field = json_object_get_boolean(v);
                return 0;
        }
        r = string_value(w, f, v, &s);
        if (r < 0)
                return r;
        if (f->kind == FIELD_PERM) {
                if (kolla_parse_perm(s, (int *)field) < 0)
                        return kolla_fail(w->error, w->size, -EINVAL,
                                    "%s: %sperm '%s' is not an octal mode like \"0600\" (3 or "
                                    "4 digits 0-7)",
                                    w->path, w->label, s);
                return 0;
        }
        if (f->kind == FIELD_PATH && (s[0] != '/' || strlen(s) >= PATH_MAX))
                return kolla_fail(w->error, w->size, -EINVAL,
                            "%s: %s%s '%s' is not an absolute path (shorter than %d bytes)",
                            w->path, w->label, f->name, s, PATH_MAX);
        if (f->kind == FIELD_OWNER && !owner_ok(s))
                return kolla_fail(w->error, w->size, -EINVAL,
                            "%s: %sowner '%s' is not user or user:group (names or numeric "
                            "ids)",
                            w->path, w->label, s);
        *(char **)field = strdup(s);
        return *(char **)field ? 0 : kolla_fail(w->error, w->size, -ENOMEM, "out of memory");
}

static int parse_entry(struct kolla_config *k, const struct where *w, const struct list_kind *kind,
                       json_object *o, void *entry)
{
        int r;

        if (!json_object_is_type(o, json_type_object))
                return kolla_fail(w->error, w->size, -EINVAL, "%s: %snot an object", w->path,
                            w->label);
        json_object_object_foreach(o, key, value) {
                size_t i;

                (void)value;
                for (i = 0; i < kind->n_fields && strcmp(key, kind->fields[i].name) != 0; i++)
                        ;
                if (i == kind->n_fields)
                        warn(k, "%s: %sunknown key '%s' (ignored)", w->path, w->label, key);
        }
        for (size_t i = 0; i < kind->n_fields; i++) {
                const struct field *f = &kind->fields[i];
                json_object *v = NULL;

                if (f->kind == FIELD_PERM)
                        *(int *)((char *)entry + f->offset) = KOLLA_PERM_UNSET;
                if (!json_object_object_get_ex(o, f->name, &v) || !v) {
                        if (f->required)
                                return kolla_fail(w->error, w->size, -EINVAL, "%s: %smissing '%s'",
                                            w->path, w->label, f->name);
                        continue;
                }
                r = store_value(w, f, v, entry);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void free_entry(const struct list_kind *kind, void *entry)
{
        for (size_t i = 0; i < kind->n_fields; i++)
                if (kind->fields[i].kind == FIELD_PATH || kind->fields[i].kind == FIELD_OWNER)
                        free(*(char **)((char *)entry + kind->fields[i].offset));
}

/* A list key of config.json: absent or null is an empty list. */
static int parse_list(struct kolla_config *k, json_object *top, const struct list_kind *kind,
                      void **ret, size_t *ret_count, char *error, size_t size)
{
        struct where w = {.path = k->path, .error = error, .size = size};
        json_object *list = NULL;
        size_t n;
        char *entries;
        int r;

        if (!json_object_object_get_ex(top, kind->name, &list) || !list)
                return 0;
        if (!json_object_is_type(list, json_type_array))
                return kolla_fail(error, size, -EINVAL, "%s: %s must be a list", k->path,
                                  kind->name);
        n = json_object_array_length(list);
        if (n > KOLLA_MAX_ENTRIES)
                return kolla_fail(error, size, -E2BIG, "%s: %s has %zu entries (at most %d)",
                                  k->path, kind->name, n, KOLLA_MAX_ENTRIES);
        entries = calloc(n ? n : 1, kind->entry_size);
        if (!entries)
                return kolla_fail(error, size, -ENOMEM, "out of memory");
        /* Stored first so kolla_config_free() releases what a failure leaves. */
        *ret = entries;
        for (size_t i = 0; i < n; i++) {
                snprintf(w.label, sizeof(w.label), "%s[%zu]: ", kind->name, i);
                r = parse_entry(k, &w, kind, json_object_array_get_idx(list, i),
                                entries + i * kind->entry_size);
                *ret_count = i + 1;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_command(struct kolla_config *k, json_object *top, char *error, size_t size)
{
        json_object *v = NULL;
        const char *command;
        char why[256];
        int r;

        if (!json_object_object_get_ex(top, "command", &v) || !v)
                return kolla_fail(error, size, -EINVAL, "%s: missing 'command'", k->path);
        if (!json_object_is_type(v, json_type_string))
                return kolla_fail(error, size, -EINVAL, "%s: 'command' must be a string", k->path);
        command = json_object_get_string(v);
        if (strlen(command) != (size_t)json_object_get_string_len(v))
                return kolla_fail(error, size, -EINVAL, "%s: 'command' holds a NUL byte", k->path);
        r = kolla_split_command(command, &k->argv, why, sizeof(why));
        if (r < 0)
                return kolla_fail(error, size, r, "%s: %s", k->path, why);
        if (strpbrk(command, "'\""))
                warn(k, "%s: command is split on blanks only, with no shell: its quotes are "
                        "passed on as they are", k->path);
        return 0;
}

static int parse_top(struct kolla_config *k, json_object *top, char *error, size_t size)
{
        static const char *const known[] = {"command", "config_files", "permissions"};
        int r;

        if (!json_object_is_type(top, json_type_object))
                return kolla_fail(error, size, -EINVAL, "%s: not a JSON object", k->path);
        json_object_object_foreach(top, key, value) {
                size_t i;

                (void)value;
                for (i = 0; i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]); i++)
                        ;
                if (i == sizeof(known) / sizeof(known[0]))
                        warn(k, "%s: unknown key '%s' (ignored)", k->path, key);
        }
        r = parse_command(k, top, error, size);
        if (r == 0)
                r = parse_list(k, top, &file_list, (void **)&k->files, &k->n_files, error, size);
        if (r == 0)
                r = parse_list(k, top, &permission_list, (void **)&k->permissions,
                               &k->n_permissions, error, size);
        return r;
}

static int parse_json(const char *path, const char *text, size_t length, json_object **ret,
                      char *error, size_t size)
{
        struct json_doc_status st;

        /* kolla_parse() has refused a NUL byte already. */
        if (json_doc_parse(NULL, text, length, KOLLA_MAX_DEPTH, 0, ret, &st) == 0)
                return 0;
        if (st.error == JSON_DOC_NO_MEMORY)
                return kolla_fail(error, size, -ENOMEM, "out of memory");
        if (st.error == JSON_DOC_DEPTH)
                return kolla_fail(error, size, -EINVAL, "%s: JSON nested deeper than %d", path,
                            KOLLA_MAX_DEPTH);
        if (st.error == JSON_DOC_TRAILING)
                return kolla_fail(error, size, -EINVAL,
                            "%s: not valid JSON (more after the object, at byte %zu)", path,
                            st.offset);
        return kolla_fail(error, size, -EINVAL, "%s: not valid JSON (%s, near byte %zu)", path,
                    st.error == JSON_DOC_INCOMPLETE ? "incomplete"
                                                    : json_tokener_error_desc(st.tokener_error),
                    st.offset);
}

int kolla_parse(const char *path, const char *text, size_t length, struct kolla_config **ret,
                char *error, size_t size)
{
        struct kolla_config *k;
        json_object *top = NULL;
        int r;

        if (length > KOLLA_MAX_FILE_BYTES)
                return kolla_fail(error, size, -E2BIG, "%s: %zu bytes (at most %d)", path, length,
                            KOLLA_MAX_FILE_BYTES);
        if (memchr(text, '\0', length))
                return kolla_fail(error, size, -EINVAL, "%s: not valid JSON (a NUL byte)", path);
        k = calloc(1, sizeof(*k));
        if (!k || !(k->path = strdup(path))) {
                free(k);
                return kolla_fail(error, size, -ENOMEM, "out of memory");
        }
        r = parse_json(path, text, length, &top, error, size);
        if (r == 0)
                r = parse_top(k, top, error, size);
        json_object_put(top);
        if (r < 0) {
                kolla_config_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

/* The whole file, at most KOLLA_MAX_FILE_BYTES (+1 to see it is more). */
static int read_whole(int fd, char **ret, size_t *ret_length)
{
        char *buf = malloc(KOLLA_MAX_FILE_BYTES + 2);
        size_t length = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        r = fd_read_all(fd, buf, KOLLA_MAX_FILE_BYTES + 1, &length);
        if (r < 0) {
                free(buf);
                return r;
        }
        buf[length] = '\0';
        *ret = buf;
        *ret_length = length;
        return 0;
}

int kolla_load(const char *path, struct kolla_config **ret, char *error, size_t size)
{
        struct stat st;
        size_t length = 0;
        char *text = NULL;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 && errno == EACCES)
                return kolla_fail(error, size, -EACCES,
                            "%s: %s (the container user, uid %u, must be able to read it)", path,
                            strerror(EACCES), (unsigned)geteuid());
        if (fd < 0)
                return kolla_fail(error, size, -errno, "%s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return kolla_fail(error, size, r, "%s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return kolla_fail(error, size, -EINVAL, "%s: not a regular file", path);
        }
        r = read_whole(fd, &text, &length);
        close(fd);
        if (r < 0)
                return kolla_fail(error, size, r, "%s: cannot read: %s", path, strerror(-r));
        r = kolla_parse(path, text, length, ret, error, size);
        free(text);
        return r;
}

void kolla_config_free(struct kolla_config *k)
{
        if (!k)
                return;
        for (size_t i = 0; i < k->n_files; i++)
                free_entry(&file_list, &k->files[i]);
        for (size_t i = 0; i < k->n_permissions; i++)
                free_entry(&permission_list, &k->permissions[i]);
        free(k->files);
        free(k->permissions);
        for (size_t i = 0; i < k->n_warnings; i++)
                free(k->warnings[i]);
        kolla_argv_free(k->argv);
        free(k->path);
        free(k);
}
