/* secret: locked, undumpable, wiped memory for key material (secret.h). */
#include "secret.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* The struct and its bytes share one mapping so one munmap frees both. */
static size_t mapping_size(size_t capacity)
{
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t need = sizeof(struct secret) + capacity + 1;

        return (need + page - 1) / page * page;
}

int secret_new(size_t capacity, struct secret **ret)
{
        struct secret *s;
        size_t size;
        void *p;

        if (capacity == 0 || capacity > SECRET_MAX_BYTES)
                return -EINVAL;
        size = mapping_size(capacity);
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        if (mlock(p, size) < 0) {
                munmap(p, size);
                return -ENOMEM;
        }
        (void)madvise(p, size, MADV_DONTDUMP);
        (void)madvise(p, size, MADV_WIPEONFORK);
        s = p;
        s->len = 0;
        s->capacity = capacity;
        s->data = (unsigned char *)p + sizeof(struct secret);
        *ret = s;
        return 0;
}

void secret_free(struct secret *s)
{
        size_t size;

        if (!s)
                return;
        size = mapping_size(s->capacity);
        explicit_bzero(s, size);
        munlock(s, size);
        munmap(s, size);
}

int secret_to_hex(const struct secret *s, struct secret **ret)
{
        static const char digits[] = "0123456789abcdef";
        struct secret *hex;
        int r;

        if (s->len * 2 > SECRET_MAX_BYTES - 1)
                return -E2BIG;
        r = secret_new(s->len * 2 + 1, &hex);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->len; i++) {
                hex->data[2 * i] = (unsigned char)digits[s->data[i] >> 4];
                hex->data[2 * i + 1] = (unsigned char)digits[s->data[i] & 0x0f];
        }
        hex->len = s->len * 2;
        hex->data[hex->len] = '\0';
        *ret = hex;
        return 0;
}

bool secret_equal(const struct secret *a, const struct secret *b)
{
        volatile unsigned char diff;
        size_t n = a->len < b->len ? a->len : b->len;

        diff = (unsigned char)(a->len != b->len);
        for (size_t i = 0; i < n; i++)
                diff |= a->data[i] ^ b->data[i];
        return diff == 0;
}

int secret_harden_process(void)
{
        struct rlimit no_core = {0, 0}, lock;

        if (setrlimit(RLIMIT_CORE, &no_core) < 0)
                return -errno;
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        /* Every secret is locked: take all the locked memory the hard
         * limit allows (raising the soft limit needs no privilege). */
        if (getrlimit(RLIMIT_MEMLOCK, &lock) == 0 && lock.rlim_cur < lock.rlim_max) {
                lock.rlim_cur = lock.rlim_max;
                (void)setrlimit(RLIMIT_MEMLOCK, &lock);
        }
        return 0;
}

size_t secret_lock_limit(void)
{
        struct rlimit lock;

        if (getrlimit(RLIMIT_MEMLOCK, &lock) < 0 || lock.rlim_cur == RLIM_INFINITY)
                return SIZE_MAX;
        return (size_t)lock.rlim_cur;
}
