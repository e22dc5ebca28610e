/* Unit tests for agent/kolla/ (kolla.c, kolla_json.c, kolla_copy.c,
 * kolla_tree.c, kolla_perms.c): config.json parsed into entries (exact
 * error and warning texts), the command split, the strategy, and real
 * copies and permissions in unit_tmpdir(). */
#include "kolla/kolla.h"
#include "base/log.h"
#include "../unit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONFIG_JSON "/k/config.json"

static char error[KOLLA_ERROR_MAX];

static bool write_text(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t n = strlen(text);
        bool ok;

        if (fd < 0)
                return false;
        ok = write(fd, text, n) == (ssize_t)n && fchmod(fd, mode) == 0;
        return close(fd) == 0 && ok;
}

/* The file holds exactly text. */
static bool holds(const char *path, const char *text)
{
        char buf[4096];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return false;
        buf[n] = '\0';
        if (strcmp(buf, text) == 0)
                return true;
        fprintf(stderr, "    %s holds '%s', want '%s'\n", path, buf, text);
        return false;
}

static int mode_of(const char *path)
{
        struct stat st;

        return lstat(path, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static const char *at(const char *dir, const char *name)
{
        static char paths[8][PATH_MAX];
        static unsigned next;
        char *p = paths[next++ % 8];

        snprintf(p, PATH_MAX, "%s/%s", dir, name);
        return p;
}

static int parse(const char *json, struct kolla_config **ret)
{
        error[0] = '\0';
        return kolla_parse(CONFIG_JSON, json, strlen(json), ret, error, sizeof(error));
}

static bool error_is(const char *want)
{
        if (strcmp(error, want) == 0)
                return true;
        fprintf(stderr, "    error: %s\n    want:  %s\n", error, want);
        return false;
}

/* config.json naming files under dir; "%D" in text stands for dir. */
static struct kolla_config *config_for(const char *dir, const char *text)
{
        char json[8192], *o = json;
        struct kolla_config *k = NULL;

        for (const char *p = text; *p && o < json + sizeof(json) - PATH_MAX; p++) {
                if (p[0] == '%' && p[1] == 'D') {
                        o += sprintf(o, "%s", dir);
                        p++;
                } else {
                        *o++ = *p;
                }
        }
        *o = '\0';
        if (parse(json, &k) < 0)
                fprintf(stderr, "    %s\n", error);
        return k;
}

/* Quiet: copies log a line each. */
static enum log_level saved_level;

static void quiet(void)
{
        saved_level = log_get_level();
        log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
}

static void loud(void)
{
        log_setup(saved_level, LOG_FORMAT_TEXT);
}

/* ---- parsing --------------------------------------------------------------- */

TEST(kolla_parse_every_key)
{
        static const char json[] =
                "{\"command\": \"rbd-luks-agent -c /etc/rbd-luks-agent/a.ini run\",\n"
                " \"config_files\": [\n"
                "  {\"source\": \"/k/a.ini\", \"dest\": \"/etc/rbd-luks-agent/a.ini\",\n"
                "   \"owner\": \"rbd-luks-agent:kolla\", \"perm\": \"0640\"},\n"
                "  {\"source\": \"/k/ceph/*\", \"dest\": \"/etc/ceph/\", \"owner\": \"42700\",\n"
                "   \"perm\": \"600\", \"optional\": true, \"merge\": true,\n"
                "   \"preserve_properties\": true}],\n"
                " \"permissions\": [{\"path\": \"/var/log/kolla/x\", \"owner\": \"1:2\",\n"
                "   \"perm\": \"0750\", \"recurse\": true}, {\"path\": \"/var/lib/x\"}]}\n";
        struct kolla_config *k = NULL;

        REQUIRE(parse(json, &k) == 0);
        CHECK(strcmp(k->path, CONFIG_JSON) == 0);
        REQUIRE(k->argv && k->argv[0] && k->argv[3] && !k->argv[4]);
        CHECK(strcmp(k->argv[0], "rbd-luks-agent") == 0 && strcmp(k->argv[3], "run") == 0);
        REQUIRE(k->n_files == 2 && k->n_permissions == 2);
        CHECK(strcmp(k->files[0].source, "/k/a.ini") == 0);
        CHECK(strcmp(k->files[0].owner, "rbd-luks-agent:kolla") == 0);
        CHECK(k->files[0].perm == 0640);
        CHECK(!k->files[0].optional && !k->files[0].merge && !k->files[0].preserve_properties);
        CHECK(strcmp(k->files[1].dest, "/etc/ceph/") == 0 && k->files[1].perm == 0600);
        CHECK(k->files[1].optional && k->files[1].merge && k->files[1].preserve_properties);
        CHECK(strcmp(k->permissions[0].owner, "1:2") == 0 && k->permissions[0].perm == 0750);
        CHECK(k->permissions[0].recurse);
        CHECK(k->permissions[1].owner == NULL && k->permissions[1].perm == KOLLA_PERM_UNSET);
        CHECK(!k->permissions[1].recurse);
        CHECK(k->n_warnings == 0);
        kolla_config_free(k);
}

TEST(kolla_parse_lists_are_optional)
{
        struct kolla_config *k = NULL;

        REQUIRE(parse("{\"command\": \"x\", \"permissions\": null}", &k) == 0);
        CHECK(k->n_files == 0 && k->n_permissions == 0);
        kolla_config_free(k);
}

TEST(kolla_unknown_keys_are_warnings)
{
        struct kolla_config *k = NULL;

        REQUIRE(parse("{\"command\": \"x\", \"comand\": \"y\", \"config_files\": [{\"source\": "
                      "\"/a\", \"dest\": \"/b\", \"mode\": \"0600\"}], \"permissions\": [{\"path\":"
                      " \"/c\", \"recursive\": true}]}",
                      &k) == 0);
        REQUIRE(k->n_warnings == 3);
        CHECK(strcmp(k->warnings[0], CONFIG_JSON ": unknown key 'comand' (ignored)") == 0);
        CHECK(strcmp(k->warnings[1],
                     CONFIG_JSON ": config_files[0]: unknown key 'mode' (ignored)") == 0);
        CHECK(strcmp(k->warnings[2],
                     CONFIG_JSON ": permissions[0]: unknown key 'recursive' (ignored)") == 0);
        /* ...and the entry is still taken. */
        CHECK(k->n_files == 1 && k->files[0].perm == KOLLA_PERM_UNSET);
        CHECK(k->n_permissions == 1 && !k->permissions[0].recurse);
        kolla_config_free(k);
}

TEST(kolla_bad_perm)
{
        static const char *const bad[] = {"0x600", "60", "06000", "0800", "", "rw-------"};
        struct kolla_config *k = NULL;
        char json[256], want[256];
        int mode;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(json, sizeof(json),
                         "{\"command\": \"x\", \"config_files\": [{\"source\": \"/a\", "
                         "\"dest\": \"/b\", \"perm\": \"%s\"}]}", bad[i]);
                snprintf(want, sizeof(want),
                         CONFIG_JSON ": config_files[0]: perm '%s' is not an octal mode like "
                         "\"0600\" (3 or 4 digits 0-7)", bad[i]);
                CHECK(parse(json, &k) == -EINVAL && k == NULL);
                CHECK(error_is(want));
        }
        CHECK(parse("{\"command\": \"x\", \"permissions\": [{\"path\": \"/a\", \"perm\": 384}]}",
                    &k) == -EINVAL);
        CHECK(error_is(CONFIG_JSON ": permissions[0]: 'perm' must be a string"));
        CHECK(kolla_parse_perm("0600", &mode) == 0 && mode == 0600);
        CHECK(kolla_parse_perm("4755", &mode) == 0 && mode == 04755);
        CHECK(kolla_parse_perm("644", &mode) == 0 && mode == 0644);
}

/* Each row: config.json text -> exact error after "CONFIG_JSON: ". */
static const struct {
        const char *json;
        int r;
        const char *error;
} parse_errors[] = {
        {"{}", -EINVAL, "missing 'command'"},
        {"{\"command\": [\"a\"]}", -EINVAL, "'command' must be a string"},
        {"{\"command\": \"  \\t \"}", -EINVAL, "command is empty"},
        {"{\"command\": \"a\\nb\"}", -EINVAL,
         "command holds a control character (byte 1); it is one line, split on blanks"},
        {"[1]", -EINVAL, "not a JSON object"},
        {"{\"command\": \"x\"", -EINVAL, "not valid JSON (incomplete, near byte 15)"},
        {"{\"command\": \"x\"} {}", -EINVAL, "not valid JSON (unexpected character, near byte 17)"},
        {"{\"command\": \"x\", \"config_files\": {}}", -EINVAL, "config_files must be a list"},
        {"{\"command\": \"x\", \"config_files\": [\"/a\"]}", -EINVAL,
         "config_files[0]: not an object"},
        {"{\"command\": \"x\", \"config_files\": [{\"dest\": \"/b\"}]}", -EINVAL,
         "config_files[0]: missing 'source'"},
        {"{\"command\": \"x\", \"config_files\": [{\"source\": \"/a\", \"dest\": \"b\"}]}",
         -EINVAL, "config_files[0]: dest 'b' is not an absolute path (shorter than 4096 bytes)"},
        {"{\"command\": \"x\", \"config_files\": [{\"source\": \"/a\", \"dest\": \"/b\", "
         "\"optional\": \"yes\"}]}",
         -EINVAL, "config_files[0]: 'optional' must be true or false"},
        {"{\"command\": \"x\", \"config_files\": [{\"source\": \"/a\", \"dest\": \"/b\"}, "
         "{\"source\": \"/a\", \"dest\": \"/b\", \"owner\": \"a:b:c\"}]}",
         -EINVAL,
         "config_files[1]: owner 'a:b:c' is not user or user:group (names or numeric ids)"},
        {"{\"command\": \"x\", \"permissions\": [{\"path\": \"/a\", \"owner\": \"root:\"}]}",
         -EINVAL, "permissions[0]: owner 'root:' is not user or user:group (names or numeric ids)"},
        {"{\"command\": \"x\", \"permissions\": [{\"owner\": \"root\"}]}", -EINVAL,
         "permissions[0]: missing 'path'"},
        {"{\"command\": \"x\", \"config_files\": [{\"source\": \"/a\\u0000b\", \"dest\": \"/b\"}]}",
         -EINVAL, "config_files[0]: 'source' holds a NUL byte"},
        {"{\"command\": \"x\", \"a\": [[[[[[[[[1]]]]]]]]]}", -EINVAL, "JSON nested deeper than 8"},
};

TEST(kolla_parse_errors)
{
        char want[512];

        for (size_t i = 0; i < sizeof(parse_errors) / sizeof(parse_errors[0]); i++) {
                struct kolla_config *k = NULL;
                int r = parse(parse_errors[i].json, &k);

                snprintf(want, sizeof(want), CONFIG_JSON ": %s", parse_errors[i].error);
                if (r != parse_errors[i].r || k || strcmp(error, want) != 0) {
                        fprintf(stderr, "  row %zu: got %d '%s'\n    want %d '%s'\n", i, r, error,
                                parse_errors[i].r, want);
                        unit_fail(__FILE__, __LINE__, "parse_errors");
                }
                kolla_config_free(k);
        }
}

TEST(kolla_parse_limits)
{
        struct kolla_config *k = NULL;
        size_t n = KOLLA_MAX_ENTRIES + 1, size = 64 + n * 40;
        char *json = malloc(size), *o = json;

        REQUIRE(json);
        o += sprintf(o, "{\"command\": \"x\", \"permissions\": [");
        for (size_t i = 0; i < n; i++)
                o += sprintf(o, "%s{\"path\": \"/a\"}", i ? "," : "");
        sprintf(o, "]}");
        CHECK(parse(json, &k) == -E2BIG && !k);
        CHECK(error_is(CONFIG_JSON ": permissions has 257 entries (at most 256)"));
        free(json);
        CHECK(kolla_parse(CONFIG_JSON, "{}", KOLLA_MAX_FILE_BYTES + 1, &k, error,
                          sizeof(error)) == -E2BIG);
        CHECK(error_is(CONFIG_JSON ": 1048577 bytes (at most 1048576)"));
}

TEST(kolla_command_splitting)
{
        char **argv = NULL;
        char words[KOLLA_MAX_ARGS * 2 + 8];

        REQUIRE(kolla_split_command("  rbd-luks-agent\t-c  /etc/a.ini run  ", &argv, error,
                                    sizeof(error)) == 0);
        REQUIRE(argv[0] && argv[1] && argv[2] && argv[3]);
        CHECK(strcmp(argv[0], "rbd-luks-agent") == 0 && strcmp(argv[1], "-c") == 0);
        CHECK(strcmp(argv[2], "/etc/a.ini") == 0 && strcmp(argv[3], "run") == 0);
        CHECK(argv[4] == NULL);
        kolla_argv_free(argv);

        /* No shell: quotes stay in the words, as kolla_start leaves them. */
        REQUIRE(kolla_split_command("sh -c 'a b'", &argv, error, sizeof(error)) == 0);
        CHECK(strcmp(argv[2], "'a") == 0 && strcmp(argv[3], "b'") == 0 && !argv[4]);
        kolla_argv_free(argv);

        memset(words, 0, sizeof(words));
        for (size_t i = 0; i < KOLLA_MAX_ARGS; i++)
                strcat(words, "a ");
        REQUIRE(kolla_split_command(words, &argv, error, sizeof(error)) == 0);
        kolla_argv_free(argv);
        strcat(words, "b");
        CHECK(kolla_split_command(words, &argv, error, sizeof(error)) == -E2BIG);
        CHECK(error_is("command has more than 256 words"));
}

TEST(kolla_command_quotes_warn)
{
        struct kolla_config *k = NULL;

        REQUIRE(parse("{\"command\": \"sh -c 'exec agent'\"}", &k) == 0);
        REQUIRE(k->n_warnings == 1);
        CHECK(strcmp(k->warnings[0], CONFIG_JSON ": command is split on blanks only, with no "
                                     "shell: its quotes are passed on as they are") == 0);
        kolla_config_free(k);
}

TEST(kolla_strategy)
{
        enum kolla_strategy s;
        bool defaulted;

        CHECK(kolla_parse_strategy(NULL, &s, &defaulted) == 0 && s == KOLLA_COPY_ALWAYS &&
              defaulted);
        CHECK(kolla_parse_strategy("", &s, &defaulted) == 0 && defaulted);
        CHECK(kolla_parse_strategy("COPY_ALWAYS", &s, &defaulted) == 0 &&
              s == KOLLA_COPY_ALWAYS && !defaulted);
        CHECK(kolla_parse_strategy("COPY_ONCE", &s, &defaulted) == 0 && s == KOLLA_COPY_ONCE);
        CHECK(kolla_parse_strategy("copy_once", &s, &defaulted) == -EINVAL);
        CHECK(kolla_parse_strategy("COPY_NEVER", &s, &defaulted) == -EINVAL);
}

TEST(kolla_load_missing_file)
{
        struct kolla_config *k = NULL;
        const char *path = at(unit_tmpdir(), "config.json");

        CHECK(kolla_load(path, &k, error, sizeof(error)) == -ENOENT && !k);
        REQUIRE(write_text(path, "{\"command\": \"true\"}", 0600));
        REQUIRE(kolla_load(path, &k, error, sizeof(error)) == 0);
        CHECK(strcmp(k->argv[0], "true") == 0);
        kolla_config_free(k);
}

/* ---- copies ---------------------------------------------------------------- */

static int copy(struct kolla_config *k)
{
        int r;

        error[0] = '\0';
        quiet();
        r = kolla_copy_files(k, error, sizeof(error));
        loud();
        return r;
}

/* Nothing of ours left behind in dir. */
static bool no_temp_files(const char *dir)
{
        char cmd[PATH_MAX + 64];

        snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -q kolla-copy", dir);
        return system(cmd) != 0;
}

TEST(kolla_copy_file_with_perm)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;
        mode_t old_umask;

        REQUIRE(write_text(at(dir, "keyring"), "[client.x]\n", 0644));
        k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": \"%D/keyring\","
                            " \"dest\": \"%D/etc/ceph/ceph.keyring\", \"perm\": \"0600\"}, "
                            "{\"source\": \"%D/keyring\", \"dest\": \"%D/etc/open\", \"perm\": "
                            "\"0644\"}]}");
        REQUIRE(k);
        old_umask = umask(0);
        CHECK(copy(k) == 0);
        umask(old_umask);
        CHECK(holds(at(dir, "etc/ceph/ceph.keyring"), "[client.x]\n"));
        CHECK(mode_of(at(dir, "etc/ceph/ceph.keyring")) == 0600);
        CHECK(mode_of(at(dir, "etc/open")) == 0644);
        CHECK(mode_of(at(dir, "etc")) == 0755 && mode_of(at(dir, "etc/ceph")) == 0755);
        CHECK(no_temp_files(at(dir, "etc/ceph")));
        /* A second copy replaces the file. */
        REQUIRE(write_text(at(dir, "keyring"), "[client.y]\n", 0644));
        CHECK(copy(k) == 0);
        CHECK(holds(at(dir, "etc/ceph/ceph.keyring"), "[client.y]\n"));
        kolla_config_free(k);
}

