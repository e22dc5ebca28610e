/* format_floor: the least work a LUKS1 format of an RBD volume needs, and the
 * agent's Ceph calls replayed one by one, each timed. Built and run by
 * bench/format_latency.sh and bench/volume_burst.sh; not part of the agent.
 *
 *   format_floor pbkdf ITERATIONS
 *       PBKDF2-HMAC-SHA256 of a 64-hex-character passphrase, 64-byte output
 *       (the key slot of a 512-bit-key LUKS1 header) at ITERATIONS, with
 *       OpenSSL (what libcryptsetup uses here) and, if built with
 *       -DHAVE_NETTLE, with nettle (what qemu uses), and with the agent's
 *       own (agent/luks/keyslot.c: HMAC states prepared once, the two 32-byte
 *       blocks on two threads; linked in by bench/lib.sh); each followed by
 *       the master-key digest (20 bytes) at MK_ITERATIONS (env, default
 *       1000) with the same implementation.
 *   format_floor floor CONF CLIENT POOL IMAGE ITERATIONS BYTES
 *       connects and opens IMAGE (not timed), then times the pbkdf lines
 *       above and one write of BYTES at offset 0 plus a flush.
 *   format_floor header ITERATIONS
 *       a LUKS1 header built the way agent/luks/luks.c builds it by default
 *       (master key drawn, memfd of 4 MiB + 512, crypt_init, crypt_format
 *       LUKS1 aes-xts-plain64 64-byte key sha256 with that key, bytes read
 *       back, key slot 0 by agent/luks/keyslot.c at ITERATIONS, loaded to check
 *       slot 0; the UUID is then read from the bytes), each call timed.
 *   format_floor images create|remove CONF CLIENT POOL SIZE_BYTES NAME...
 *       makes (rbd_create4 with the pool's default features) or removes the
 *       named images from one client: a burst's volumes without one rbd
 *       process each.
 *   format_floor steps CONF CLIENT POOL IMAGE HEADER_BYTES
 *       with a connected client (not timed), the librbd calls the agent's
 *       format_volume makes on a blank image, in its order (agent/volume/format.c,
 *       agent/ceph/ceph.c, agent/keys/provider_metadata.c), each timed; no PBKDF2. The
 *       agent reads the object map and walks the image with librbd
 *       (diff_iterate) only when the map cannot tell; both are timed.
 *
 * Output: "name ms" lines. Exit 1 with a message on any error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <openssl/evp.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libcryptsetup.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef HAVE_NETTLE
#include <nettle/pbkdf2.h>
#endif
#include "luks/keyslot.h"

#define MIB (1024u * 1024u)

static const char passphrase[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const unsigned char salt[32] = "format_floor salt 0123456789abc";

static double now_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* CPU time of the whole process (librbd's threads included), in ms. */
static double cpu_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what, int r)
{
        fprintf(stderr, "format_floor: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

static unsigned long number(const char *s)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || !*s)
                die("not a number", EINVAL);
        return v;
}

static void pbkdf(unsigned long iterations)
{
        unsigned char out[64];
        unsigned long mk = getenv("MK_ITERATIONS") ? number(getenv("MK_ITERATIONS")) : 1000;
        double t, c;

        t = now_ms();
        c = cpu_ms();
        if (!PKCS5_PBKDF2_HMAC(passphrase, (int)strlen(passphrase), salt, sizeof(salt),
                               (int)iterations, EVP_sha256(), 64, out))
                die("PKCS5_PBKDF2_HMAC", EIO);
        printf("pbkdf2_openssl %.3f\ncpu:pbkdf2_openssl %.3f\n", now_ms() - t, cpu_ms() - c);
        t = now_ms();
        c = cpu_ms();
        if (!PKCS5_PBKDF2_HMAC((const char *)out, 64, salt, sizeof(salt), (int)mk, EVP_sha256(), 20,
                               out))
                die("PKCS5_PBKDF2_HMAC", EIO);
        printf("pbkdf2_mk_digest_openssl %.3f\ncpu:pbkdf2_mk_digest_openssl %.3f\n", now_ms() - t,
               cpu_ms() - c);
#ifdef HAVE_NETTLE
        t = now_ms();
        c = cpu_ms();
        pbkdf2_hmac_sha256(strlen(passphrase), (const uint8_t *)passphrase, iterations,
                           sizeof(salt), salt, 64, out);
        printf("pbkdf2_nettle %.3f\ncpu:pbkdf2_nettle %.3f\n", now_ms() - t, cpu_ms() - c);
        t = now_ms();
        c = cpu_ms();
        pbkdf2_hmac_sha256(64, out, mk, sizeof(salt), salt, 20, out);
        printf("pbkdf2_mk_digest_nettle %.3f\ncpu:pbkdf2_mk_digest_nettle %.3f\n", now_ms() - t,
               cpu_ms() - c);
#endif
        t = now_ms();
        c = cpu_ms();
        if (keyslot_pbkdf2_sha256((const unsigned char *)passphrase, strlen(passphrase), salt,
                                  sizeof(salt), (uint32_t)iterations, out, 64) < 0)
                die("keyslot_pbkdf2_sha256", EIO);
        printf("pbkdf2_agent %.3f\ncpu:pbkdf2_agent %.3f\n", now_ms() - t, cpu_ms() - c);
        t = now_ms();
        c = cpu_ms();
        if (keyslot_pbkdf2_sha256(out, 64, salt, sizeof(salt), (uint32_t)mk, out, 20) < 0)
                die("keyslot_pbkdf2_sha256", EIO);
        printf("pbkdf2_mk_digest_agent %.3f\ncpu:pbkdf2_mk_digest_agent %.3f\n", now_ms() - t,
               cpu_ms() - c);
}

