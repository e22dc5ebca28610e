/* Tests for virt.h against libvirt's real secret driver, run in this
 * process (secret:///embed?root=DIR). libvirt admits one embedded secret
 * driver per process, so every test shares one connection, rooted in the
 * directory of the first test that needs it and closed at exit; tests use
 * usage ids and UUIDs of their own. What the agent must not do itself
 * (define a foreign secret, flip a flag behind its back, read a value back)
 * the tests do through libvirt's API on that same connection.
 * virt_domains_using() needs a driver with domains: integration tests
 * cover it; here only its clean failure is checked.
 *
 * Every value holds "canary", so reasons can be checked never to carry one.
 *
 * libvirt 9.0's embedded secret driver has a bug: virSecretUndefine() ends
 * with driver->inhibitCallback(false, ...) whenever no ephemeral secret is
 * left (secret_driver.c, secretUndefine), and an embedded driver is started
 * with no callback, so every undefine calls address 0 after it has done its
 * work (daemons pass a callback and are not affected). The test process
 * makes that one call a no-op: a SIGSEGV handler that sees a jump to
 * address 0 made from libvirt_driver_secret.so returns to the caller, as
 * the missing callback would have; any other fault goes to the handler
 * that was there before (ASan's, or the default). x86_64 only; elsewhere
 * the tests that undefine are skipped. */
#include "compute/virt.h"
#include "../unit.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

static struct secrets *shared;
static char shared_root[256];

#if defined(__x86_64__)
#define UNDEFINE_WORKS true

static struct sigaction fault_before;

static void null_callback_return(int sig, siginfo_t *info, void *context)
{
        greg_t *regs = ((ucontext_t *)context)->uc_mcontext.gregs;
        Dl_info caller;

        (void)sig;
        if (regs[REG_RIP] == 0 && info->si_addr == NULL &&
            dladdr(*(void **)regs[REG_RSP], &caller) && caller.dli_fname &&
            strstr(caller.dli_fname, "libvirt_driver_secret")) {
                regs[REG_RIP] = *(greg_t *)regs[REG_RSP]; /* what "ret" would do */
                regs[REG_RSP] += (greg_t)sizeof(greg_t);
                return;
        }
        /* Not libvirt's call: fault again under the previous handler. */
        sigaction(SIGSEGV, &fault_before, NULL);
}

static void tolerate_null_inhibit_callback(void)
{
        struct sigaction action = {.sa_sigaction = null_callback_return, .sa_flags = SA_SIGINFO};

        sigemptyset(&action.sa_mask);
        sigaction(SIGSEGV, &action, &fault_before);
}
#else
#define UNDEFINE_WORKS false

static void tolerate_null_inhibit_callback(void)
{
}
#endif

/* For tests that undefine: without the workaround libvirt would crash. */
static bool undefine_works(void)
{
        if (!UNDEFINE_WORKS)
                fprintf(stderr, "  skipped: libvirt's embedded secret driver crashes on "
                                "undefine and the workaround is x86_64 only\n");
        return UNDEFINE_WORKS;
}

static void shared_close(void)
{
        virt_disconnect(shared);
        shared = NULL;
}

static struct secrets *embedded(void)
{
        static bool tried;
        const char *reason = NULL;
        char uri[320];

        if (tried)
                return shared;
        tried = true;
        tolerate_null_inhibit_callback();
        snprintf(shared_root, sizeof(shared_root), "%s", unit_tmpdir());
        snprintf(uri, sizeof(uri), "secret:///embed?root=%s", shared_root);
        if (virt_connect(uri, NULL, &shared, &reason) < 0) {
                fprintf(stderr, "  cannot open %s: %s\n", uri, reason ? reason : "(no reason)");
                return NULL;
        }
        atexit(shared_close);
        return shared;
}

static virConnectPtr raw(void)
{
        return virt_libvirt_connection(embedded());
}

static struct secret *value_of(const void *bytes, size_t n)
{
        struct secret *v;

        if (secret_new(n, &v) < 0)
                return NULL;
        memcpy(v->data, bytes, n);
        v->len = n;
        return v;
}

static struct secret *text_value(const char *text)
{
        return value_of(text, strlen(text));
}

static bool reason_clean(const char *reason)
{
        if (reason && reason[0] && !strstr(reason, "canary"))
                return true;
        fprintf(stderr, "  bad reason \"%s\"\n", reason ? reason : "(null)");
        return false;
}

static bool reason_has(const char *reason, const char *want)
{
        if (reason_clean(reason) && strstr(reason, want))
                return true;
        fprintf(stderr, "  reason \"%s\" lacks \"%s\"\n", reason ? reason : "(null)", want);
        return false;
}

static struct virt_spec spec_of(enum virt_usage usage, const char *usage_id,
                                   const char *uuid, bool private_value)
{
        struct virt_spec spec = {.usage = usage, .private_value = private_value};

        snprintf(spec.uuid, sizeof(spec.uuid), "%s", uuid);
        snprintf(spec.usage_id, sizeof(spec.usage_id), "%s", usage_id);
        return spec;
}