TEST(kolla_copy_without_perm_keeps_source_mode)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;
        char owner[64], json[512];

        REQUIRE(write_text(at(dir, "a"), "a", 0640));
        /* The owner it already has: no chown is needed, even without root. */
        snprintf(owner, sizeof(owner), "%u:%u", (unsigned)geteuid(), (unsigned)getegid());
        snprintf(json, sizeof(json), "{\"command\": \"x\", \"config_files\": [{\"source\": "
                 "\"%%D/a\", \"dest\": \"%%D/b\", \"owner\": \"%s\"}]}", owner);
        REQUIRE((k = config_for(dir, json)));
        CHECK(copy(k) == 0);
        CHECK(holds(at(dir, "b"), "a") && mode_of(at(dir, "b")) == 0640);
        kolla_config_free(k);
}

TEST(kolla_copy_glob_source)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE(mkdir(at(dir, "src"), 0755) == 0);
        REQUIRE(write_text(at(dir, "src/a.conf"), "A", 0644));
        REQUIRE(write_text(at(dir, "src/b.conf"), "B", 0644));
        REQUIRE(write_text(at(dir, "src/c.txt"), "C", 0644));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/src/*.conf\", \"dest\": \"%D/out/\", \"perm\": "
                                     "\"0600\"}]}")));
        CHECK(copy(k) == 0);
        CHECK(holds(at(dir, "out/a.conf"), "A") && holds(at(dir, "out/b.conf"), "B"));
        CHECK(mode_of(at(dir, "out/a.conf")) == 0600);
        CHECK(!exists(at(dir, "out/c.txt")));
        kolla_config_free(k);

        /* One match may go to a file name; several need a directory. */
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/src/c.*\", \"dest\": \"%D/one\"}]}")));
        CHECK(copy(k) == 0 && holds(at(dir, "one"), "C"));
        kolla_config_free(k);
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/src/*.conf\", \"dest\": \"%D/two\"}]}")));
        CHECK(copy(k) == -EINVAL);
        CHECK(strstr(error, "config_files[0]: source ") &&
              strstr(error, "/src/*.conf matches 2 files; end dest with '/' to copy them into "
                            "a directory"));
        kolla_config_free(k);
}

TEST(kolla_copy_directory_replaces_dest)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE(mkdir(at(dir, "src"), 0755) == 0 && mkdir(at(dir, "src/sub"), 0755) == 0);
        REQUIRE(write_text(at(dir, "src/a"), "new a", 0644));
        REQUIRE(write_text(at(dir, "src/sub/b"), "b", 0644));
        REQUIRE(mkdir(at(dir, "dest"), 0755) == 0);
        REQUIRE(write_text(at(dir, "dest/a"), "old a", 0644));
        REQUIRE(write_text(at(dir, "dest/old"), "old", 0644));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/src\", \"dest\": \"%D/dest\", \"perm\": \"0640\"}]}")));
        CHECK(copy(k) == 0);
        CHECK(holds(at(dir, "dest/a"), "new a") && holds(at(dir, "dest/sub/b"), "b"));
        CHECK(!exists(at(dir, "dest/old")));
        /* Files get perm; directories perm with x where it has r. */
        CHECK(mode_of(at(dir, "dest/a")) == 0640 && mode_of(at(dir, "dest/sub/b")) == 0640);
        CHECK(mode_of(at(dir, "dest/sub")) == 0750 && mode_of(at(dir, "dest")) == 0750);
        kolla_config_free(k);
}