static rados_t connect_to(const char *conf, const char *client)
{
        char name[128];
        rados_t rados;
        int r;

        snprintf(name, sizeof(name), "client.%s", client);
        r = rados_create2(&rados, "ceph", name, 0);
        if (r < 0)
                die("rados_create2", r);
        r = rados_conf_read_file(rados, conf);
        if (r >= 0)
                r = rados_conf_set(rados, "log_to_stderr", "false");
        if (r >= 0)
                r = rados_connect(rados);
        if (r < 0)
                die("rados_connect", r);
        return rados;
}

static void floor_write(rados_t rados, const char *pool, const char *image, size_t bytes)
{
        rados_ioctx_t io;
        rbd_image_t img;
        char *buf = malloc(bytes);
        double t, c;
        int r;

        if (!buf)
                die("malloc", ENOMEM);
        memset(buf, 0x5a, bytes);
        r = rados_ioctx_create(rados, pool, &io);
        if (r < 0)
                die("rados_ioctx_create", r);
        r = rbd_open(io, image, &img, NULL);
        if (r < 0)
                die("rbd_open", r);
        t = now_ms();
        c = cpu_ms();
        if (rbd_write(img, 0, bytes, buf) != (ssize_t)bytes)
                die("rbd_write", EIO);
        r = rbd_flush(img);
        if (r < 0)
                die("rbd_flush", r);
        printf("write_header %.3f\ncpu:write_header %.3f\n", now_ms() - t, cpu_ms() - c);
        rbd_close(img);
        rados_ioctx_destroy(io);
        free(buf);
}

static int stop_at_first(uint64_t off, size_t len, int exists, void *arg)
{
        (void)off;
        (void)len;
        if (!exists)
                return 0;
        *(int *)arg = 1;
        return -ECANCELED;
}

/* agent/ceph/ceph.c's object_map_says_empty, replayed: the image's object map
 * read in one RADOS read and scanned; -EIO if any entry is not zero. */
static int object_map_read(rados_ioctx_t io, rbd_image_t img, uint64_t size)
{
        rbd_linked_image_spec_t parent;
        rbd_snap_spec_t parent_snap;
        rbd_image_info_t info;
        uint64_t features, flags, objects, bytes, stored = 0;
        char id[96], oid[128], *map;
        int r;

        if (rbd_get_features(img, &features) < 0 || rbd_get_flags(img, &flags) < 0 ||
            rbd_stat(img, &info, sizeof(info)) < 0 || rbd_get_id(img, id, sizeof(id)) < 0)
                return -EIO;
        r = rbd_get_parent(img, &parent, &parent_snap);
        if (r != -ENOENT)
                return -EIO;
        objects = size / info.obj_size + (size % info.obj_size != 0);
        bytes = (objects + 3) / 4;
        snprintf(oid, sizeof(oid), "rbd_object_map.%s", id);
        if (rados_stat(io, oid, &stored, NULL) < 0 || !(map = malloc(stored)))
                return -EIO;
        r = rados_read(io, oid, map, stored, 0) == (int)stored ? 0 : -EIO;
        for (uint64_t i = 0; r == 0 && i < bytes; i++)
                if (map[18 + i])
                        r = -EIO;
        free(map);
        return r;
}

#define STEP(label, expr)                                                                    \
        do {                                                                                 \
                double t_ = now_ms();                                                        \
                int r_ = (expr);                                                             \
                if (r_ < 0 && r_ != -ENOENT)                                                 \
                        die(label, r_);                                                      \
                printf("%s %.3f\n", label, now_ms() - t_);                                   \
        } while (0)