/* Through the API, as Nova's libvirt would hand it to qemu. */
static bool raw_value_is(const char *uuid, const struct secret *want)
{
        virSecretPtr secret = virSecretLookupByUUIDString(raw(), uuid);
        unsigned char *value;
        size_t len = 0;
        bool same;

        if (!secret)
                return false;
        value = virSecretGetValue(secret, &len, 0);
        virSecretFree(secret);
        if (!value)
                return false;
        same = len == want->len && memcmp(value, want->data, len) == 0;
        explicit_bzero(value, len);
        free(value);
        return same;
}

static bool raw_exists(const char *uuid)
{
        virSecretPtr secret = virSecretLookupByUUIDString(raw(), uuid);

        if (secret)
                virSecretFree(secret);
        return secret != NULL;
}

/* Defines a secret by hand, with a value when text is not NULL. */
static bool raw_define(const char *xml, const char *text, char uuid[VIR_UUID_STRING_BUFLEN])
{
        virSecretPtr secret = virSecretDefineXML(raw(), xml, 0);
        bool ok;

        if (!secret)
                return false;
        ok = virSecretGetUUIDString(secret, uuid) == 0;
        if (text)
                ok = virSecretSetValue(secret, (const unsigned char *)text, strlen(text), 0) == 0 && ok;
        virSecretFree(secret);
        return ok;
}

static char *raw_xml(const char *uuid)
{
        virSecretPtr secret = virSecretLookupByUUIDString(raw(), uuid);
        char *xml;

        if (!secret)
                return NULL;
        xml = virSecretGetXMLDesc(secret, 0);
        virSecretFree(secret);
        return xml;
}