/* Links in dest are removed, never followed: what they point to stays. */
TEST(kolla_copy_directory_removes_links_in_dest)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE(mkdir(at(dir, "src"), 0755) == 0 && mkdir(at(dir, "src/sub"), 0755) == 0);
        REQUIRE(write_text(at(dir, "src/sub/b"), "new b", 0644));
        REQUIRE(mkdir(at(dir, "outside"), 0700) == 0);
        REQUIRE(write_text(at(dir, "outside/b"), "outside b", 0600));
        REQUIRE(mkdir(at(dir, "dest"), 0755) == 0);
        REQUIRE(symlink(at(dir, "outside"), at(dir, "dest/sub")) == 0);
        REQUIRE(symlink(at(dir, "outside/b"), at(dir, "dest/link")) == 0);
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/src\", \"dest\": \"%D/dest\", \"perm\": \"0666\"}]}")));
        CHECK(copy(k) == 0);
        CHECK(holds(at(dir, "dest/sub/b"), "new b") && !exists(at(dir, "dest/link")));
        CHECK(holds(at(dir, "outside/b"), "outside b") && mode_of(at(dir, "outside/b")) == 0600);
        CHECK(mode_of(at(dir, "outside")) == 0700);
        kolla_config_free(k);
}

TEST(kolla_copy_directory_merge_keeps_dest)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE(mkdir(at(dir, "src"), 0755) == 0);
        REQUIRE(write_text(at(dir, "src/a"), "new a", 0644));
        REQUIRE(mkdir(at(dir, "etc"), 0755) == 0 && mkdir(at(dir, "etc/src"), 0755) == 0);
        REQUIRE(write_text(at(dir, "etc/src/a"), "old a", 0644));
        REQUIRE(write_text(at(dir, "etc/src/kept"), "kept", 0644));
        /* dest ending in '/': into that directory, under the source's name. */
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/src\", \"dest\": \"%D/etc/\", \"merge\": true}]}")));
        CHECK(copy(k) == 0);
        CHECK(holds(at(dir, "etc/src/a"), "new a") && holds(at(dir, "etc/src/kept"), "kept"));
        kolla_config_free(k);

        /* merge into something that is not a directory is refused. */
        REQUIRE(write_text(at(dir, "file"), "f", 0644));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/src\", \"dest\": \"%D/file\", \"merge\": true}]}")));
        CHECK(copy(k) == -ENOTDIR);
        CHECK(strstr(error, "/file exists and is not a directory (merge keeps what dest holds)"));
        CHECK(holds(at(dir, "file"), "f"));
        kolla_config_free(k);
}

