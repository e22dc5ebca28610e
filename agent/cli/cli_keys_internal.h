/* cli_keys_internal: what the `keys` commands' files (cli_keys.c,
 * cli_keys_audit.c, cli_keys_rewrap.c) share: the session every command
 * runs in and the few steps more than one of them takes. Not an
 * interface for anyone else. Each returns the process exit code (0 ok,
 * 1 failure or finding), having logged why, unless it says otherwise. */
#pragma once

#include <stdbool.h>

#include "config/config.h"
#include "records/lockcookie.h"

struct ceph_image;

struct cli_keys_session {
        const struct config *config;
        struct keys *keys;
        struct ceph_cluster *cluster;
        struct lockcookie_owner lock_owner; /* cookies of the record locks rewrap takes */
};

/* cli_keys.c */
/* 0 when the volume's key opens its header; *ret_reason says why not
 * (a negative errno returned; nothing logged). */
int cli_keys_check_key(struct cli_keys_session *s, const char *volume_id, struct ceph_image *img,
                       const char **ret_reason);

/* cli_keys_audit.c */
/* The volume id in an image name, or NULL for images that are not volumes. */
const char *cli_keys_volume_id_of(const struct config *c, const char *name);
int cli_keys_audit(struct cli_keys_session *s, bool json);

/* cli_keys_rewrap.c */
int cli_keys_rewrap_all(struct cli_keys_session *s, bool dry_run);