static void base64(const struct secret *v, char *out, size_t size)
{
        static const char digits[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;

        for (size_t i = 0; i < v->len && o + 5 < size; i += 3) {
                unsigned n = (unsigned)v->data[i] << 16;

                n |= i + 1 < v->len ? (unsigned)v->data[i + 1] << 8 : 0;
                n |= i + 2 < v->len ? v->data[i + 2] : 0;
                out[o++] = digits[n >> 18 & 63];
                out[o++] = digits[n >> 12 & 63];
                out[o++] = i + 1 < v->len ? digits[n >> 6 & 63] : '=';
                out[o++] = i + 2 < v->len ? digits[n & 63] : '=';
        }
        out[o] = '\0';
}

/* What the driver keeps on disk: root/etc/secrets/<uuid>.base64, as
 * libvirtd keeps /etc/libvirt/secrets. */
static bool stored_value_is(const char *uuid, const struct secret *want)
{
        char path[400], stored[256] = "", expected[256];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/etc/secrets/%s.base64", shared_root, uuid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, stored, sizeof(stored) - 1);
        close(fd);
        if (n <= 0)
                return false;
        stored[n] = '\0';
        base64(want, expected, sizeof(expected));
        return strcmp(stored, expected) == 0;
}

static bool stored_xml_has(const char *uuid, const char *want)
{
        char path[400], xml[2048];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/etc/secrets/%s.xml", shared_root, uuid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, xml, sizeof(xml) - 1);
        close(fd);
        if (n <= 0)
                return false;
        xml[n] = '\0';
        return strstr(xml, want) != NULL;
}

TEST(secrets_connect_unreachable)
{
        struct secrets *untouched = (struct secrets *)&untouched, *s = untouched;
        struct timespec start, end;
        const char *reason = NULL;
        double elapsed;

        clock_gettime(CLOCK_MONOTONIC, &start);
        CHECK(virt_connect("qemu+unix:///system?socket=/nonexistent/sock", NULL, &s, &reason) ==
              -ECONNREFUSED);
        clock_gettime(CLOCK_MONOTONIC, &end);
        elapsed = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
        CHECK(elapsed < 1.0);
        CHECK(s == untouched);
        CHECK(reason_has(reason, "/nonexistent/sock"));

        reason = NULL;
        CHECK(virt_connect("", NULL, &s, &reason) == -EINVAL);
        CHECK(reason_clean(reason));
        CHECK(s == untouched);

        virt_disconnect(NULL);
        CHECK(!virt_alive(NULL));
}

TEST(secrets_embedded_alive)
{
        REQUIRE(embedded());
        CHECK(virt_alive(embedded()));
}

TEST(secrets_ceph_fixed_uuid_and_value_changes)
{
        static const unsigned char key[] = {0x01, 0x00, 0xff, 'c', 'a', 'n', 'a', 'r', 'y', 0x10};
        const char *uuid = "5b3f0e5c-6a1e-4c1b-9a55-0123456789ab";
        struct virt_spec spec = spec_of(VIRT_USAGE_CEPH, "client.nova secret", uuid, false);
        struct secret *v1 = value_of(key, sizeof(key)), *v2 = text_value("second canary key");
        char got[VIRT_UUID_LEN + 1] = "";
        struct virt_info info;
        const char *reason = NULL;
        bool changed = false;
        int64_t before = time(NULL);

        REQUIRE(embedded() && v1 && v2);
        CHECK(virt_ensure(shared, &spec, v1, &changed, got, &reason) == 0);
        CHECK(changed);
        CHECK(strcmp(got, uuid) == 0);
        REQUIRE(virt_find(shared, VIRT_USAGE_CEPH, "client.nova secret", &info, &reason) == 0);
        CHECK(strcmp(info.uuid, uuid) == 0);
        CHECK(info.usage == VIRT_USAGE_CEPH);
        CHECK(strcmp(info.usage_id, "client.nova secret") == 0);
        CHECK(info.owned && !info.private_value);
        CHECK(info.created >= before && info.created <= time(NULL));
        CHECK(raw_value_is(uuid, v1));
        CHECK(stored_value_is(uuid, v1));
        CHECK(stored_xml_has(uuid, "private='no'"));
        CHECK(stored_xml_has(uuid, "ephemeral='no'"));
        CHECK(stored_xml_has(uuid, VIRT_OWNER_MARK "; created="));

        CHECK(virt_ensure(shared, &spec, v1, &changed, got, &reason) == 0);
        CHECK(!changed);
        CHECK(strcmp(got, uuid) == 0);

        CHECK(virt_ensure(shared, &spec, v2, &changed, NULL, &reason) == 0);
        CHECK(changed);
        CHECK(raw_value_is(uuid, v2));
        CHECK(stored_value_is(uuid, v2));
        CHECK(virt_ensure(shared, &spec, v2, &changed, NULL, NULL) == 0);
        CHECK(!changed);
        secret_free(v1);
        secret_free(v2);
}

/* A private value cannot be read back through the API, so every ensure
 * writes it and reports a change. */
TEST(secrets_private_volume_written_every_time)
{
        struct virt_spec spec = spec_of(VIRT_USAGE_VOLUME, "vol-private-1", "", true);
        struct secret *v1 = text_value("0a1b2c canary passphrase"), *v2 = text_value("canary 2");
        char first[VIRT_UUID_LEN + 1] = "", again[VIRT_UUID_LEN + 1] = "";
        struct virt_info info;
        const char *reason = NULL;
        bool changed = false;

        REQUIRE(embedded() && v1 && v2);
        CHECK(virt_ensure(shared, &spec, v1, &changed, first, &reason) == 0);
        CHECK(changed);
        CHECK(strlen(first) == VIRT_UUID_LEN);
        changed = false;
        CHECK(virt_ensure(shared, &spec, v1, &changed, again, &reason) == 0);
        CHECK(changed);
        CHECK(strcmp(first, again) == 0);
        REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, "vol-private-1", &info, &reason) == 0);
        CHECK(info.owned && info.private_value);
        CHECK(info.usage == VIRT_USAGE_VOLUME);
        CHECK(!raw_value_is(first, v1)); /* private: the API refuses */
        CHECK(stored_value_is(first, v1));
        CHECK(stored_xml_has(first, "private='yes'"));
        CHECK(virt_ensure(shared, &spec, v2, &changed, NULL, &reason) == 0);
        CHECK(stored_value_is(first, v2));
        secret_free(v1);
        secret_free(v2);
}

TEST(secrets_foreign_usage_left_alone)
{
        static const char xml[] = "<secret ephemeral='no' private='no'>"
                                  "<description>made by hand</description>"
                                  "<usage type='volume'><volume>vol-foreign-1</volume></usage>"
                                  "</secret>";
        struct virt_spec spec = spec_of(VIRT_USAGE_VOLUME, "vol-foreign-1", "", false);
        struct secret *mine = text_value("my canary"), *theirs = text_value("their canary");
        char uuid[VIR_UUID_STRING_BUFLEN] = "";
        char *before = NULL, *after = NULL;
        struct virt_info info;
        const char *reason = NULL;
        bool changed = false;

        REQUIRE(embedded() && mine && theirs);
        REQUIRE(raw_define(xml, "their canary", uuid));
        before = raw_xml(uuid);
        CHECK(virt_ensure(shared, &spec, mine, &changed, NULL, &reason) == -EEXIST);
        CHECK(!changed);
        CHECK(reason_has(reason, uuid));
        CHECK(raw_value_is(uuid, theirs));
        after = raw_xml(uuid);
        CHECK(before && after && strcmp(before, after) == 0);
        REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, "vol-foreign-1", &info, &reason) == 0);
        CHECK(!info.owned && info.created == 0);
        CHECK(strcmp(info.uuid, uuid) == 0);
        reason = NULL;
        CHECK(virt_remove(shared, VIRT_USAGE_VOLUME, "vol-foreign-1", &reason) == -EEXIST);
        CHECK(reason_has(reason, uuid));
        CHECK(raw_exists(uuid));
        free(before);
        free(after);
        secret_free(mine);
        secret_free(theirs);
}