TEST(kolla_copy_optional_missing_source)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/nothing\", \"dest\": \"%D/a\", \"optional\": true}, "
                                     "{\"source\": \"%D/none-*\", \"dest\": \"%D/b/\", "
                                     "\"optional\": true}]}")));
        CHECK(copy(k) == 0);
        CHECK(!exists(at(dir, "a")) && !exists(at(dir, "b")));
        kolla_config_free(k);
}

TEST(kolla_copy_missing_required_source)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;
        char want[PATH_MAX * 2];

        REQUIRE(write_text(at(dir, "a"), "a", 0644));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/a\", \"dest\": \"%D/b\"}, {\"source\": \"%D/a\", "
                                     "\"dest\": \"%D/c\"}, {\"source\": \"%D/ceph.conf\", "
                                     "\"dest\": \"%D/d\"}, {\"source\": \"%D/a\", \"dest\": "
                                     "\"%D/e\"}]}")));
        CHECK(copy(k) == -ENOENT);
        snprintf(want, sizeof(want),
                 CONFIG_JSON ": config_files[2]: source %s/ceph.conf: No such file or directory",
                 dir);
        CHECK(error_is(want));
        /* It stops there: what came before is copied, what follows is not. */
        CHECK(exists(at(dir, "c")) && !exists(at(dir, "e")));
        kolla_config_free(k);

        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/x*\", \"dest\": \"%D/f/\"}]}")));
        CHECK(copy(k) == -ENOENT);
        snprintf(want, sizeof(want), CONFIG_JSON ": config_files[0]: source %s/x*: no file matches",
                 dir);
        CHECK(error_is(want));
        kolla_config_free(k);
}

