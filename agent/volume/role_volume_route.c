/* role_volume_route: which way one event that passed intake goes in the
 * volume role (a job for the workers, skipped with the reason, ignored),
 * decided from the config and the event alone, without Ceph. */
#include "role_volume_internal.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "stream/event.h"

/* A volume.retype onto a named host outside [volume] backends (set). */
bool role_volume_retyped_away(const struct config *c, const struct event *ev)
{
        return strcmp(ev->event_type, "volume.retype") == 0 && ev->volume_host[0] &&
               !config_wants_backend(c, ev->volume_host);
}

/* Why an event that passed intake is not acted on, into why; false when it
 * is to be acted on. */
static bool not_ours(const struct config *c, const struct event *ev, char *why, size_t size)
{
        bool retype = strcmp(ev->event_type, "volume.retype") == 0;
        bool resize = strcmp(ev->event_type, "volume.resize.end") == 0;
        const char *type = ev->has_volume_type ? ev->volume_type : NULL;

        /* An extend is decided by the image's own state, whatever the type
         * now: one of the agent's volumes retyped away stays encrypted, and
         * Cinder's extend still cuts its payload offset off. */
        if (!resize && !config_wants_type(c, type)) {
                if (retype)
                        snprintf(why, size, "retyped to %s, which is not in [volume] types: the "
                                 "image is left as it is (a volume rbd-luks-agent formatted stays "
                                 "encrypted under its key, and its index entry keeps its "
                                 "secrets on the compute hosts); its extends are still grown "
                                 "back, its snapshots and clones are not handled from now on",
                                 type ? type : "(none)");
                else
                        snprintf(why, size, "volume type %s is not in [volume] types",
                                 type ? type : "(none)");
                return true;
        }
        if (!config_wants_backend(c, ev->volume_host)) {
                if (ev->volume_host[0])
                        snprintf(why, size, "volume host %s is not on a backend in [volume] "
                                 "backends", ev->volume_host);
                else
                        snprintf(why, size, "the event names no volume host; [volume] backends "
                                 "is set");
                return true;
        }
        if (event_sets_type(ev->event_type) && !event_volume_available(ev)) {
                if (retype)
                        snprintf(why, size, "retyped while '%s': nothing is formatted or "
                                 "converted under a guest; detach it and run `rbd-luks-agent "
                                 "format %s`", ev->status, ev->volume_id);
                else
                        snprintf(why, size, "volume status is '%s', not 'available'",
                                 ev->status);
                return true;
        }
        return false;
}

enum volume_route role_volume_route(const struct config *c, const struct event *ev, char *why,
                                    size_t size)
{
        /* A delete, and a restore (its volume is the backup's source,
         * whatever its type and host now), are jobs whatever the
         * volume's type. */
        if (strcmp(ev->event_type, "volume.delete.end") == 0 ||
            strcmp(ev->event_type, "backup.restore.end") == 0 || role_volume_retyped_away(c, ev))
                return VOLUME_ROUTE_JOB;
        if (!event_sets_type(ev->event_type) && strcmp(ev->event_type, "volume.resize.end") != 0)
                return VOLUME_ROUTE_IGNORE;
        if (not_ours(c, ev, why, size))
                return VOLUME_ROUTE_SKIP;
        return VOLUME_ROUTE_JOB;
}
