/* virt_events: watching (virt.h): libvirt's default event loop on a thread
 * of its own, the secret, domain and close events it delivers as one
 * process-wide queue of notices behind an eventfd, and keepalive.
 *
 * Errors: 0 or a negative errno plus a reason "<what>: <libvirt's message>". */
#include "virt_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "base/reason.h"

#define SECRETS_KEEPALIVE_S 5
#define SECRETS_KEEPALIVE_COUNT 3

/* --- watching: libvirt's events -------------------------------------- */

/* One queue per process: libvirt's default event loop is process-wide
 * too, and the compute role has one connection. Callbacks run on the
 * event-loop thread; they only copy what the event carries (no call back
 * into libvirt) and wake the reader through an eventfd. */
/* A ring touches all of its pages over time: 1024 notices (300 KiB). More
 * waiting at once (an undefine storm) overflow, and a full reconcile
 * follows, which puts back whatever the lost notices said. */
#define WATCH_QUEUE_MAX 1024

static struct virt_notice watch_queue[WATCH_QUEUE_MAX]; /* zeroed: .bss, not the binary */

static struct {
        pthread_mutex_t lock;
        size_t head, count;
        bool overflowed;
        int wake_fd;
        bool loop_started;
} watch = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1};

static void watch_push(const struct virt_notice *n)
{
        uint64_t one = 1;

        pthread_mutex_lock(&watch.lock);
        if (watch.count == WATCH_QUEUE_MAX) {
                watch.overflowed = true;
        } else {
                watch_queue[(watch.head + watch.count) % WATCH_QUEUE_MAX] = *n;
                watch.count++;
        }
        pthread_mutex_unlock(&watch.lock);
        if (watch.wake_fd >= 0)
                (void)!write(watch.wake_fd, &one, sizeof(one));
}

static void on_secret_lifecycle(virConnectPtr conn, virSecretPtr secret, int event, int detail,
                                void *opaque)
{
        struct virt_notice n = {0};
        const char *usage_id = virSecretGetUsageID(secret);

        (void)conn;
        (void)detail;
        (void)opaque;
        /* Only an undefine calls for action: the queue does not carry the
         * agent's own defines (10,000 of them in a start-up reconcile). */
        if (event != VIR_SECRET_EVENT_UNDEFINED)
                return;
        n.kind = VIRT_NOTICE_SECRET_UNDEFINED;
        n.usage = virt_usage_from_type(virSecretGetUsageType(secret));
        snprintf(n.name, sizeof(n.name), "%s", usage_id ? usage_id : "");
        (void)virSecretGetUUIDString(secret, n.uuid);
        watch_push(&n);
}

static void on_domain_lifecycle(virConnectPtr conn, virDomainPtr domain, int event, int detail,
                                void *opaque)
{
        struct virt_notice n = {.kind = VIRT_NOTICE_DOMAIN_CHANGED};
        const char *name = virDomainGetName(domain);

        (void)conn;
        (void)detail;
        (void)opaque;
        if (event != VIR_DOMAIN_EVENT_STARTED && event != VIR_DOMAIN_EVENT_RESUMED &&
            event != VIR_DOMAIN_EVENT_DEFINED)
                return;
        snprintf(n.name, sizeof(n.name), "%s", name ? name : "");
        watch_push(&n);
}

static void on_device_added(virConnectPtr conn, virDomainPtr domain, const char *alias,
                            void *opaque)
{
        struct virt_notice n = {.kind = VIRT_NOTICE_DOMAIN_CHANGED};
        const char *name = virDomainGetName(domain);

        (void)conn;
        (void)alias;
        (void)opaque;
        snprintf(n.name, sizeof(n.name), "%s", name ? name : "");
        watch_push(&n);
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
        struct virt_notice n = {.kind = VIRT_NOTICE_CONNECTION_CLOSED};

        (void)conn;
        (void)reason;
        (void)opaque;
        watch_push(&n);
}