TEST(kolla_copy_file_onto_directory_is_refused)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;
        char want[PATH_MAX * 2];

        REQUIRE(write_text(at(dir, "a"), "a", 0644));
        REQUIRE(mkdir(at(dir, "d"), 0755) == 0);
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/a\", \"dest\": \"%D/d\"}]}")));
        CHECK(copy(k) == -EISDIR);
        snprintf(want, sizeof(want),
                 CONFIG_JSON ": config_files[0]: dest %s/d is a directory; end dest with '/' "
                 "to copy into it", dir);
        CHECK(error_is(want));
        kolla_config_free(k);
}

TEST(kolla_copy_preserve_properties)
{
        const char *dir = unit_tmpdir();
        struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1234567890}};
        struct kolla_config *k;
        struct stat st;

        REQUIRE(write_text(at(dir, "a"), "a", 0751));
        REQUIRE(utimensat(AT_FDCWD, at(dir, "a"), times, 0) == 0);
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/a\", \"dest\": \"%D/b\", \"preserve_properties\": "
                                     "true}]}")));
        CHECK(copy(k) == 0);
        REQUIRE(stat(at(dir, "b"), &st) == 0);
        CHECK((st.st_mode & 07777) == 0751);
        CHECK(st.st_mtim.tv_sec == 1234567890);
        kolla_config_free(k);
}