static void steps(rados_t rados, const char *pool, const char *image, size_t header_bytes)
{
        char *probe = calloc(1, 4 * MIB), *header = malloc(header_bytes), value[512];
        char tag[256], clients[4096], cookies[4096], addrs[4096];
        size_t tag_len, clients_len, cookies_len, addrs_len, len;
        rbd_image_info_t info;
        rados_ioctx_t io;
        rbd_image_t img;
        uint64_t size = 0, features;
        int exclusive, found = 0;
        double t0 = now_ms();

        if (!probe || !header)
                die("malloc", ENOMEM);
        memset(header, 0x5a, header_bytes);
        STEP("open", (rados_ioctx_create(rados, pool, &io) < 0 ? -EIO : rbd_open(io, image, &img, NULL)));
        STEP("lock:features+lockers", (rbd_get_features(img, &features),
                                       tag_len = sizeof(tag), clients_len = sizeof(clients),
                                       cookies_len = sizeof(cookies), addrs_len = sizeof(addrs),
                                       (int)rbd_list_lockers(img, &exclusive, tag, &tag_len, clients,
                                                             &clients_len, cookies, &cookies_len,
                                                             addrs, &addrs_len)));
        STEP("lock:acquire", rbd_lock_acquire(img, RBD_LOCK_MODE_EXCLUSIVE));
        STEP("inspect:size+stat", (rbd_get_size(img, &size), rbd_stat(img, &info, sizeof(info))));
        STEP("inspect:read_4MiB", (int)(rbd_read(img, 0, 4 * MIB, probe) < 0 ? -EIO : 0));
        STEP("inspect:meta_get_state",
             (len = sizeof(value), rbd_metadata_get(img, "rbd-luks-agent.state", value, &len)));
        STEP("inspect:object_map_read", object_map_read(io, img, size));
        STEP("inspect:diff_iterate(fallback)", (rbd_diff_iterate2(img, NULL, 0, size, 1, 1, stop_at_first,
                                                        &found) == -ECANCELED ? 0 : 0));
        STEP("key:meta_get", (len = sizeof(value), rbd_metadata_get(img, "rbd-luks-agent.key", value, &len)));
        STEP("key:meta_set", rbd_metadata_set(img, "rbd-luks-agent.key",
                                              "{\"v\":1,\"alg\":\"AES-256-GCM\",\"kek\":\"kek-1\",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"wrapped\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"tag\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"created\":\"2026-01-01T00:00:00Z\"}"));
        STEP("state:writing", rbd_metadata_set(img, "rbd-luks-agent.state", "writing payload=1 offset=4194304 time=0"));
        STEP("resize:+4MiB", rbd_resize2(img, size + 4 * MIB, false, NULL, NULL));
        STEP("write:keyslots", (rbd_write(img, 4096, header_bytes - 4096, header + 4096) < 0 ? -EIO : 0));
        STEP("write:flush", rbd_flush(img));
        STEP("write:phdr_4KiB", (rbd_write(img, 0, 4096, header) < 0 ? -EIO : 0));
        STEP("write:flush2", rbd_flush(img));
        STEP("state:formatted", rbd_metadata_set(img, "rbd-luks-agent.state", "formatted payload=1 offset=4194304 uuid=x time=0"));
        STEP("unlock", rbd_lock_release(img));
        STEP("close", (rbd_close(img), rados_ioctx_destroy(io), 0));
        printf("total %.3f\n", now_ms() - t0);
        (void)found;
        free(probe);
        free(header);
}

/* A fresh memfd device of size + 512 bytes holding buf (if any). */
static int memfd_with(const char *name, const unsigned char *buf, size_t size, char *path,
                      size_t path_size)
{
        int fd = memfd_create(name, MFD_CLOEXEC);

        if (fd < 0 || ftruncate(fd, (off_t)size + 512) < 0 ||
            (buf && pwrite(fd, buf, size, 0) != (ssize_t)size))
                die("memfd", errno);
        snprintf(path, path_size, "/proc/self/fd/%d", fd);
        return fd;
}

/* crypt_load of buf; returns the device (caller frees it and closes *fd). */
static struct crypt_device *load(const unsigned char *buf, size_t size, int *fd)
{
        struct crypt_device *cd = NULL;
        char path[64];
        int r;

        *fd = memfd_with("luks-check", buf, size, path, sizeof(path));
        r = crypt_init(&cd, path);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS, NULL);
        if (r < 0)
                die("crypt_load", r);
        return cd;
}