/* Kolla's nova-libvirt and TripleO's nova_libvirt_init_secret define the
 * cephx secret themselves: the same UUID and value counts as present and is
 * never touched; another value or UUID is reported, still untouched. */
TEST(secrets_foreign_identical_counts_as_present)
{
        static const char xml[] = "<secret ephemeral='no' private='no'>"
                                  "<uuid>5b3e9f10-0000-4000-8000-00000000c3f1</uuid>"
                                  "<usage type='ceph'><name>client.kolla secret</name></usage>"
                                  "</secret>";
        struct virt_spec spec = spec_of(VIRT_USAGE_CEPH, "client.kolla secret",
                                           "5b3e9f10-0000-4000-8000-00000000c3f1", false);
        struct secret *same = text_value("AQBcephxkey=="), *other = text_value("AQBotherkey==");
        char uuid[VIR_UUID_STRING_BUFLEN] = "", got[VIR_UUID_STRING_BUFLEN] = "";
        char *before = NULL, *after = NULL;
        const char *reason = NULL;
        bool changed = true;

        REQUIRE(embedded() && same && other);
        REQUIRE(raw_define(xml, "AQBcephxkey==", uuid));
        before = raw_xml(uuid);
        CHECK(virt_ensure(shared, &spec, same, &changed, got, &reason) == 0);
        CHECK(!changed);
        CHECK(strcmp(got, uuid) == 0);
        changed = true;
        CHECK(virt_ensure(shared, &spec, same, &changed, NULL, &reason) == 0 && !changed);
        reason = NULL;
        CHECK(virt_ensure(shared, &spec, other, &changed, NULL, &reason) == -EEXIST);
        CHECK(reason_has(reason, uuid) && reason_has(reason, "different value"));
        CHECK(raw_value_is(uuid, same));
        snprintf(spec.uuid, sizeof(spec.uuid), "%s", "5b3e9f10-0000-4000-8000-00000000c3f2");
        reason = NULL;
        CHECK(virt_ensure(shared, &spec, same, &changed, NULL, &reason) == -EEXIST);
        CHECK(reason_has(reason, "another UUID"));
        after = raw_xml(uuid);
        CHECK(before && after && strcmp(before, after) == 0);
        CHECK(raw_value_is(uuid, same));
        free(before);
        free(after);
        secret_free(same);
        secret_free(other);
}

/* A secret of someone else's holding the UUID asked for, for another usage. */
TEST(secrets_foreign_uuid_left_alone)
{
        static const char xml[] = "<secret ephemeral='no' private='no'>"
                                  "<uuid>6c8d2b1a-0000-4000-8000-00000000f00d</uuid>"
                                  "<usage type='ceph'><name>someone else</name></usage>"
                                  "</secret>";
        struct virt_spec spec = spec_of(VIRT_USAGE_CEPH, "client.mine",
                                           "6c8d2b1a-0000-4000-8000-00000000f00d", false);
        struct secret *mine = text_value("my canary");
        char uuid[VIR_UUID_STRING_BUFLEN] = "";
        struct virt_info info;
        const char *reason = NULL;

        REQUIRE(embedded() && mine);
        REQUIRE(raw_define(xml, NULL, uuid));
        CHECK(virt_ensure(shared, &spec, mine, NULL, NULL, &reason) == -EEXIST);
        CHECK(reason_has(reason, "6c8d2b1a-0000-4000-8000-00000000f00d"));
        CHECK(virt_find(shared, VIRT_USAGE_CEPH, "client.mine", &info, NULL) == -ENOENT);
        REQUIRE(virt_find(shared, VIRT_USAGE_CEPH, "someone else", &info, NULL) == 0);
        CHECK(!info.owned);
        secret_free(mine);
}

/* Only the exact mark makes a secret ours. */
TEST(secrets_mark_must_be_exact)
{
        static const char *descriptions[] = {
                VIRT_OWNER_MARK "; created=5 by hand",
                VIRT_OWNER_MARK "; created=",
                VIRT_OWNER_MARK,
                "x " VIRT_OWNER_MARK "; created=5",
                VIRT_OWNER_MARK "; created=0",
        };

        REQUIRE(embedded());
        for (size_t i = 0; i < sizeof(descriptions) / sizeof(descriptions[0]); i++) {
                char xml[512], usage_id[32], uuid[VIR_UUID_STRING_BUFLEN];
                struct virt_info info;

                snprintf(usage_id, sizeof(usage_id), "vol-mark-%zu", i);
                snprintf(xml, sizeof(xml),
                         "<secret ephemeral='no' private='no'><description>%s</description>"
                         "<usage type='volume'><volume>%s</volume></usage></secret>",
                         descriptions[i], usage_id);
                REQUIRE(raw_define(xml, NULL, uuid));
                REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, usage_id, &info, NULL) == 0);
                CHECK(!info.owned);
                CHECK(virt_remove(shared, VIRT_USAGE_VOLUME, usage_id, NULL) == -EEXIST);
        }
}