TEST(kolla_copy_unknown_owner)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE(write_text(at(dir, "a"), "a", 0644));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/a\", \"dest\": \"%D/b\", \"owner\": "
                                     "\"no-such-user-here\"}]}")));
        CHECK(copy(k) == -ENOENT);
        CHECK(error_is(CONFIG_JSON ": config_files[0]: owner 'no-such-user-here': no user "
                                   "no-such-user-here in this container"));
        CHECK(!exists(at(dir, "b")));
        kolla_config_free(k);
}

/* Without CAP_CHOWN (root in the test) or as an ordinary user, giving a
 * file away fails; the message says what to do, and no copy is left. */
static void drop_chown_capability(void)
{
        struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[2];

        if (syscall(SYS_capget, &header, data) < 0)
                _exit(3);
        data[0].effective &= ~(1u << CAP_CHOWN);
        data[0].permitted &= ~(1u << CAP_CHOWN);
        if (syscall(SYS_capset, &header, data) < 0)
                _exit(3);
}

TEST(kolla_copy_chown_not_permitted)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k, *own;
        char got[KOLLA_ERROR_MAX] = "", want[KOLLA_ERROR_MAX], json[512];
        int fds[2], status;
        ssize_t n;
        pid_t pid;

        REQUIRE(write_text(at(dir, "a"), "a", 0600));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/a\", \"dest\": \"%D/b\", \"owner\": \"42400:42400\", "
                                     "\"perm\": \"0640\"}]}")));
        /* The owner it already is needs no chown, so no privilege. */
        snprintf(json, sizeof(json), "{\"command\": \"x\", \"config_files\": [{\"source\": "
                 "\"%%D/a\", \"dest\": \"%%D/own\", \"owner\": \"%u:%u\", \"perm\": "
                 "\"0640\"}]}", (unsigned)geteuid(), (unsigned)getegid());
        REQUIRE((own = config_for(dir, json)));
        REQUIRE(pipe(fds) == 0);
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
                close(fds[0]);
                if (geteuid() == 0)
                        drop_chown_capability();
                if (copy(own) != 0)
                        _exit(4);
                if (copy(k) != -EPERM)
                        _exit(1);
                n = write(fds[1], error, strlen(error));
                _exit(n > 0 ? 0 : 2);
        }
        close(fds[1]);
        n = read(fds[0], got, sizeof(got) - 1);
        close(fds[0]);
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        got[n > 0 ? n : 0] = '\0';
        snprintf(want, sizeof(want),
                 CONFIG_JSON ": config_files[0]: cannot change the owner of %s/b to 42400:42400 "
                 "(uid 42400, gid 42400): the container user (uid %u) may not change ownership; "
                 "run the copy as root, or set owner to the container user",
                 dir, (unsigned)geteuid());
        if (strcmp(got, want) != 0) {
                fprintf(stderr, "    got:  %s\n    want: %s\n", got, want);
                unit_fail(__FILE__, __LINE__, "chown message");
        }
        CHECK(!exists(at(dir, "b")));
        CHECK(holds(at(dir, "own"), "a") && mode_of(at(dir, "own")) == 0640);
        CHECK(no_temp_files(dir));
        kolla_config_free(own);
        kolla_config_free(k);
}

/* ---- permissions ------------------------------------------------------------- */

static int set_permissions(struct kolla_config *k)
{
        int r;

        error[0] = '\0';
        quiet();
        r = kolla_set_permissions(k, error, sizeof(error));
        loud();
        return r;
}

TEST(kolla_permissions_recurse)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE(mkdir(at(dir, "log"), 0700) == 0 && mkdir(at(dir, "log/sub"), 0700) == 0);
        REQUIRE(write_text(at(dir, "log/a"), "a", 0600));
        REQUIRE(write_text(at(dir, "log/sub/b"), "b", 0600));
        REQUIRE(write_text(at(dir, "outside"), "o", 0600));
        REQUIRE(symlink(at(dir, "outside"), at(dir, "log/link")) == 0);
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"permissions\": [{\"path\": "
                                     "\"%D/log\", \"perm\": \"0640\", \"recurse\": true}, "
                                     "{\"path\": \"%D/missing\", \"perm\": \"0600\"}]}")));
        CHECK(set_permissions(k) == 0);
        CHECK(mode_of(at(dir, "log")) == 0750 && mode_of(at(dir, "log/sub")) == 0750);
        CHECK(mode_of(at(dir, "log/a")) == 0640 && mode_of(at(dir, "log/sub/b")) == 0640);
        /* A link is not followed. */
        CHECK(mode_of(at(dir, "outside")) == 0600);
        kolla_config_free(k);
}

/* A walk goes KOLLA_MAX_TREE_DEPTH levels down at most, and says where it
 * stopped. */
