/* luks: LUKS1 headers through libcryptsetup, on memfds only (luks.h).
 *
 * libcryptsetup wants a device path; /proc/self/fd/N of a memfd is one that
 * needs no privileges, no loop device and leaves nothing on disk. */
#include "luks.h"

#include <ctype.h>
#include <errno.h>
#include <libcryptsetup.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "keyslot.h"
#include "base/log.h"

#define LUKS1_AF_STRIPES 4000u
#define LUKS1_KEYSLOTS 8u
#define LUKS1_ALIGN_KEYSLOTS 4096u

static void log_from_cryptsetup(int level, const char *msg, void *usrptr)
{
        size_t n = strlen(msg);

        (void)usrptr;
        (void)level;
        /* libcryptsetup's messages end with a newline; ours do not. */
        if (n && msg[n - 1] == '\n')
                n--;
        log_debug("libcryptsetup: %.*s", (int)n, msg);
}

/* libcryptsetup sets up its crypto backend (its own OpenSSL library
 * context and providers) on first use without a lock: two workers doing
 * that at once each make one, and one is lost (a data race; valgrind shows
 * the leak, tests/integration/ceph_valgrind.sh). Until one such call has
 * succeeded they run one at a time here. The calibration at start-up is
 * usually that call, but not when the iteration count is fixed. */
static pthread_mutex_t first_use_lock = PTHREAD_MUTEX_INITIALIZER;
static bool backend_ready;

/* True when the caller now holds first_use_lock (pass it to first_use_leave). */
static bool first_use_enter(void)
{
        if (__atomic_load_n(&backend_ready, __ATOMIC_ACQUIRE))
                return false;
        pthread_mutex_lock(&first_use_lock);
        if (!__atomic_load_n(&backend_ready, __ATOMIC_ACQUIRE))
                return true;
        pthread_mutex_unlock(&first_use_lock);
        return false;
}

static int first_use_leave(bool entered, int r)
{
        if (!entered)
                return r;
        if (r >= 0)
                __atomic_store_n(&backend_ready, true, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&first_use_lock);
        return r;
}

void luks_setup_logging(void)
{
        crypt_set_log_callback(NULL, log_from_cryptsetup, NULL);
        crypt_set_debug_level(CRYPT_DEBUG_NONE);
        /* No /run/cryptsetup lock files: our devices are private memfds. */
        crypt_metadata_locking(NULL, 0);
}

int luks_calibrate(const char *hash, unsigned key_bytes, unsigned iter_time_ms,
                   unsigned *ret_iterations)
{
        static const char salt[32] = "rbd-luks-agent calibration salt";
        struct crypt_pbkdf_type pbkdf = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = hash,
                .time_ms = iter_time_ms,
        };
        bool first = first_use_enter();
        int r;

        r = crypt_benchmark_pbkdf(NULL, &pbkdf, "calibrate", 9, salt, sizeof(salt), key_bytes,
                                  NULL, NULL);
        r = first_use_leave(first, r);
        if (r < 0)
                return r;
        *ret_iterations = pbkdf.iterations < LUKS_PBKDF2_MIN_ITERATIONS
                                  ? LUKS_PBKDF2_MIN_ITERATIONS
                                  : pbkdf.iterations;
        return 0;
}

/* End of the last keyslot's key material, in bytes: LUKS1 puts the phdr in
 * the first 4 KiB, then eight keyslot areas of key_bytes * 4000 bytes, each
 * rounded up to 4 KiB. */
static uint64_t keyslots_end(unsigned key_bytes)
{
        uint64_t area = (uint64_t)key_bytes * LUKS1_AF_STRIPES;

        area = (area + LUKS1_ALIGN_KEYSLOTS - 1) / LUKS1_ALIGN_KEYSLOTS * LUKS1_ALIGN_KEYSLOTS;
        return LUKS1_ALIGN_KEYSLOTS + LUKS1_KEYSLOTS * area;
}