/* Private flipped behind our back (both ways): redefined, created= and
 * the libvirt-chosen UUID kept, value set again. */
TEST(secrets_private_flag_drift_repaired)
{
        static const char *flags[] = {"yes", "no"};

        REQUIRE(embedded());
        if (!undefine_works())
                return;
        for (size_t i = 0; i < 2; i++) {
                struct virt_spec spec;
                struct secret *v = text_value("drift canary");
                char xml[512], usage_id[32], uuid[VIR_UUID_STRING_BUFLEN];
                char got[VIRT_UUID_LEN + 1] = "";
                struct virt_info info;
                const char *reason = NULL;
                bool changed = false;

                REQUIRE(v);
                snprintf(usage_id, sizeof(usage_id), "vol-drift-%zu", i);
                spec = spec_of(VIRT_USAGE_VOLUME, usage_id, "", i == 1);
                snprintf(xml, sizeof(xml),
                         "<secret ephemeral='no' private='%s'><description>%s; created=12345"
                         "</description><usage type='volume'><volume>%s</volume></usage></secret>",
                         flags[i], VIRT_OWNER_MARK, usage_id);
                REQUIRE(raw_define(xml, "old canary", uuid));
                CHECK(virt_ensure(shared, &spec, v, &changed, got, &reason) == 0);
                CHECK(changed);
                CHECK(strcmp(got, uuid) == 0);
                REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, usage_id, &info, &reason) == 0);
                CHECK(info.owned && info.created == 12345);
                CHECK(info.private_value == (i == 1));
                CHECK(stored_value_is(uuid, v));
                if (i == 0) {
                        CHECK(raw_value_is(uuid, v));
                        CHECK(virt_ensure(shared, &spec, v, &changed, NULL, &reason) == 0);
                        CHECK(!changed);
                }
                secret_free(v);
        }
}

TEST(secrets_uuid_drift_repaired)
{
        const char *a = "0a0a0a0a-1111-4111-8111-000000000001";
        const char *b = "0B0B0B0B-2222-4222-8222-000000000002"; /* case does not matter */
        struct virt_spec spec = spec_of(VIRT_USAGE_CEPH, "client.drift", a, false);
        struct secret *v = text_value("uuid canary");
        char got[VIRT_UUID_LEN + 1] = "";
        struct virt_info first, info;
        const char *reason = NULL;
        bool changed = false;

        REQUIRE(embedded() && v);
        if (!undefine_works())
                return;
        REQUIRE(virt_ensure(shared, &spec, v, NULL, NULL, &reason) == 0);
        REQUIRE(virt_find(shared, VIRT_USAGE_CEPH, "client.drift", &first, &reason) == 0);
        spec = spec_of(VIRT_USAGE_CEPH, "client.drift", b, false);
        CHECK(virt_ensure(shared, &spec, v, &changed, got, &reason) == 0);
        CHECK(changed);
        CHECK(strcasecmp(got, b) == 0);
        CHECK(!raw_exists(a));
        REQUIRE(virt_find(shared, VIRT_USAGE_CEPH, "client.drift", &info, &reason) == 0);
        CHECK(strcasecmp(info.uuid, b) == 0);
        CHECK(info.created == first.created);
        CHECK(raw_value_is(info.uuid, v));
        CHECK(virt_ensure(shared, &spec, v, &changed, NULL, &reason) == 0);
        CHECK(!changed);
        secret_free(v);
}

/* Our secret holds the UUID for an old usage name: moved to the new one. */
TEST(secrets_usage_drift_repaired)
{
        const char *uuid = "0c0c0c0c-3333-4333-8333-000000000003";
        struct virt_spec spec = spec_of(VIRT_USAGE_CEPH, "client.old", uuid, false);
        struct secret *v = text_value("usage canary");
        struct virt_info first, info;
        const char *reason = NULL;
        bool changed = false;

        REQUIRE(embedded() && v);
        if (!undefine_works())
                return;
        REQUIRE(virt_ensure(shared, &spec, v, NULL, NULL, &reason) == 0);
        REQUIRE(virt_find(shared, VIRT_USAGE_CEPH, "client.old", &first, &reason) == 0);
        spec = spec_of(VIRT_USAGE_CEPH, "client.new", uuid, false);
        CHECK(virt_ensure(shared, &spec, v, &changed, NULL, &reason) == 0);
        CHECK(changed);
        reason = NULL;
        CHECK(virt_find(shared, VIRT_USAGE_CEPH, "client.old", &info, &reason) == -ENOENT);
        CHECK(reason_has(reason, "client.old"));
        REQUIRE(virt_find(shared, VIRT_USAGE_CEPH, "client.new", &info, &reason) == 0);
        CHECK(strcmp(info.uuid, uuid) == 0);
        CHECK(info.created == first.created);
        CHECK(raw_value_is(uuid, v));
        secret_free(v);
}

