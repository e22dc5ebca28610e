/* Unit tests for secret.c's process settings, each in a child process so
 * the runner's own limits stay as they are. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "luks/keyslot.h"
#include "base/secret.h"
#include "../unit.h"

static int soft_raised_to_hard(void)
{
        struct rlimit lock = {8192, 65536}, now;

        if (setrlimit(RLIMIT_MEMLOCK, &lock) < 0 || secret_lock_limit() != 8192)
                return 1;
        if (secret_harden_process() < 0 || getrlimit(RLIMIT_MEMLOCK, &now) < 0)
                return 2;
        return now.rlim_cur == 65536 && secret_lock_limit() == 65536 ? 0 : 3;
}

TEST(secret_harden_raises_the_memlock_soft_limit)
{
        CHECK(unit_in_child(soft_raised_to_hard));
}

/* With no locked memory at all, nothing secret is made, and says so. */
static int no_locked_memory(void)
{
        struct rlimit none = {0, 0};
        unsigned char out[64];
        struct secret *s = NULL;

        /* root (CAP_IPC_LOCK) is not bound by RLIMIT_MEMLOCK: become nobody. */
        if (setrlimit(RLIMIT_MEMLOCK, &none) < 0 ||
            (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0)))
                return 1;
        if (secret_new(32, &s) != -ENOMEM || s != NULL)
                return 2;
        return keyslot_pbkdf2_sha256((const unsigned char *)"p", 1, (const unsigned char *)"s",
                                     1, 10, out, sizeof(out)) == -ENOMEM
                       ? 0
                       : 3;
}

TEST(secret_without_locked_memory_is_enomem)
{
#if defined(__SANITIZE_ADDRESS__)
        /* AddressSanitizer's mlock() does nothing and succeeds: nothing to see. */
        return;
#endif
        CHECK(unit_in_child(no_locked_memory));
}
