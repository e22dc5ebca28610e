/* role_compute: the compute role — libvirt secrets for Nova, next to
 * nova-compute.
 *
 * Static secrets ([secret:NAME], e.g. the cephx secret every RBD disk
 * needs) are made to exist with their value at start, whenever libvirtd
 * comes back, on SIGHUP and every reconcile_interval_s. Volume passphrase
 * secrets (usage volume = volume id, the form Nova looks up) are defined
 * on attach events naming this host and removed on detach/delete events
 * unless a running domain still uses them; a periodic garbage collection
 * removes our volume secrets no defined domain references. The agent never
 * changes a secret it did not create.
 *
 * Events are handled one at a time, in hook-file order (an attach and the
 * detach after it must not swap). Both functions return the exit code. */
#pragma once

#include <stdbool.h>

#include "config/config.h"

int role_compute_run(const struct config *c, bool once);

/* `secrets list | provision VOLUME_ID | remove VOLUME_ID | gc [--dry-run]` */
int role_compute_secrets_command(const struct config *c, int argc, char **argv);
extern const char role_compute_secrets_usage[];
