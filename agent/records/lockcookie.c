/* lockcookie: advisory-lock cookies and their staleness (lockcookie.h). */
#include "lockcookie.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ceph/ceph.h"

/* This kernel's boot id, without dashes: one per host and boot, shared by
 * its containers (hostnames and the initial pid namespace's inode are
 * not unique across hosts). "" when it cannot be read. */
static void read_boot_id(char out[33])
{
        char text[64] = "";
        size_t n = 0;
        FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

        out[0] = '\0';
        if (!f)
                return;
        if (fgets(text, sizeof(text), f))
                for (const char *p = text; *p && n < 32; p++)
                        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
                                out[n++] = *p;
        fclose(f);
        out[n == 32 ? n : 0] = '\0';
}

static uint64_t pid_namespace_id(void)
{
        struct stat st;

        return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

int lockcookie_owner_init(struct lockcookie_owner *o)
{
        unsigned char random[8];

        *o = (struct lockcookie_owner){0};
        if (gethostname(o->host, sizeof(o->host) - 1) < 0)
                strcpy(o->host, "unknown");
        o->pid_namespace = pid_namespace_id();
        read_boot_id(o->boot_id);
        if (getrandom(random, sizeof(random), 0) != sizeof(random))
                return -EIO;
        for (size_t i = 0; i < sizeof(random); i++)
                snprintf(o->instance + 2 * i, 3, "%02x", random[i]);
        return 0;
}

void lockcookie_make(struct lockcookie_owner *o, char *cookie, size_t size)
{
        uint64_t n = __atomic_add_fetch(&o->counter, 1, __ATOMIC_RELAXED);

        snprintf(cookie, size,
                 "rbd-luks-agent host=%s boot=%s pidns=%" PRIu64 " pid=%d instance=%s n=%" PRIu64
                 " time=%lld",
                 o->host, o->boot_id[0] ? o->boot_id : "-", o->pid_namespace, (int)getpid(),
                 o->instance, n, (long long)time(NULL));
}

struct cookie_fields {
        char host[65];
        char boot[33]; /* "" in cookies of earlier releases */
        uint64_t pidns;
        int pid;
        char instance[17];
        long long time;
};

static bool parse_cookie(const char *cookie, struct cookie_fields *f)
{
        unsigned long long n;

        f->boot[0] = '\0';
        if (sscanf(cookie,
                   "rbd-luks-agent host=%64s boot=%32s pidns=%" SCNu64 " pid=%d instance=%16s "
                   "n=%llu time=%lld",
                   f->host, f->boot, &f->pidns, &f->pid, f->instance, &n, &f->time) == 7) {
                if (strcmp(f->boot, "-") == 0)
                        f->boot[0] = '\0';
                return true;
        }
        /* A cookie without boot=: only its age can make it stale. */
        f->boot[0] = '\0';
        return sscanf(cookie,
                      "rbd-luks-agent host=%64s pidns=%" SCNu64 " pid=%d instance=%16s n=%llu "
                      "time=%lld",
                      f->host, &f->pidns, &f->pid, f->instance, &n, &f->time) == 6;
}

bool lockcookie_is_stale(const struct lockcookie_owner *o, const char *holder,
                         unsigned stale_after_s)
{
        struct cookie_fields f;

        if (!parse_cookie(holder, &f))
                return false;
        /* Our own instance's lock is either a live worker's or one we
         * failed to release; only its age can tell those apart. */
        if (f.boot[0] && o->boot_id[0] && strcmp(f.boot, o->boot_id) == 0 &&
            strcmp(f.host, o->host) == 0 && f.pidns == o->pid_namespace &&
            strcmp(f.instance, o->instance) != 0 &&
            (f.pid == (int)getpid() || (kill(f.pid, 0) < 0 && errno == ESRCH)))
                return true;
        return time(NULL) - f.time > (long long)stale_after_s;
}

int lockcookie_take_record_lock(struct lockcookie_owner *o, unsigned stale_after_s,
                                struct ceph_image *img, char *cookie, size_t cookie_size,
                                char *holder, size_t holder_size, bool *ret_broke)
{
        int r;

        *ret_broke = false;
        lockcookie_make(o, cookie, cookie_size);
        r = ceph_image_record_lock(img, cookie, holder, holder_size);
        if (r != -EBUSY || !lockcookie_is_stale(o, holder, stale_after_s))
                return r;
        *ret_broke = true; /* tried: the caller says so, whatever came of it */
        r = ceph_image_break_record_lock(img, holder);
        if (r < 0 && r != -ENOENT)
                return r;
        return ceph_image_record_lock(img, cookie, holder, holder_size);
}