int luks_payload_offset(const struct luks_params *p, uint64_t alignment, uint64_t *ret_offset)
{
        uint64_t end;

        if (alignment < 4096 || alignment % LUKS_SECTOR)
                return -EINVAL;
        end = keyslots_end(p->key_bytes);
        *ret_offset = (end + alignment - 1) / alignment * alignment;
        return 0;
}

/* A memfd of size bytes starting with content. Callers add one sector past
 * the payload offset: libcryptsetup warns about a device with no payload. */
static int memfd_device(const char *name, const unsigned char *content, size_t content_len,
                        uint64_t size, int *ret_fd, char *path, size_t path_size)
{
        int fd = memfd_create(name, MFD_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)size) < 0 ||
            (content_len && pwrite(fd, content, content_len, 0) != (ssize_t)content_len)) {
                int r = -errno;
                close(fd);
                return r ? r : -EIO;
        }
        snprintf(path, path_size, "/proc/self/fd/%d", fd);
        *ret_fd = fd;
        return 0;
}

/* crypt_format on cd; master_key NULL lets libcryptsetup draw one. With
 * passphrase, libcryptsetup also adds key slot 0. */
static int format_on(struct crypt_device *cd, const struct luks_params *p, uint64_t offset,
                     const struct secret *master_key, const struct secret *passphrase)
{
        struct crypt_pbkdf_type pbkdf = {
                .type = CRYPT_KDF_PBKDF2,
                .hash = p->hash,
                .iterations = p->iterations,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        struct crypt_params_luks1 params = {
                .hash = p->hash,
                .data_alignment = offset / LUKS_SECTOR,
        };
        int r;

        r = crypt_set_pbkdf_type(cd, &pbkdf);
        if (r < 0)
                return r;
        r = crypt_format(cd, CRYPT_LUKS1, p->cipher, p->cipher_mode, NULL,
                         master_key ? (const char *)master_key->data : NULL, p->key_bytes,
                         &params);
        if (r < 0)
                return r;
        if (crypt_get_data_offset(cd) * LUKS_SECTOR != offset)
                return -EPROTO;
        if (!passphrase)
                return 0;
        r = crypt_keyslot_add_by_volume_key(cd, 0, NULL, 0, (const char *)passphrase->data,
                                            passphrase->len);
        return r < 0 ? r : 0;
}

static int load_header(const unsigned char *buf, size_t len, struct crypt_device **ret_cd,
                       int *ret_fd);

/* The header (payload_offset bytes) as libcryptsetup formats it for
 * master_key (NULL: libcryptsetup draws one), with key slot 0 added by
 * libcryptsetup for passphrase, or no key slot if passphrase is NULL. */
static int build_on_memfd(const struct luks_params *p, uint64_t payload_offset,
                          const struct secret *master_key, const struct secret *passphrase,
                          unsigned char *header)
{
        struct crypt_device *cd = NULL;
        char path[64];
        int fd = -1, r;
        bool first;

        r = memfd_device("luks-header", NULL, 0, payload_offset + LUKS_SECTOR, &fd, path,
                         sizeof(path));
        if (r < 0)
                return r;
        r = crypt_init(&cd, path);
        if (r < 0)
                goto out;
        first = first_use_enter();
        r = first_use_leave(first, format_on(cd, p, payload_offset, master_key, passphrase));
        if (r < 0)
                goto out;
        if (pread(fd, header, payload_offset, 0) != (ssize_t)payload_offset)
                r = -EIO;
out:
        crypt_free(cd);
        close(fd);
        return r;
}

/* libcryptsetup reads back what keyslot.c wrote: slot 0 and only it active. */
static int check_slot_zero(const unsigned char *header, size_t len)
{
        struct crypt_device *cd;
        int fd, r;

        r = load_header(header, len, &cd, &fd);
        if (r < 0)
                return r;
        r = crypt_keyslot_status(cd, 0) == CRYPT_SLOT_ACTIVE_LAST ? 0 : -EPROTO;
        crypt_free(cd);
        close(fd);
        return r;
}

bool luks_own_keyslot_supported(const struct luks_params *p)
{
        return keyslot_supports(p->cipher, p->cipher_mode, p->hash, p->key_bytes);
}

/* libcryptsetup formats, keyslot.c adds key slot 0, libcryptsetup reads it. */
static int build_with_own_keyslot(const struct luks_params *p, uint64_t payload_offset,
                                  const struct secret *passphrase, unsigned char *header)
{
        struct secret *master_key = NULL;
        int r;

        r = keyslot_new_master_key(p->key_bytes, &master_key);
        if (r < 0)
                return r;
        r = build_on_memfd(p, payload_offset, master_key, NULL, header);
        if (r >= 0)
                r = keyslot_write(header, payload_offset, 0, master_key, passphrase,
                                  p->iterations);
        secret_free(master_key);
        if (r >= 0)
                r = check_slot_zero(header, payload_offset);
        return r;
}

int luks_build_header(const struct luks_params *p, uint64_t payload_offset,
                      const struct secret *passphrase, unsigned char **ret_header,
                      size_t *ret_used)
{
        size_t used = keyslots_end(p->key_bytes);
        unsigned char *header;
        int r;

        if (payload_offset < used || payload_offset > SIZE_MAX)
                return -EINVAL;
        header = malloc(payload_offset);
        if (!header)
                return -ENOMEM;
        if (p->own_keyslot && luks_own_keyslot_supported(p))
                r = build_with_own_keyslot(p, payload_offset, passphrase, header);
        else
                r = build_on_memfd(p, payload_offset, NULL, passphrase, header);
        if (r < 0) {
                free(header);
                return r;
        }
        *ret_header = header;
        *ret_used = used;
        return 0;
}

bool luks_has_magic(const unsigned char *buf, size_t len, unsigned *ret_version)
{
        static const unsigned char magic[LUKS_MAGIC_LEN] = {'L', 'U', 'K', 'S', 0xba, 0xbe};

        if (len < LUKS_MAGIC_LEN + 2 || memcmp(buf, magic, LUKS_MAGIC_LEN) != 0)
                return false;
        if (ret_version)
                *ret_version = (unsigned)buf[6] << 8 | buf[7];
        return true;
}

int luks1_payload_offset_of(const unsigned char *buf, size_t len, uint64_t *ret_offset)
{
        /* LUKS1 phdr: payloadOffset is a big-endian u32 at byte 104. */
        enum { PAYLOAD_OFFSET_FIELD = 104 };
        unsigned version = 0;
        uint32_t sectors;

        if (len < LUKS_SECTOR || !luks_has_magic(buf, len, &version) || version != 1)
                return -EINVAL;
        sectors = (uint32_t)buf[PAYLOAD_OFFSET_FIELD] << 24 |
                  (uint32_t)buf[PAYLOAD_OFFSET_FIELD + 1] << 16 |
                  (uint32_t)buf[PAYLOAD_OFFSET_FIELD + 2] << 8 | buf[PAYLOAD_OFFSET_FIELD + 3];
        *ret_offset = (uint64_t)sectors * LUKS_SECTOR;
        return 0;
}

/* Loads the header in buf into a fresh crypt device on a memfd. */
static int load_header(const unsigned char *buf, size_t len, struct crypt_device **ret_cd,
                       int *ret_fd)
{
        struct crypt_device *cd = NULL;
        char path[64];
        int fd, r;

        if (!luks_has_magic(buf, len, NULL))
                return -EINVAL;
        r = memfd_device("luks-check", buf, len, len + LUKS_SECTOR, &fd, path, sizeof(path));
        if (r < 0)
                return r;
        r = crypt_init(&cd, path);
        if (r >= 0) {
                bool first = first_use_enter();

                r = first_use_leave(first, crypt_load(cd, CRYPT_LUKS, NULL));
        }
        if (r < 0) {
                crypt_free(cd);
                close(fd);
                return r;
        }
        *ret_cd = cd;
        *ret_fd = fd;
        return 0;
}

int luks_check_passphrase(const unsigned char *buf, size_t len, const struct secret *passphrase)
{
        struct crypt_device *cd;
        int fd, r;

        r = load_header(buf, len, &cd, &fd);
        if (r < 0)
                return r;
        r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT,
                                         (const char *)passphrase->data, passphrase->len, 0);
        crypt_free(cd);
        close(fd);
        return r < 0 ? r : 0;
}

