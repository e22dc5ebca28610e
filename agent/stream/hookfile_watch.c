/* hookfile_watch: waiting for the hook file to change
 * (hookfile_internal.h): inotify on its directory (a new file at the path)
 * and on the open file itself, or a plain sleep without inotify; a
 * caller's wake-up descriptor ends the wait too. Returns 0 or -errno and
 * never logs. */
#include "hookfile_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/clock.h"

/* Follows the open file with inotify; the directory watch alone would lose
 * it once it is renamed away. /proc names exactly our inode. */
void hookfile_watch_file(struct hookfile *h)
{
        char proc[64];

        if (h->inotify_fd < 0)
                return;
        if (h->file_watch >= 0)
                (void)inotify_rm_watch(h->inotify_fd, h->file_watch);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", h->fd);
        h->file_watch = inotify_add_watch(h->inotify_fd, proc, IN_MODIFY);
        if (h->file_watch < 0)
                h->file_watch = inotify_add_watch(h->inotify_fd, h->path, IN_MODIFY);
}

/* Without inotify (limits reached, odd file system) hookfile_wait sleeps;
 * the caller's poll interval then bounds how late a line is seen. */
void hookfile_setup_inotify(struct hookfile *h)
{
        h->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (h->inotify_fd < 0)
                return;
        h->directory_watch = inotify_add_watch(h->inotify_fd, h->directory,
                                               IN_CREATE | IN_MOVED_TO | IN_MODIFY |
                                                       IN_CLOSE_WRITE);
        if (h->directory_watch < 0) {
                close(h->inotify_fd);
                h->inotify_fd = -1;
        }
}

static int sleep_ms(unsigned timeout_ms)
{
        if (poll(NULL, 0, (int)timeout_ms) < 0)
                return -errno;
        return 0;
}

static bool event_matters(const struct hookfile *h, const struct inotify_event *e)
{
        if (e->mask & IN_Q_OVERFLOW)
                return true;
        if (e->wd == h->file_watch)
                return true;
        return e->wd == h->directory_watch && e->len > 0 && strcmp(e->name, h->name) == 0;
}

/* Empties the inotify queue: 1 if any event concerns our file. */
static int drain_events(struct hookfile *h)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool matters = false;
        ssize_t n;

        for (;;) {
                n = read(h->inotify_fd, buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EAGAIN)
                                return matters;
                        if (errno == EINTR)
                                return -EINTR;
                        return -errno;
                }
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *)p;

                        matters = matters || event_matters(h, e);
                        p += sizeof(*e) + e->len;
                }
        }
}

int hookfile_wait(struct hookfile *h, unsigned timeout_ms)
{
        return hookfile_wait_fd(h, -1, timeout_ms);
}

int hookfile_wait_fd(struct hookfile *h, int wake_fd, unsigned timeout_ms)
{
        uint64_t deadline, now;
        int n, r;

        if (timeout_ms > HOOKFILE_WAIT_MAX_MS)
                timeout_ms = HOOKFILE_WAIT_MAX_MS;
        if (h->inotify_fd < 0 && wake_fd < 0)
                return sleep_ms(timeout_ms);
        deadline = clock_now_ms() + timeout_ms;
        for (;;) {
                /* An fd of -1 is skipped by poll. */
                struct pollfd pfd[2] = {{.fd = h->inotify_fd, .events = POLLIN},
                                        {.fd = wake_fd, .events = POLLIN}};

                now = clock_now_ms();
                n = poll(pfd, 2, now >= deadline ? 0 : (int)(deadline - now));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                if (pfd[1].revents & POLLIN) {
                        /* Woken by the caller's fd: what inotify holds is
                         * read too, or the next wait would not wait. */
                        if (pfd[0].revents & POLLIN)
                                (void)drain_events(h);
                        return 0;
                }
                r = drain_events(h);
                if (r != 0)
                        return r < 0 ? r : 0;
                /* Other files in a busy directory must not keep us past
                 * the deadline. */
                if (clock_now_ms() >= deadline)
                        return 0;
        }
}
