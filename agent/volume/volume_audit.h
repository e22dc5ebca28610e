/* volume_audit: the volume role's periodic comparison of its volume index
 * with the images in the pool.
 *
 * Cinder moves a volume between backends by host copy without a
 * notification: the target volume is made unannounced
 * (cinder/volume/flows/manager/create_volume.py:1372-1378), and the old
 * image goes away without a volume.delete.end. The index entry then names
 * an image that is not there, and the moved copy lost the guest's last
 * payload-offset bytes (docs/decisions.md, "Migrations between backends").
 * An operator or script removing an image outside Cinder looks the same.
 *
 * Every [volume] audit_interval_s: one listing of the pool's images, one
 * walk of the index. An entry whose image (and any conversion's image of
 * that name) is missing in two looks in a row is reported once: a result
 * line (outcome failed, event type rbd-luks-agent.audit) and an error in
 * the log. Two looks, because a delete in flight is missing in one: its
 * delete.end removes the entry. Nothing is changed: the entry and the
 * header map record stay (the moved ciphertext still needs that key);
 * `index rebuild` removes the entry.
 *
 * Functions return 0 or a negative errno; the thread logs what it finds. */
#pragma once

#include "config/config.h"
#include "format.h"
#include "stream/results.h"

#define VOLUME_AUDIT_EVENT "rbd-luks-agent.audit"

struct volume_audit;

/* An audit on the format context's Ceph client, its findings to results.
 * With start_thread, a thread looks every config->audit_interval_s (none
 * when 0); without, only volume_audit_look() does. */
int volume_audit_new(const struct config *c, struct format_context *f, struct results *r,
                     bool start_thread, struct volume_audit **ret);
void volume_audit_free(struct volume_audit *a); /* stops the thread; NULL: no-op */

/* One look. *ret_missing: entries missing now; *ret_reported: those newly
 * reported by this look. */
int volume_audit_look(struct volume_audit *a, size_t *ret_missing, size_t *ret_reported);