int luks_header_uuid(const unsigned char *buf, size_t len, char ret_uuid[40])
{
        /* LUKS1 and LUKS2 binary headers both keep the UUID as text in 40
         * bytes at 168; read there, without loading the header again (the
         * format path has just had libcryptsetup load it). */
        enum { UUID_FIELD = 168, UUID_FIELD_LEN = 40, UUID_LEN = 36 };
        const unsigned char *f = buf + UUID_FIELD;
        unsigned version = 0;

        if (len < LUKS_SECTOR || !luks_has_magic(buf, len, &version) ||
            (version != 1 && version != 2))
                return -EINVAL;
        if (!memchr(f, '\0', UUID_FIELD_LEN) || strlen((const char *)f) != UUID_LEN)
                return -EBADMSG;
        for (unsigned i = 0; i < UUID_LEN; i++)
                if (!isxdigit(f[i]) && f[i] != '-')
                        return -EBADMSG;
        memcpy(ret_uuid, f, UUID_LEN + 1);
        return 0;
}

/* The self-test's passphrases: the agent's own form, 64 hex characters. */
static struct secret *test_passphrase(char c)
{
        struct secret *s;

        if (secret_new(64, &s) < 0)
                return NULL;
        memset(s->data, c, 64);
        s->len = 64;
        return s;
}