TEST(kolla_permissions_depth_limit)
{
        const char *dir = unit_tmpdir();
        char path[PATH_MAX], want[2 * PATH_MAX];
        struct kolla_config *k;
        int n;

        n = snprintf(path, sizeof(path), "%s/deep", dir);
        REQUIRE(mkdir(path, 0700) == 0);
        for (int i = 0; i <= KOLLA_MAX_TREE_DEPTH; i++) {
                n += snprintf(path + n, sizeof(path) - (size_t)n, "/d");
                REQUIRE(mkdir(path, 0700) == 0);
        }
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"permissions\": [{\"path\": "
                                     "\"%D/deep\", \"perm\": \"0640\", \"recurse\": true}]}")));
        CHECK(set_permissions(k) == -E2BIG);
        snprintf(want, sizeof(want), CONFIG_JSON ": permissions[0]: %s: directories nested "
                 "deeper than %d", path, KOLLA_MAX_TREE_DEPTH);
        CHECK(error_is(want));
        kolla_config_free(k);
}

TEST(kolla_permissions_without_recurse)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE(mkdir(at(dir, "d"), 0700) == 0);
        REQUIRE(write_text(at(dir, "d/a"), "a", 0600));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"permissions\": [{\"path\": "
                                     "\"%D/d\", \"perm\": \"0755\"}]}")));
        CHECK(set_permissions(k) == 0);
        CHECK(mode_of(at(dir, "d")) == 0755 && mode_of(at(dir, "d/a")) == 0600);
        kolla_config_free(k);
}

/* ---- kolla_prepare ----------------------------------------------------------- */

static int prepare(const char *config_file, const char *strategy, const char *marker,
                   char ***argv)
{
        struct kolla_settings s = {.config_file = config_file, .strategy = strategy,
                                   .marker = marker, .agent_config = "/etc/agent.ini"};
        int r;

        *argv = NULL;
        quiet();
        r = kolla_prepare(&s, argv);
        loud();
        return r;
}

TEST(kolla_prepare_without_config_json_runs_the_agent)
{
        const char *dir = unit_tmpdir();
        char **argv;

        REQUIRE(prepare(at(dir, "config.json"), NULL, at(dir, "marker"), &argv) == 0);
        REQUIRE(argv && argv[0] && argv[1] && argv[2] && argv[3]);
        CHECK(argv[0][0] == '/');
        CHECK(strcmp(argv[1], "-c") == 0 && strcmp(argv[2], "/etc/agent.ini") == 0);
        CHECK(strcmp(argv[3], "run") == 0 && argv[4] == NULL);
        kolla_argv_free(argv);
}

TEST(kolla_prepare_copy_once_marker)
{
        const char *dir = unit_tmpdir();
        char json[PATH_MAX * 3], config[PATH_MAX], marker[PATH_MAX];
        char **argv;

        snprintf(config, sizeof(config), "%s", at(dir, "config.json"));
        snprintf(marker, sizeof(marker), "%s", at(dir, "state/.configured"));
        REQUIRE(write_text(at(dir, "src"), "one", 0644));
        snprintf(json, sizeof(json), "{\"command\": \"agent -c /x run\", \"config_files\": "
                 "[{\"source\": \"%s/src\", \"dest\": \"%s/dest\"}]}", dir, dir);
        REQUIRE(write_text(config, json, 0644));

        REQUIRE(prepare(config, "COPY_ONCE", marker, &argv) == 0);
        CHECK(holds(at(dir, "dest"), "one") && exists(marker));
        REQUIRE(argv && strcmp(argv[0], "agent") == 0 && strcmp(argv[3], "run") == 0);
        kolla_argv_free(argv);

        /* The marker is there: the new source is not copied. */
        REQUIRE(write_text(at(dir, "src"), "two", 0644));
        REQUIRE(prepare(config, "COPY_ONCE", marker, &argv) == 0);
        CHECK(holds(at(dir, "dest"), "one"));
        kolla_argv_free(argv);

        /* COPY_ALWAYS (and no strategy) copies every time. */
        REQUIRE(prepare(config, "COPY_ALWAYS", marker, &argv) == 0);
        CHECK(holds(at(dir, "dest"), "two"));
        kolla_argv_free(argv);
        REQUIRE(write_text(at(dir, "src"), "three", 0644));
        REQUIRE(prepare(config, NULL, marker, &argv) == 0);
        CHECK(holds(at(dir, "dest"), "three"));
        kolla_argv_free(argv);
}

TEST(kolla_prepare_failures_give_no_command)
{
        const char *dir = unit_tmpdir();
        char json[PATH_MAX * 2], config[PATH_MAX], marker[PATH_MAX];
        char **argv;

        int saved_stderr = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY | O_CLOEXEC);

        /* These failures are logged as errors: not in the test output. */
        REQUIRE(saved_stderr >= 0 && null >= 0 && dup2(null, STDERR_FILENO) >= 0);
        close(null);
        snprintf(config, sizeof(config), "%s", at(dir, "config.json"));
        snprintf(marker, sizeof(marker), "%s", at(dir, ".configured"));
        /* A bad strategy fails even before config.json is looked at. */
        CHECK(prepare(config, "COPY_SOMETIMES", marker, &argv) == -EINVAL && !argv);

        snprintf(json, sizeof(json), "{\"command\": \"agent\", \"config_files\": "
                 "[{\"source\": \"%s/missing\", \"dest\": \"%s/dest\"}]}", dir, dir);
        CHECK(write_text(config, json, 0644));
        CHECK(prepare(config, "COPY_ONCE", marker, &argv) == -ENOENT && !argv);
        CHECK(!exists(marker));

        CHECK(write_text(config, "{\"command\": ", 0644));
        CHECK(prepare(config, NULL, marker, &argv) == -EINVAL && !argv);
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
}

