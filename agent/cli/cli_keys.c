/* cli_keys: `rbd-luks-agent keys ...` (cli_keys.h): the arguments, the
 * session the commands share (key provider, Ceph), `show`, `verify` and
 * `passphrase`; `audit` is cli_keys_audit.c's, `rewrap`
 * cli_keys_rewrap.c's. This is a command layer: it prints results on
 * stdout and logs failures, naming the volume. It never prints key bytes,
 * except `keys passphrase`, on purpose. */
#include "cli_keys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_keys_internal.h"
#include "base/uuid.h"
#include "base/fdio.h"
#include "keys/keys.h"
#include "keys/keywrap.h"
#include "records/lockcookie.h"
#include "base/log.h"
#include "luks/luks.h"
#include "ceph/ceph.h"

#define HEADER_READ_MAX (64u << 20)

const char cli_keys_usage[] =
        "Usage: rbd-luks-agent -c FILE keys COMMAND\n"
        "\n"
        "  show VOLUME_ID          the key record: KEK id, algorithm, created (no key bytes)\n"
        "  verify VOLUME_ID        check that the volume's key opens its LUKS keyslot; exit 0/1\n"
        "  audit [--json]          classify every volume image in the pool:\n"
        "                          verified | luks-foreign | plain | broken; exit 1 if broken\n"
        "  passphrase VOLUME_ID [--tty]\n"
        "                          print the LUKS passphrase (hex of the key) for disaster\n"
        "                          recovery, without newline; refuses a terminal unless --tty\n"
        "  rewrap [--dry-run]      re-wrap every volume key with the current KEK (metadata\n"
        "                          provider); one volume at a time, safe to re-run\n";

static int session_open(const struct config *c, struct cli_keys_session *s)
{
        struct ceph_connect_params p = {c->ceph_conf, c->ceph_client, c->ceph_keyring,
                                       c->ceph_timeout_s};
        const char *why = NULL;
        int r;

        *s = (struct cli_keys_session){.config = c};
        r = lockcookie_owner_init(&s->lock_owner);
        if (r < 0) {
                log_error("cannot make lock cookies: %s", strerror(-r));
                return r;
        }
        r = keys_open(c, &s->keys, &why);
        if (r < 0) {
                log_error("cannot set up the key provider: %s", why);
                return r;
        }
        r = ceph_cluster_connect(&p, &s->cluster);
        if (r < 0)
                log_error("cannot connect to Ceph as client.%s: %s", c->ceph_client,
                          strerror(-r));
        return r;
}

static void session_close(struct cli_keys_session *s)
{
        ceph_cluster_disconnect(s->cluster);
        keys_close(s->keys);
}

static int open_volume(struct cli_keys_session *s, const char *volume_id, struct ceph_image **ret)
{
        char name[160];
        int r;

        snprintf(name, sizeof(name), "%s%s", s->config->image_prefix, volume_id);
        r = ceph_image_open(s->cluster, s->config->pool, name, ret);
        if (r < 0)
                log_error("volume %s: cannot open %s/%s: %s", volume_id, s->config->pool, name,
                          strerror(-r));
        return r;
}

/* The image's LUKS1 header, as many bytes as it says precede the payload.
 * -EINVAL: the image does not start with LUKS1. */
static int read_header(struct ceph_image *img, unsigned char **ret, size_t *ret_len)
{
        unsigned char first[LUKS_SECTOR], *buf;
        uint64_t offset, size;
        int r;

        r = ceph_image_size(img, &size);
        if (r >= 0)
                r = ceph_image_read(img, 0, sizeof(first), first);
        if (r >= 0)
                r = luks1_payload_offset_of(first, size < sizeof(first) ? 0 : sizeof(first),
                                            &offset);
        if (r < 0)
                return r;
        if (offset > HEADER_READ_MAX || offset > size || offset < LUKS_SECTOR)
                return -EBADMSG;
        buf = malloc(offset);
        if (!buf)
                return -ENOMEM;
        r = ceph_image_read(img, 0, offset, buf);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = offset;
        return 0;
}

/* 0 when the volume's key opens its header; *ret_reason says why not. */
int cli_keys_check_key(struct cli_keys_session *s, const char *volume_id, struct ceph_image *img,
                       const char **ret_reason)
{
        struct secret *key = NULL, *hex = NULL;
        unsigned char *header = NULL;
        size_t len = 0;
        int r;

        r = read_header(img, &header, &len);
        if (r < 0) {
                *ret_reason = r == -EINVAL ? "image does not start with a LUKS1 header"
                                           : "cannot read the LUKS header";
                return r;
        }
        r = keys_lookup(s->keys, volume_id, img, &key, ret_reason);
        if (r >= 0)
                r = secret_to_hex(key, &hex);
        if (r >= 0) {
                r = luks_check_passphrase(header, len, hex);
                if (r < 0)
                        *ret_reason = "the key does not open any keyslot of the LUKS header";
        }
        secret_free(hex);
        secret_free(key);
        free(header);
        return r;
}