static const struct virt_info *listed(const struct virt_info *infos, size_t n,
                                         const char *usage_id)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(infos[i].usage_id, usage_id) == 0)
                        return &infos[i];
        return NULL;
}

TEST(secrets_find_remove_list)
{
        struct virt_spec one = spec_of(VIRT_USAGE_VOLUME, "vol-list-1", "", false);
        struct virt_spec two = spec_of(VIRT_USAGE_VOLUME, "vol-list-2", "", true);
        struct secret *v = text_value("list canary");
        char foreign[VIR_UUID_STRING_BUFLEN], tls[VIR_UUID_STRING_BUFLEN];
        const struct virt_info *found;
        struct virt_info *infos = NULL, info;
        const char *reason = NULL;
        size_t n = 0;

        REQUIRE(embedded() && v);
        if (!undefine_works())
                return;
        REQUIRE(virt_ensure(shared, &one, v, NULL, NULL, &reason) == 0);
        REQUIRE(virt_ensure(shared, &two, v, NULL, NULL, &reason) == 0);
        REQUIRE(raw_define("<secret ephemeral='no' private='no'><usage type='volume'>"
                           "<volume>vol-list-foreign</volume></usage></secret>", NULL, foreign));
        REQUIRE(raw_define("<secret ephemeral='no' private='no'><usage type='tls'>"
                           "<name>tls-list</name></usage></secret>", NULL, tls));

        REQUIRE(virt_list(shared, &infos, &n, &reason) == 0);
        CHECK(n >= 4);
        found = listed(infos, n, "vol-list-1");
        CHECK(found && found->owned && !found->private_value && found->created > 0 &&
              found->usage == VIRT_USAGE_VOLUME);
        found = listed(infos, n, "vol-list-2");
        CHECK(found && found->owned && found->private_value);
        found = listed(infos, n, "vol-list-foreign");
        CHECK(found && !found->owned && found->created == 0 && strcmp(found->uuid, foreign) == 0);
        found = listed(infos, n, "tls-list");
        CHECK(found && !found->owned && found->usage == VIRT_USAGE_OTHER &&
              strcmp(found->uuid, tls) == 0);
        free(infos);

        CHECK(virt_remove(shared, VIRT_USAGE_VOLUME, "vol-list-1", &reason) == 0);
        reason = NULL;
        CHECK(virt_find(shared, VIRT_USAGE_VOLUME, "vol-list-1", &info, &reason) == -ENOENT);
        CHECK(reason_has(reason, "vol-list-1"));
        CHECK(virt_remove(shared, VIRT_USAGE_VOLUME, "vol-list-1", NULL) == -ENOENT);
        CHECK(virt_remove(shared, VIRT_USAGE_VOLUME, "vol-list-2", NULL) == 0);
        CHECK(virt_remove(shared, VIRT_USAGE_VOLUME, "vol-list-foreign", NULL) == -EEXIST);
        CHECK(raw_exists(foreign));

        /* Other usage types are listed, never touched. */
        reason = NULL;
        CHECK(virt_remove(shared, VIRT_USAGE_OTHER, "tls-list", &reason) == -EINVAL);
        CHECK(reason_clean(reason));
        CHECK(virt_find(shared, VIRT_USAGE_OTHER, "tls-list", &info, NULL) == -EINVAL);
        CHECK(raw_exists(tls));
        secret_free(v);
}

TEST(secrets_usage_id_escaped)
{
        const char *id = "vol&<'\">x";
        struct virt_spec spec = spec_of(VIRT_USAGE_VOLUME, id, "", false);
        struct secret *v = text_value("escape canary");
        struct virt_info info;
        const char *reason = NULL;
        bool changed = false;

        REQUIRE(embedded() && v);
        CHECK(virt_ensure(shared, &spec, v, &changed, NULL, &reason) == 0);
        REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, id, &info, &reason) == 0);
        CHECK(strcmp(info.usage_id, id) == 0);
        CHECK(info.owned);
        CHECK(virt_ensure(shared, &spec, v, &changed, NULL, &reason) == 0);
        CHECK(!changed);
        secret_free(v);
}

