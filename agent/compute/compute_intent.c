/* compute_intent: what one event asks of this host's secret for its
 * volume, decided from the event and the host name alone (no libvirt, no
 * Ceph, no keys): a placeholder, the real value, a removal, or nothing. */
#include <string.h>

#include "compute_internal.h"
#include "stream/event.h"

/* Nova and Cinder record either the short or the full host name. */
bool compute_same_host(const char *a, const char *b)
{
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");

        return strcmp(a, b) == 0 || (la == lb && strncmp(a, b, la) == 0);
}

static bool attached_here(const char *host, const struct event *ev)
{
        for (size_t i = 0; i < ev->n_attached_hosts; i++)
                if (compute_same_host(ev->attached_hosts[i], host))
                        return true;
        return false;
}

enum compute_intent compute_intent_of(const char *host, const struct event *ev)
{
        const char *t = ev->event_type;

        if (!ev->is_volume)
                return COMPUTE_INTENT_NONE;
        /* An image Cinder manages from now on is a new volume too. */
        if (strcmp(t, "volume.create.start") == 0 || strcmp(t, "volume.manage_existing.start") == 0)
                return COMPUTE_INTENT_PLACEHOLDER;
        /* A volume retyped while attached is left as it is by the volume
         * agent: a placeholder would fail its next attach, and the
         * raw-disk check would pause the guest that has its plain data. */
        if (strcmp(t, "volume.retype") == 0 && !event_volume_available(ev))
                return COMPUTE_INTENT_NONE;
        if (event_sets_type(t))
                return COMPUTE_INTENT_PROVISION;
        if (strncmp(t, "volume.attach.", strlen("volume.attach.")) == 0)
                return attached_here(host, ev) ? COMPUTE_INTENT_PROVISION : COMPUTE_INTENT_NONE;
        if (strncmp(t, "volume.delete.", strlen("volume.delete.")) == 0)
                return COMPUTE_INTENT_REMOVE;
        return COMPUTE_INTENT_NONE;
}