static void header(unsigned long iterations)
{
        struct crypt_pbkdf_type pbkdf = {.type = CRYPT_KDF_PBKDF2, .hash = "sha256",
                                         .iterations = (uint32_t)iterations,
                                         .flags = CRYPT_PBKDF_NO_BENCHMARK};
        struct crypt_params_luks1 params = {.hash = "sha256", .data_alignment = 8192};
        size_t size = 4 * MIB;
        struct crypt_device *cd = NULL;
        struct secret *mk = NULL, *pass = NULL;
        unsigned char *buf = malloc(size);
        char path[64];
        int fd, r;
        double t, t0 = now_ms();

        if (!buf || secret_new(sizeof(passphrase), &pass) < 0)
                die("malloc", ENOMEM);
        memcpy(pass->data, passphrase, strlen(passphrase));
        pass->len = strlen(passphrase);
        crypt_metadata_locking(NULL, 0);
        t = now_ms();
        r = keyslot_new_master_key(64, &mk);
        if (r < 0)
                die("keyslot_new_master_key", r);
        printf("header:master_key %.3f\n", now_ms() - t);
        t = now_ms();
        fd = memfd_with("luks-header", NULL, size, path, sizeof(path));
        r = crypt_init(&cd, path);
        if (r < 0)
                die("crypt_init", r);
        printf("header:memfd+crypt_init %.3f\n", now_ms() - t);
        t = now_ms();
        r = crypt_set_pbkdf_type(cd, &pbkdf);
        if (r >= 0)
                r = crypt_format(cd, CRYPT_LUKS1, "aes", "xts-plain64", NULL,
                                 (const char *)mk->data, 64, &params);
        if (r < 0)
                die("crypt_format", r);
        printf("header:crypt_format %.3f\n", now_ms() - t);
        t = now_ms();
        if (pread(fd, buf, size, 0) != (ssize_t)size)
                die("pread", EIO);
        crypt_free(cd);
        close(fd);
        printf("header:read_back+free %.3f\n", now_ms() - t);
        t = now_ms();
        r = keyslot_write(buf, size, 0, mk, pass, (uint32_t)iterations);
        if (r < 0)
                die("keyslot_write", r);
        printf("header:keyslot_write %.3f\n", now_ms() - t);
        t = now_ms();
        cd = load(buf, size, &fd);
        if (crypt_keyslot_status(cd, 0) != CRYPT_SLOT_ACTIVE_LAST)
                die("key slot 0 not active", EPROTO);
        crypt_free(cd);
        close(fd);
        printf("header:check_slot_zero %.3f\n", now_ms() - t);
        printf("header:total %.3f\n", now_ms() - t0);
        secret_free(mk);
        secret_free(pass);
        free(buf);
}

static void images(rados_t rados, const char *pool, bool create, uint64_t size, int n,
                   char **names)
{
        rados_ioctx_t io;
        rbd_image_options_t opts;
        int r = rados_ioctx_create(rados, pool, &io);

        if (r < 0)
                die("rados_ioctx_create", r);
        rbd_image_options_create(&opts);
        for (int i = 0; i < n; i++) {
                r = create ? rbd_create4(io, names[i], size, opts) : rbd_remove(io, names[i]);
                if (r < 0)
                        die(names[i], r);
        }
        rbd_image_options_destroy(opts);
        rados_ioctx_destroy(io);
}

int main(int argc, char **argv)
{
        rados_t rados;

        if (argc == 3 && strcmp(argv[1], "pbkdf") == 0) {
                pbkdf(number(argv[2]));
                return 0;
        }
        if (argc == 3 && strcmp(argv[1], "header") == 0) {
                header(number(argv[2]));
                return 0;
        }
        if (argc == 8 && strcmp(argv[1], "floor") == 0) {
                rados = connect_to(argv[2], argv[3]);
                pbkdf(number(argv[6]));
                floor_write(rados, argv[4], argv[5], number(argv[7]));
                rados_shutdown(rados);
                return 0;
        }
        if (argc >= 8 && strcmp(argv[1], "images") == 0) {
                rados = connect_to(argv[3], argv[4]);
                images(rados, argv[5], strcmp(argv[2], "create") == 0, number(argv[6]), argc - 7,
                       argv + 7);
                rados_shutdown(rados);
                return 0;
        }
        if (argc == 7 && strcmp(argv[1], "steps") == 0) {
                rados = connect_to(argv[2], argv[3]);
                steps(rados, argv[4], argv[5], number(argv[6]));
                rados_shutdown(rados);
                return 0;
        }
        fprintf(stderr, "usage: format_floor pbkdf ITERATIONS | header ITERATIONS | floor CONF CLIENT POOL IMAGE "
                        "ITERATIONS BYTES | steps CONF CLIENT POOL IMAGE HEADER_BYTES\n");
        return 2;
}