int luks_self_test(void)
{
        const struct luks_params p = {
                .cipher = "aes",
                .cipher_mode = "xts-plain64",
                .key_bytes = 64,
                .hash = "sha256",
                .iterations = LUKS_PBKDF2_MIN_ITERATIONS,
                .own_keyslot = true,
        };
        struct secret *good = test_passphrase('a'), *wrong = test_passphrase('b');
        struct secret *master_key = NULL, *opened = NULL;
        unsigned char *header = NULL, *ours = NULL;
        uint64_t offset;
        size_t used;
        int r;

        r = luks_payload_offset(&p, 4096, &offset);
        if (r >= 0 && (!good || !wrong))
                r = -ENOMEM;
        if (r >= 0)
                r = keyslot_new_master_key(p.key_bytes, &master_key);
        if (r >= 0 && !(header = malloc(offset)))
                r = -ENOMEM;
        /* libcryptsetup writes a slot, keyslot.c must read it... */
        if (r >= 0)
                r = build_on_memfd(&p, offset, master_key, good, header);
        if (r >= 0)
                r = keyslot_open(header, offset, 0, good, &opened);
        if (r >= 0 && (!secret_equal(opened, master_key) ||
                       keyslot_open(header, offset, 0, wrong, &master_key) != -EPERM))
                r = -EPROTO;
        /* ...and keyslot.c writes one that libcryptsetup must read. */
        if (r >= 0)
                r = luks_build_header(&p, offset, good, &ours, &used);
        if (r >= 0)
                r = luks_check_passphrase(ours, offset, good);
        if (r >= 0 && luks_check_passphrase(ours, offset, wrong) != -EPERM)
                r = -EPROTO;
        free(header);
        free(ours);
        secret_free(opened);
        secret_free(master_key);
        secret_free(good);
        secret_free(wrong);
        return r < 0 ? r : 0;
}
