/* cli_keys_audit: `keys audit [--json]`: every volume image of the pool
 * classified (verified, luks-foreign, plain, broken) from its first
 * sector, its key record and whether its key opens its header; a line or
 * a JSON object each, exit 1 if any is broken. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli_keys_internal.h"
#include "base/uuid.h"
#include "volume/format.h"
#include "keys/keys.h"
#include "keys/keywrap.h"
#include "base/log.h"
#include "luks/luks.h"
#include "ceph/ceph.h"

struct finding {
        const char *class; /* verified | luks-foreign | plain | broken */
        char detail[FORMAT_REASON_MAX];
};

static void classify(struct cli_keys_session *s, const char *volume_id, struct ceph_image *img,
                     struct finding *f)
{
        char record[KEYWRAP_RECORD_MAX], first[LUKS_SECTOR];
        bool metadata = keys_stored_in_image(s->keys);
        bool has_record = false, has_header;
        const char *why = NULL;
        int r;

        r = ceph_image_read(img, 0, sizeof(first), (unsigned char *)first);
        has_header = r >= 0 && luks_has_magic((unsigned char *)first, sizeof(first), NULL);
        if (metadata)
                has_record = keys_read_record(img, record, sizeof(record)) != -ENOENT;
        if (r < 0) {
                f->class = "broken";
                snprintf(f->detail, sizeof(f->detail), "cannot read the image: %s", strerror(-r));
        } else if (has_header && (has_record || !metadata)) {
                r = cli_keys_check_key(s, volume_id, img, &why);
                f->class = r >= 0 ? "verified" : has_record ? "broken" : "luks-foreign";
                snprintf(f->detail, sizeof(f->detail), "%s",
                         r >= 0 ? "key opens the LUKS keyslot" : why);
        } else if (has_header) {
                f->class = "luks-foreign";
                snprintf(f->detail, sizeof(f->detail),
                         "LUKS header without a wrapped key (made by Cinder or by hand)");
        } else if (has_record) {
                f->class = "broken";
                snprintf(f->detail, sizeof(f->detail),
                         "wrapped key but no LUKS header (interrupted format? run: format %s)",
                         volume_id);
        } else {
                f->class = "plain";
                snprintf(f->detail, sizeof(f->detail), "no LUKS header, no wrapped key");
        }
}

/* The volume id in an image name, or NULL for images that are not volumes. */
const char *cli_keys_volume_id_of(const struct config *c, const char *name)
{
        size_t n = strlen(c->image_prefix);

        return strncmp(name, c->image_prefix, n) == 0 && uuid_is_valid(name + n) ? name + n
                                                                                    : NULL;
}

static void print_finding(json_object *list, const char *id, const char *name,
                          const struct finding *f)
{
        json_object *o;

        if (!list) {
                printf("%-36s  %-12s  %s\n", id, f->class, f->detail);
                return;
        }
        o = json_object_new_object();
        json_object_object_add(o, "volume_id", json_object_new_string(id));
        json_object_object_add(o, "image", json_object_new_string(name));
        json_object_object_add(o, "class", json_object_new_string(f->class));
        json_object_object_add(o, "detail", json_object_new_string(f->detail));
        json_object_array_add(list, o);
}

int cli_keys_audit(struct cli_keys_session *s, bool json)
{
        json_object *list = json ? json_object_new_array() : NULL;
        unsigned broken = 0, volumes = 0;
        char **names = NULL;
        size_t n = 0;
        int r;

        r = ceph_pool_list_images(s->cluster, s->config->pool, &names, &n);
        if (r < 0) {
                log_error("cannot list images of pool %s: %s", s->config->pool, strerror(-r));
                json_object_put(list);
                return 1;
        }
        for (size_t i = 0; i < n; i++) {
                const char *id = cli_keys_volume_id_of(s->config, names[i]);
                struct finding f = {"broken", ""};
                struct ceph_image *img;

                if (!id)
                        continue;
                volumes++;
                r = ceph_image_open(s->cluster, s->config->pool, names[i], &img);
                if (r < 0)
                        snprintf(f.detail, sizeof(f.detail), "cannot open: %s", strerror(-r));
                else
                        classify(s, id, img, &f);
                if (r >= 0)
                        ceph_image_close(img);
                broken += strcmp(f.class, "broken") == 0;
                print_finding(list, id, names[i], &f);
        }
        if (list) {
                printf("%s\n", json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY |
                                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(list);
        }
        log_info("audit of pool %s: %u volumes, %u broken", s->config->pool, volumes, broken);
        ceph_names_free(names, n);
        return broken ? 1 : 0;
}