TEST(secrets_invalid_specs)
{
        struct secret *v = text_value("invalid canary"), *empty = text_value("x");
        struct virt_spec spec;
        char long_id[VIRT_USAGE_ID_MAX];
        const char *reason = NULL;

        REQUIRE(embedded() && v && empty);
        empty->len = 0;
        spec = spec_of(VIRT_USAGE_VOLUME, "", "", false);
        CHECK(virt_ensure(shared, &spec, v, NULL, NULL, &reason) == -EINVAL);
        CHECK(reason_clean(reason));
        spec = spec_of(VIRT_USAGE_VOLUME, "vol\nline", "", false);
        CHECK(virt_ensure(shared, &spec, v, NULL, NULL, &reason) == -EINVAL);
        CHECK(reason_clean(reason));
        spec = spec_of(VIRT_USAGE_CEPH, "client.invalid", "not-a-uuid", false);
        CHECK(virt_ensure(shared, &spec, v, NULL, NULL, &reason) == -EINVAL);
        CHECK(reason_clean(reason));
        spec = spec_of(VIRT_USAGE_CEPH, "client.invalid", "", false);
        CHECK(virt_ensure(shared, &spec, empty, NULL, NULL, &reason) == -EINVAL);
        CHECK(reason_clean(reason));
        spec.usage = VIRT_USAGE_OTHER;
        CHECK(virt_ensure(shared, &spec, v, NULL, NULL, &reason) == -EINVAL);
        memset(long_id, 'a', sizeof(long_id));
        CHECK(virt_find(shared, VIRT_USAGE_VOLUME, long_id, &(struct virt_info){0},
                           &reason) == -EINVAL);
        CHECK(reason_has(reason, "127"));
        secret_free(v);
        secret_free(empty);
}

/* The embedded secret driver has no domains: a clean error, not a count. */
TEST(secrets_domains_using_without_domain_driver)
{
        unsigned count = 77;
        const char *reason = NULL;

        REQUIRE(embedded());
        CHECK(virt_domains_using(shared, "5b3f0e5c-6a1e-4c1b-9a55-0123456789ab", false, &count,
                                    &reason) == -EOPNOTSUPP);
        CHECK(reason_has(reason, "5b3f0e5c-6a1e-4c1b-9a55-0123456789ab"));
        CHECK(virt_domains_using(shared, "5b3f0e5c-6a1e-4c1b-9a55-0123456789ab", true, &count,
                                    &reason) == -EOPNOTSUPP);
        CHECK(virt_domains_using(shared, "nope", true, &count, &reason) == -EINVAL);
        CHECK(count == 77);
        CHECK(virt_alive(shared));
}

/* A placeholder: defined only when missing, marked, and turned into the
 * real value in place (same UUID, same created=, never a moment without
 * a secret): the value first, then the mark. */
TEST(secrets_placeholder_then_value_in_place)
{
        struct virt_spec placeholder = spec_of(VIRT_USAGE_VOLUME, "vol-placeholder-1", "", true);
        struct virt_spec real = placeholder;
        struct secret *p = text_value("canary placeholder"), *v = text_value("canary real");
        char first[VIRT_UUID_LEN + 1] = "", again[VIRT_UUID_LEN + 1] = "";
        struct virt_info info;
        const char *reason = NULL;
        bool defined = false, changed = false;
        int64_t created;

        REQUIRE(embedded() && p && v);
        placeholder.placeholder = true;
        real.placeholder = false;
        CHECK(virt_ensure_present(shared, &placeholder, p, &defined, first, NULL, &reason) == 0);
        CHECK(defined);
        REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, "vol-placeholder-1", &info, &reason) == 0);
        CHECK(info.owned && info.placeholder);
        CHECK(stored_value_is(first, p));
        created = info.created;
        /* Present already: left as it is, whatever the value. */
        CHECK(virt_ensure_present(shared, &placeholder, v, &defined, again, NULL, &reason) == 0);
        CHECK(!defined);
        CHECK(strcmp(first, again) == 0);
        CHECK(stored_value_is(first, p));
        /* The real value: same secret, new mark. */
        CHECK(virt_ensure(shared, &real, v, &changed, again, &reason) == 0);
        CHECK(changed);
        CHECK(strcmp(first, again) == 0);
        CHECK(stored_value_is(first, v));
        REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, "vol-placeholder-1", &info, &reason) == 0);
        CHECK(info.owned && !info.placeholder);
        CHECK(info.created == created);
        CHECK(info.private_value);
        /* ensure_present never downgrades a set value to a placeholder. */
        CHECK(virt_ensure_present(shared, &placeholder, p, &defined, NULL, NULL, &reason) == 0);
        CHECK(!defined);
        CHECK(stored_value_is(first, v));
        secret_free(p);
        secret_free(v);
}

TEST(secrets_placeholder_foreign_left_alone)
{
        struct virt_spec spec = spec_of(VIRT_USAGE_VOLUME, "vol-placeholder-foreign", "", true);
        struct secret *p = text_value("canary placeholder");
        char uuid[VIR_UUID_STRING_BUFLEN];
        const char *reason = NULL;
        bool defined = true;

        REQUIRE(embedded() && p);
        spec.placeholder = true;
        REQUIRE(raw_define("<secret ephemeral='no' private='no'><usage type='volume'><volume>"
                           "vol-placeholder-foreign</volume></usage></secret>",
                           NULL, uuid));
        CHECK(virt_ensure_present(shared, &spec, p, &defined, NULL, NULL, &reason) == -EEXIST);
        CHECK(reason && strstr(reason, uuid));
        CHECK(!strstr(reason, "canary"));
        secret_free(p);
}