static int keys_show(struct cli_keys_session *s, const char *volume_id)
{
        char record[KEYWRAP_RECORD_MAX];
        struct keywrap_info info;
        struct ceph_image *img;
        const char *why = NULL;
        int r;

        if (open_volume(s, volume_id, &img) < 0)
                return 1;
        r = keys_read_record(img, record, sizeof(record));
        ceph_image_close(img);
        if (r == -ENOENT) {
                printf("volume %s: no wrapped key record\n", volume_id);
                return 1;
        }
        if (r >= 0)
                r = keywrap_parse(record, &info, &why);
        if (r < 0) {
                log_error("volume %s: key record unusable: %s", volume_id,
                          why ? why : strerror(-r));
                return 1;
        }
        printf("volume %s: key record v%u, %s, KEK %s, created %s\n", volume_id, info.version,
               info.algorithm, info.kek_id, info.created);
        return 0;
}

static int keys_verify(struct cli_keys_session *s, const char *volume_id)
{
        struct ceph_image *img;
        const char *why = "unknown";
        int r;

        if (open_volume(s, volume_id, &img) < 0)
                return 1;
        r = cli_keys_check_key(s, volume_id, img, &why);
        ceph_image_close(img);
        if (r < 0) {
                printf("volume %s: NOT verified: %s\n", volume_id, why);
                return 1;
        }
        printf("volume %s: verified: the %s key opens the LUKS keyslot\n", volume_id,
               keys_provider_name(s->keys));
        return 0;
}

static int keys_passphrase(struct cli_keys_session *s, const char *volume_id, bool tty)
{
        struct secret *key = NULL, *hex = NULL;
        struct ceph_image *img;
        const char *why = NULL;
        int r, code = 1;

        if (isatty(STDOUT_FILENO) && !tty) {
                log_error("refusing to print a passphrase to a terminal; redirect stdout to a "
                          "file or pipe, or add --tty");
                return 1;
        }
        if (open_volume(s, volume_id, &img) < 0)
                return 1;
        r = keys_lookup(s->keys, volume_id, img, &key, &why);
        if (r >= 0)
                r = secret_to_hex(key, &hex);
        if (r < 0) {
                log_error("volume %s: no usable key: %s", volume_id, why ? why : strerror(-r));
                goto out;
        }
        /* write(2), not stdio: stdio's buffer is ordinary heap that nobody wipes. */
        if (fflush(stdout) != 0 || fd_write_all(STDOUT_FILENO, hex->data, hex->len) < 0) {
                log_error("volume %s: cannot write the passphrase to stdout", volume_id);
                goto out;
        }
        log_warn("volume %s: LUKS passphrase printed for recovery (uid %d)", volume_id,
                 (int)getuid());
        code = 0;
out:
        secret_free(hex);
        secret_free(key);
        ceph_image_close(img);
        return code;
}

/* ---- dispatch --------------------------------------------------------- */

static int usage(const char *what)
{
        fprintf(stderr, "rbd-luks-agent keys: %s\n\n%s", what, cli_keys_usage);
        return 2;
}

static int needs_volume_id(int argc, char **argv, int extra_ok)
{
        if (argc < 2 || argc > 2 + extra_ok)
                return usage("give one VOLUME_ID");
        if (!uuid_is_valid(argv[1]))
                return usage("VOLUME_ID must be a UUID");
        return 0;
}

static int dispatch(struct cli_keys_session *s, int argc, char **argv)
{
        const char *cmd = argv[0];
        bool flag = argc > 2 || (argc == 2 && argv[1][0] == '-');

        if (strcmp(cmd, "show") == 0)
                return keys_show(s, argv[1]);
        if (strcmp(cmd, "verify") == 0)
                return keys_verify(s, argv[1]);
        if (strcmp(cmd, "passphrase") == 0)
                return keys_passphrase(s, argv[1], argc == 3);
        if (strcmp(cmd, "audit") == 0)
                return cli_keys_audit(s, flag);
        return cli_keys_rewrap_all(s, flag);
}

/* Checks the arguments before anything connects to Ceph. */
static int check_arguments(int argc, char **argv)
{
        const char *cmd = argv[0];

        if (strcmp(cmd, "show") == 0 || strcmp(cmd, "verify") == 0)
                return needs_volume_id(argc, argv, 0);
        if (strcmp(cmd, "passphrase") == 0) {
                int r = needs_volume_id(argc, argv, 1);

                if (r == 0 && argc == 3 && strcmp(argv[2], "--tty") != 0)
                        return usage("passphrase takes only --tty after VOLUME_ID");
                return r;
        }
        if (strcmp(cmd, "audit") == 0 || strcmp(cmd, "rewrap") == 0) {
                const char *flag = strcmp(cmd, "audit") == 0 ? "--json" : "--dry-run";

                if (argc > 2 || (argc == 2 && strcmp(argv[1], flag) != 0))
                        return usage(strcmp(cmd, "audit") == 0 ? "audit takes only --json"
                                                                : "rewrap takes only --dry-run");
                return 0;
        }
        return usage("unknown keys command");
}

int cli_keys(const struct config *c, int argc, char **argv)
{
        struct cli_keys_session s;
        int code;

        /* argv[0] is "keys". Line-buffered: a long audit or rewrap shows
         * its progress, and a killed one leaves every line it finished. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2)
                return usage("no keys command given");
        code = check_arguments(argc - 1, argv + 1);
        if (code)
                return code;
        if (session_open(c, &s) < 0) {
                session_close(&s);
                return 1;
        }
        code = dispatch(&s, argc - 1, argv + 1);
        session_close(&s);
        return code;
}
