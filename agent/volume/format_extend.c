/* format_extend: a volume.resize.end's job (format.h): for a header this
 * agent finished, read without a lock, the image grown back to the new size
 * and the payload offset that Cinder's RBD extend cut off (never shrunk),
 * the state's payload= following. */
#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ceph/ceph.h"
#include "format_internal.h"
#include "luks/luks.h"

/* j->image opened; false (ended) when it cannot be. */
static bool open_image(struct job *j, struct ceph_cluster *cluster)
{
        int r = ceph_image_open(cluster, j->ctx->config->pool, j->image_name, &j->image);

        if (r < 0)
                format_open_failed(j, r);
        return r >= 0;
}

/* The image's first 4 KiB and the state, read (no lock, as for
 * decided_unlocked): true when the header is ours and finished, with the
 * state's payload and offset (into j) and the header's UUID; false (ended)
 * otherwise. */
static bool extendable(struct job *j, char ret_uuid[40])
{
        unsigned char head[PHDR_BLOCK];
        uint64_t payload, offset;

        if (!format_peek(j, head))
                return false;
        if (j->has_state && job_parse_state(j->state, "writing", &payload, &offset)) {
                job_end(j, OUTCOME_SKIPPED, false, "its format has not finished (%s); that format "
                    "sizes the image from its own event", j->state);
                return false;
        }
        if (!j->has_state || !job_parse_state(j->state, "formatted", &j->payload, &j->offset)) {
                job_end(j, OUTCOME_SKIPPED, false,
                    "not formatted by rbd-luks-agent: nothing to grow");
                return false;
        }
        if (j->size < sizeof(head) || !luks_has_magic(head, sizeof(head), NULL)) {
                job_end(j, OUTCOME_FAILED, false, "state says formatted (%s) but the image does not "
                    "start with a LUKS header; not resized", j->state);
                return false;
        }
        (void)luks_header_uuid(head, sizeof(head), ret_uuid);
        return true;
}

/* To size_bytes + the payload offset, never smaller; the state's payload=
 * follows. */
static void grow_to(struct job *j, uint64_t size_bytes, const char *uuid)
{
        uint64_t offset = j->offset, target = size_bytes + offset, was = j->size;
        int r;

        if (was > target) {
                job_end(j, OUTCOME_SKIPPED, false, "image is %" PRIu64 " bytes, more than the %" PRIu64
                    " of this size and the payload offset: never shrunk", was, target);
                return;
        }
        if (was == target && j->payload == size_bytes) {
                job_end(j, OUTCOME_SKIPPED, false, "image is already %" PRIu64 " bytes (%" PRIu64
                    " for the guest, payload offset %" PRIu64 ")", target, size_bytes, offset);
                return;
        }
        if (was < target && (r = ceph_image_resize(j->image, target)) < 0) {
                job_end_ceph_error(j, "cannot grow", r);
                return;
        }
        j->payload = size_bytes;
        if (job_set_state(j, "formatted", uuid) < 0)
                return;
        job_end(j, OUTCOME_RESIZED, false, "image grown from %" PRIu64 " to %" PRIu64 " bytes: qemu "
            "shows exactly %" PRIu64 " bytes (payload offset %" PRIu64 ")", was, target,
            size_bytes, offset);
}

void format_extend(struct format_context *ctx, const char *volume_id, uint64_t size_bytes,
                   struct format_result *ret)
{
        struct client *client;
        char uuid[40] = "";
        struct job j;

        if (!format_job_begin(&j, ctx, volume_id, ret, &client))
                return;
        if (open_image(&j, client->cluster)) {
                if (extendable(&j, uuid))
                        grow_to(&j, size_bytes, uuid);
                ceph_image_close(j.image);
        }
        format_client_release(ctx, client, j.retire_client);
}
