/* lockcookie: the cookie that names the holder of one of the agent's
 * advisory locks, and whether that holder is provably gone.
 *
 * A cookie reads "rbd-luks-agent host=H boot=B pidns=N pid=P instance=I
 * n=C time=T": host name, the kernel's boot id without dashes ("-" when it
 * cannot be read), the pid namespace's inode, pid, a random id of this
 * process's lock owner, a counter and the time it was made. No function
 * logs; lockcookie_owner_init returns 0 or -EIO (no random bytes). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOCKCOOKIE_MAX 256

/* Who makes cookies in this process; one per lock-taking context. */
struct lockcookie_owner {
        char host[65];
        char boot_id[33]; /* "" when it cannot be read */
        uint64_t pid_namespace;
        char instance[17];
        uint64_t counter; /* atomic */
};

int lockcookie_owner_init(struct lockcookie_owner *o);

/* A new cookie (the counter makes each one unique). Thread-safe. */
void lockcookie_make(struct lockcookie_owner *o, char *cookie, size_t size);

/* True when holder (another lock's cookie) is stale: its holder provably
 * dead (same boot of the same host, same pid namespace, another instance,
 * its pid gone or reused by this process) or its cookie older than
 * stale_after_s. A cookie that is not the agent's is never stale; one of an
 * earlier release (no boot=) only by its age. The boot id, not the host
 * name, says "same host": two hosts may share a name, and every host's
 * initial pid namespace has the same inode. */
bool lockcookie_is_stale(const struct lockcookie_owner *o, const char *holder,
                         unsigned stale_after_s);

/* One try at img's key-record lock (ceph_image_record_lock) under a new
 * cookie of o's (into cookie), breaking it first when its holder is stale
 * (*ret_broke then true, the break tried; the caller logs it). -EBUSY: held by a live
 * holder, named in holder; else ceph/ceph.h's errors. */
struct ceph_image;
int lockcookie_take_record_lock(struct lockcookie_owner *o, unsigned stale_after_s,
                                struct ceph_image *img, char *cookie, size_t cookie_size,
                                char *holder, size_t holder_size, bool *ret_broke);