static void *event_loop_main(void *arg)
{
        (void)arg;
        for (;;)
                if (virEventRunDefaultImpl() < 0)
                        usleep(100 * 1000); /* never spin on a broken loop */
        return NULL;
}

static int start_event_loop(const char **ret_reason)
{
        pthread_attr_t attr;
        pthread_t thread;
        sigset_t all, old;
        int r;

        if (watch.loop_started)
                return 0;
        watch.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (watch.wake_fd < 0)
                return reason_format(-errno, ret_reason, "cannot make an eventfd: %s",
                                     strerror(errno));
        /* The loop thread takes no signal: the reader's handlers stay the
         * only ones that run. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&thread, &attr, event_loop_main, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                return reason_format(-r, ret_reason, "cannot start libvirt's event loop: %s",
                                     strerror(r));
        watch.loop_started = true;
        return 0;
}

int virt_watch(struct secrets *s, const char **ret_reason)
{
        int r;

        if (s->watching)
                return 0;
        r = start_event_loop(ret_reason);
        if (r < 0)
                return r;
        s->secret_callback = virConnectSecretEventRegisterAny(
                s->conn, NULL, VIR_SECRET_EVENT_ID_LIFECYCLE,
                VIR_SECRET_EVENT_CALLBACK(on_secret_lifecycle), NULL, NULL);
        if (s->secret_callback < 0)
                return virt_fail(s, ret_reason, "registering for libvirt secret events");
        /* Domains: best effort, the embedded secret driver has none. */
        s->domain_callback = virConnectDomainEventRegisterAny(
                s->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                VIR_DOMAIN_EVENT_CALLBACK(on_domain_lifecycle), NULL, NULL);
        if (s->domain_callback < 0)
                virResetLastError();
        s->device_callback = virConnectDomainEventRegisterAny(
                s->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                VIR_DOMAIN_EVENT_CALLBACK(on_device_added), NULL, NULL);
        if (s->device_callback < 0)
                virResetLastError();
        if (virConnectRegisterCloseCallback(s->conn, on_close, NULL, NULL) == 0)
                s->close_callback = true;
        else
                virResetLastError();
        /* With the loop running, libvirt can keep the connection alive and
         * notice a dead daemon by itself. */
        if (virConnectSetKeepAlive(s->conn, SECRETS_KEEPALIVE_S, SECRETS_KEEPALIVE_COUNT) < 0)
                virResetLastError();
        s->watching = true;
        return 0;
}

int virt_watch_fd(void)
{
        return watch.wake_fd;
}

bool virt_next_notice(struct virt_notice *ret, bool *ret_overflowed)
{
        uint64_t drained;
        bool got = false;

        if (watch.wake_fd >= 0)
                (void)!read(watch.wake_fd, &drained, sizeof(drained));
        pthread_mutex_lock(&watch.lock);
        if (ret_overflowed) {
                *ret_overflowed = watch.overflowed;
                watch.overflowed = false;
        }
        if (watch.count) {
                *ret = watch_queue[watch.head];
                watch.head = (watch.head + 1) % WATCH_QUEUE_MAX;
                watch.count--;
                got = true;
        }
        pthread_mutex_unlock(&watch.lock);
        /* More left: keep the fd readable for the next poll. */
        if (got && watch.count && watch.wake_fd >= 0) {
                uint64_t one = 1;

                (void)!write(watch.wake_fd, &one, sizeof(one));
        }
        return got;
}

void virt_unwatch(struct secrets *s)
{
        if (!s->watching)
                return;
        if (s->secret_callback >= 0)
                (void)virConnectSecretEventDeregisterAny(s->conn, s->secret_callback);
        if (s->domain_callback >= 0)
                (void)virConnectDomainEventDeregisterAny(s->conn, s->domain_callback);
        if (s->device_callback >= 0)
                (void)virConnectDomainEventDeregisterAny(s->conn, s->device_callback);
        if (s->close_callback)
                (void)virConnectUnregisterCloseCallback(s->conn, on_close);
        virResetLastError();
        s->watching = false;
}