TEST(kolla_mark_configured_creates_parents)
{
        const char *dir = unit_tmpdir();

        CHECK(kolla_mark_configured(at(dir, "a/b/.configured"), error, sizeof(error)) == 0);
        CHECK(exists(at(dir, "a/b/.configured")) && mode_of(at(dir, "a")) == 0755);
        REQUIRE(write_text(at(dir, "file"), "", 0644));
        CHECK(kolla_mark_configured(at(dir, "file/.configured"), error, sizeof(error)) < 0);
        CHECK(strncmp(error, "COPY_ONCE: ", 11) == 0);
}

/* ---- kolla_set_configs --check ------------------------------------------- */

static int check_files(struct kolla_config *k)
{
        error[0] = '\0';
        return kolla_check_files(k, error, sizeof(error));
}

/* After a copy: in place (0); then each kind of drift is a difference (1)
 * that names the path, and a copy puts it right again. */
TEST(kolla_check_after_copy)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;
        char owner[64], json[1024];

        REQUIRE(write_text(at(dir, "keyring"), "[client.x]\n", 0644));
        REQUIRE(mkdir(at(dir, "src"), 0755) == 0);
        REQUIRE(write_text(at(dir, "src/a.conf"), "A", 0644));
        snprintf(owner, sizeof(owner), "%u:%u", (unsigned)geteuid(), (unsigned)getegid());
        snprintf(json, sizeof(json),
                 "{\"command\": \"x\", \"config_files\": ["
                 "{\"source\": \"%%D/keyring\", \"dest\": \"%%D/etc/ceph.keyring\", \"perm\": "
                 "\"0600\", \"owner\": \"%s\"},"
                 "{\"source\": \"%%D/src\", \"dest\": \"%%D/conf\", \"perm\": \"0640\"},"
                 "{\"source\": \"%%D/absent\", \"dest\": \"%%D/x\", \"optional\": true}]}",
                 owner);
        REQUIRE((k = config_for(dir, json)));
        CHECK(check_files(k) == 1);
        CHECK(strstr(error, "config_files[0]: ") && strstr(error, "etc/ceph.keyring is missing"));
        REQUIRE(copy(k) == 0);
        CHECK(check_files(k) == 0);

        REQUIRE(write_text(at(dir, "keyring"), "[client.y]\n", 0644));
        CHECK(check_files(k) == 1 && strstr(error, "ceph.keyring differs from "));
        REQUIRE(copy(k) == 0 && check_files(k) == 0);

        REQUIRE(chmod(at(dir, "etc/ceph.keyring"), 0644) == 0);
        CHECK(check_files(k) == 1 && strstr(error, "has mode 0644, the copy gives 0600"));
        REQUIRE(copy(k) == 0 && check_files(k) == 0);

        REQUIRE(write_text(at(dir, "src/a.conf"), "AB", 0644));
        CHECK(check_files(k) == 1 && strstr(error, "config_files[1]: ") &&
              strstr(error, "conf/a.conf has 1 bytes"));
        REQUIRE(copy(k) == 0 && check_files(k) == 0);

        REQUIRE(write_text(at(dir, "conf/stray"), "s", 0640));
        CHECK(check_files(k) == 1 && strstr(error, "conf/stray is not in the source") &&
              strstr(error, "the copy would remove it"));
        REQUIRE(copy(k) == 0 && check_files(k) == 0);

        REQUIRE(chmod(at(dir, "conf"), 0755) == 0);
        CHECK(check_files(k) == 1 && strstr(error, "has mode 0755, the copy gives 0750"));
        kolla_config_free(k);
}

/* What would make the copy fail is a difference too: Kolla then recreates
 * the container, whose start says why. */
TEST(kolla_check_what_would_fail)
{
        const char *dir = unit_tmpdir();
        struct kolla_config *k;

        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/absent\", \"dest\": \"%D/x\"}]}")));
        CHECK(check_files(k) == 1 && strstr(error, "/absent: not there; the copy would fail"));
        kolla_config_free(k);
        REQUIRE(write_text(at(dir, "f"), "f", 0644));
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/f\", \"dest\": \"%D/g\", \"owner\": "
                                     "\"no-such-user-here\"}]}")));
        CHECK(check_files(k) == 1 &&
              strstr(error, "owner 'no-such-user-here': no such user in this container"));
        kolla_config_free(k);
        /* A link where the copy puts a file. */
        REQUIRE(symlink(at(dir, "f"), at(dir, "link")) == 0);
        REQUIRE((k = config_for(dir, "{\"command\": \"x\", \"config_files\": [{\"source\": "
                                     "\"%D/f\", \"dest\": \"%D/link\"}]}")));
        CHECK(check_files(k) == 1 && strstr(error, "link is not a regular file"));
        kolla_config_free(k);
}