/* absent_likely (a new volume, one just undefined) defines without a
 * lookup first; where the caller guessed wrong, libvirt refuses the second
 * secret for the usage id and the usual path decides, as without the hint:
 * a present secret keeps its UUID and is updated in place, a foreign one
 * is left alone. */
TEST(secrets_absent_likely_guessed_wrong)
{
        struct virt_spec spec = spec_of(VIRT_USAGE_VOLUME, "vol-absent-1", "", true);
        struct virt_spec foreign = spec_of(VIRT_USAGE_VOLUME, "vol-absent-foreign", "", true);
        struct secret *p = text_value("canary placeholder"), *v = text_value("canary real");
        char first[VIRT_UUID_LEN + 1] = "", again[VIRT_UUID_LEN + 1] = "";
        char uuid[VIR_UUID_STRING_BUFLEN];
        struct virt_info *all = NULL;
        size_t n_all = 0, same = 0;
        struct virt_info info;
        const char *reason = NULL;
        bool defined = false, changed = false;

        REQUIRE(embedded() && p && v);
        spec.placeholder = true;
        spec.absent_likely = true;
        CHECK(virt_ensure_present(shared, &spec, p, &defined, first, NULL, &reason) == 0);
        CHECK(defined);
        CHECK(stored_value_is(first, p));
        /* Wrong guess: present already, left as it is. */
        CHECK(virt_ensure_present(shared, &spec, v, &defined, again, NULL, &reason) == 0);
        CHECK(!defined);
        CHECK(strcmp(first, again) == 0);
        CHECK(stored_value_is(first, p));
        /* Wrong guess with the real value: same secret, value and mark. */
        spec.placeholder = false;
        CHECK(virt_ensure(shared, &spec, v, &changed, again, &reason) == 0);
        CHECK(changed);
        CHECK(strcmp(first, again) == 0);
        CHECK(stored_value_is(first, v));
        REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, "vol-absent-1", &info, &reason) == 0);
        CHECK(info.owned && !info.placeholder);
        REQUIRE(virt_list(shared, &all, &n_all, &reason) == 0);
        for (size_t i = 0; i < n_all; i++)
                same += strcmp(all[i].usage_id, "vol-absent-1") == 0;
        CHECK(same == 1);
        free(all);
        /* Truly absent, with the real value: defined at once. */
        REQUIRE(virt_remove(shared, VIRT_USAGE_VOLUME, "vol-absent-1", &reason) == 0);
        CHECK(virt_ensure(shared, &spec, v, &changed, again, &reason) == 0);
        CHECK(changed);
        CHECK(stored_value_is(again, v));
        /* A foreign secret holds the usage id: refused as without the hint. */
        foreign.placeholder = true;
        foreign.absent_likely = true;
        REQUIRE(raw_define("<secret ephemeral='no' private='no'><usage type='volume'><volume>"
                           "vol-absent-foreign</volume></usage></secret>",
                           NULL, uuid));
        CHECK(virt_ensure_present(shared, &foreign, p, &defined, NULL, NULL, &reason) == -EEXIST);
        CHECK(reason && strstr(reason, uuid));
        foreign.placeholder = false;
        CHECK(virt_ensure(shared, &foreign, v, &changed, NULL, &reason) == -EEXIST);
        CHECK(reason && strstr(reason, uuid));
        secret_free(p);
        secret_free(v);
}

TEST(secrets_placeholder_mark_parsed)
{
        static const struct {
                const char *description;
                bool owned, placeholder;
        } cases[] = {
                {VIRT_OWNER_MARK "; created=7; " VIRT_PLACEHOLDER_MARK, true, true},
                {VIRT_OWNER_MARK "; created=7", true, false},
                {VIRT_OWNER_MARK "; created=7; placeholders", false, false},
                {VIRT_OWNER_MARK "; " VIRT_PLACEHOLDER_MARK, false, false},
                {VIRT_OWNER_MARK "; created=; " VIRT_PLACEHOLDER_MARK, false, false},
        };

        REQUIRE(embedded());
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char xml[512], usage_id[40], uuid[VIR_UUID_STRING_BUFLEN];
                struct virt_info info;

                snprintf(usage_id, sizeof(usage_id), "vol-pmark-%zu", i);
                snprintf(xml, sizeof(xml),
                         "<secret ephemeral='no' private='no'><description>%s</description>"
                         "<usage type='volume'><volume>%s</volume></usage></secret>",
                         cases[i].description, usage_id);
                REQUIRE(raw_define(xml, NULL, uuid));
                REQUIRE(virt_find(shared, VIRT_USAGE_VOLUME, usage_id, &info, NULL) == 0);
                CHECK(info.owned == cases[i].owned);
                CHECK(info.placeholder == cases[i].placeholder);
        }
}
