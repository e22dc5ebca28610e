/* Unit tests for agent/kolla/'s copies and permissions (kolla_copy.c,
 * kolla_tree.c, kolla_perms.c) against a hostile process inside the tree
 * they work on: one that swaps an entry between what it is and a
 * symbolic link to something outside the tree, as fast as it can, while
 * kolla_set_permissions (perm 0666, recurse; with and without an owner)
 * or kolla_copy_files runs over the tree again and again. What is outside
 * must keep its mode, owner and contents; the tree's own files must still
 * get theirs. The attack aims at root, who may chmod, chown and unlink
 * anything, and the test needs root to give files to others: it is skipped
 * otherwise. Each race stops by itself after RACE_SECONDS or RACE_ROUNDS
 * rounds, whichever comes first, and prints how far it got. */
#include "kolla/kolla.h"
#include "base/log.h"
#include "../unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RACE_SECONDS 2.0
#define RACE_ROUNDS 20000
#define VICTIM_ID 4242 /* owns what is outside the tree */
#define NEW_OWNER "4343:4343"
#define NEW_ID 4343
#define STABLE_FILES 7 /* f096..f103 but f100: never swapped */

static char error[KOLLA_ERROR_MAX];

static bool as_root(const char *test)
{
        if (geteuid() == 0)
                return true;
        fprintf(stderr, "  skipped %s: needs root (the race aims at root's chmod, chown and "
                        "unlink)\n", test);
        return false;
}

static double now(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *at(const char *dir, const char *name)
{
        static char paths[8][PATH_MAX];
        static unsigned next;
        char *p = paths[next++ % 8];

        if (snprintf(p, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
                abort(); /* the test's own paths: short */
        return p;
}

/* A new file holding its own name, with that mode and owner; its fd. */
static int new_file(const char *path, mode_t mode, uid_t owner)
{
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        if (fd < 0)
                return -1;
        if (write(fd, path, strlen(path)) < 0 || fchown(fd, owner, owner) < 0 ||
            fchmod(fd, mode) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static int new_directory(const char *path, mode_t mode, uid_t owner)
{
        int fd;

        if (mkdir(path, mode) < 0)
                return -1;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0 && (fchown(fd, owner, owner) < 0 || fchmod(fd, mode) < 0)) {
                close(fd);
                return -1;
        }
        return fd;
}

/* ---- the hostile process ------------------------------------------------------ */

struct swap {
        char inside[PATH_MAX]; /* an entry of the tree */
        char spare[PATH_MAX];  /* where the link waits, outside the tree */
        char outside[PATH_MAX]; /* what the link points to */
};

struct race {
        struct swap swaps[2];
        size_t n_swaps;
        unsigned long *swapped; /* rounds of swaps, shared with the swapper */
        pid_t swapper;
        unsigned rounds;
        double seconds;
};

/* The link in place of the entry, and back. If the walk removed the link
 * meanwhile (or made a new entry), what waits in spare is no link: it is
 * put aside, and a new link made next time. */
static void swap_once(const struct swap *s, unsigned long n)
{
        char aside[PATH_MAX + 32];
        struct stat st;

        if (symlink(s->outside, s->spare) < 0 && errno != EEXIST)
                return;
        if (renameat2(AT_FDCWD, s->spare, AT_FDCWD, s->inside, RENAME_EXCHANGE) < 0)
                return;
        (void)renameat2(AT_FDCWD, s->spare, AT_FDCWD, s->inside, RENAME_EXCHANGE);
        if (lstat(s->spare, &st) == 0 && !S_ISLNK(st.st_mode)) {
                snprintf(aside, sizeof(aside), "%s.%lu", s->spare, n);
                (void)rename(s->spare, aside);
        }
}

/* Swaps until killed; on its own after a while, should the test die. */
static bool start_swapper(struct race *r)
{
        r->swapped = mmap(NULL, sizeof(*r->swapped), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (r->swapped == MAP_FAILED)
                return false;
        *r->swapped = 0;
        r->swapper = fork();
        if (r->swapper != 0)
                return r->swapper > 0;
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (double end = now() + RACE_SECONDS + 10; now() < end;) {
                for (size_t i = 0; i < r->n_swaps; i++)
                        swap_once(&r->swaps[i], *r->swapped);
                __atomic_add_fetch(r->swapped, 1, __ATOMIC_RELAXED);
        }
        _exit(0);
}

static unsigned long stop_swapper(struct race *r)
{
        unsigned long swapped = __atomic_load_n(r->swapped, __ATOMIC_RELAXED);

        kill(r->swapper, SIGKILL);
        waitpid(r->swapper, NULL, 0);
        munmap(r->swapped, sizeof(*r->swapped));
        return swapped;
}

/* round(ctx) against the swapper until the time or the rounds are up, or
 * until round says it saw harm; the swapper must have swapped. */
static void race_run(struct race *r, const char *name, bool (*round)(void *), void *ctx)
{
        enum log_level saved = log_get_level();
        double start, end;
        unsigned long swapped;

        REQUIRE(start_swapper(r));
        log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
        start = now();
        end = start + RACE_SECONDS;
        for (r->rounds = 0; r->rounds < RACE_ROUNDS && now() < end; r->rounds++)
                if (!round(ctx))
                        break;
        r->seconds = now() - start;
        log_setup(saved, LOG_FORMAT_TEXT);
        swapped = stop_swapper(r);
        fprintf(stderr, "  %s: %u rounds, %lu swaps in %.1f s\n", name, r->rounds, swapped,
                r->seconds);
        CHECK(swapped > 100);
}

/* ---- permissions ----------------------------------------------------------------- */

/* The tree's own files and directories, held open: the stable files,
 * then f100 and d100 (wherever the swapper has put them), d100/passwd and
 * the tree itself. */
enum { OWN_F100 = STABLE_FILES, OWN_D100, OWN_D100_PASSWD, OWN_TREE, OWN_COUNT };

static const char *const victim_names[] = {"victim", "victims/", "victims/passwd"};

/* tree/f096..f103 (f100 swapped with a link to victim), tree/d100 (swapped
 * with a link to victims/, which holds passwd like tree/d100 does). */
struct permission_race {
        struct race race;
        struct kolla_permission permission;
        struct kolla_config config;
        bool owner;
        int own[OWN_COUNT];
        int victims[3]; /* victim_names */
        struct stat before[3];
        unsigned failed, missed, swapped_got_mode, harmed;
};

static bool permission_race_setup(struct permission_race *p, const char *dir, bool owner)
{
        char tree[PATH_MAX], name[16];
        struct race *r = &p->race;
        int n = 0;

        snprintf(tree, sizeof(tree), "%s/tree", dir);
        p->own[OWN_TREE] = new_directory(tree, 0700, 0);
        for (int i = 96; i <= 103; i++) {
                snprintf(name, sizeof(name), "f%03d", i);
                if (i != 100)
                        p->own[n++] = new_file(at(tree, name), 0600, 0);
        }
        p->own[OWN_F100] = new_file(at(tree, "f100"), 0600, 0);
        p->own[OWN_D100] = new_directory(at(tree, "d100"), 0700, 0);
        p->own[OWN_D100_PASSWD] = new_file(at(tree, "d100/passwd"), 0600, 0);
        p->victims[0] = new_file(at(dir, "victim"), 0600, VICTIM_ID);
        p->victims[1] = new_directory(at(dir, "victims"), 0700, VICTIM_ID);
        p->victims[2] = new_file(at(dir, "victims/passwd"), 0600, VICTIM_ID);
        for (int i = 0; i < OWN_COUNT; i++)
                if (p->own[i] < 0)
                        return false;
        for (int i = 0; i < 3; i++)
                if (p->victims[i] < 0 || fstat(p->victims[i], &p->before[i]) < 0)
                        return false;
        if (mkdir(at(dir, "spare"), 0700) < 0)
                return false;
        snprintf(r->swaps[0].inside, PATH_MAX, "%s", at(tree, "f100"));
        snprintf(r->swaps[0].spare, PATH_MAX, "%s", at(dir, "spare/f100"));
        snprintf(r->swaps[0].outside, PATH_MAX, "%s", at(dir, "victim"));
        snprintf(r->swaps[1].inside, PATH_MAX, "%s", at(tree, "d100"));
        snprintf(r->swaps[1].spare, PATH_MAX, "%s", at(dir, "spare/d100"));
        snprintf(r->swaps[1].outside, PATH_MAX, "%s", at(dir, "victims"));
        r->n_swaps = 2;
        p->owner = owner;
        p->permission = (struct kolla_permission){.path = strdup(tree), .perm = 0666,
                                                  .recurse = true,
                                                  .owner = owner ? (char *)NEW_OWNER : NULL};
        p->config = (struct kolla_config){.path = (char *)"/k/config.json",
                                          .permissions = &p->permission, .n_permissions = 1};
        return p->permission.path != NULL;
}

static bool has(int fd, mode_t mode, bool owner)
{
        struct stat st;

        return fstat(fd, &st) == 0 && (st.st_mode & 07777) == mode &&
               (!owner || (st.st_uid == NEW_ID && st.st_gid == NEW_ID));
}

/* One kolla_set_permissions over a tree given back to root, mode 0600. */
static bool permission_round(void *ctx)
{
        struct permission_race *p = ctx;
        struct stat st = {0};

        for (int i = 0; i < OWN_COUNT; i++)
                if (fchown(p->own[i], 0, 0) < 0 ||
                    fchmod(p->own[i], i == OWN_D100 || i == OWN_TREE ? 0700 : 0600) < 0)
                        p->failed++;
        error[0] = '\0';
        if (kolla_set_permissions(&p->config, error, sizeof(error)) != 0) {
                if (!p->failed++)
                        fprintf(stderr, "    %s\n", error);
        }
        for (int i = 0; i < OWN_F100; i++)
                p->missed += !has(p->own[i], 0666, p->owner);
        p->missed += !has(p->own[OWN_TREE], 0777, p->owner);
        p->swapped_got_mode += has(p->own[OWN_F100], 0666, p->owner);
        p->swapped_got_mode += has(p->own[OWN_D100_PASSWD], 0666, p->owner);
        for (int i = 0; i < 3; i++) {
                if (fstat(p->victims[i], &st) == 0 && st.st_mode == p->before[i].st_mode &&
                    st.st_uid == p->before[i].st_uid && st.st_gid == p->before[i].st_gid)
                        continue;
                fprintf(stderr, "    %s: mode %04o, owner %u:%u (was %04o, %u:%u)\n",
                        victim_names[i], (unsigned)st.st_mode & 07777, (unsigned)st.st_uid,
                        (unsigned)st.st_gid, (unsigned)p->before[i].st_mode & 07777,
                        (unsigned)p->before[i].st_uid, (unsigned)p->before[i].st_gid);
                p->harmed++;
        }
        return p->harmed == 0;
}

static void permission_race(const char *name, bool owner)
{
        struct permission_race p = {0};

        if (!as_root(name))
                return;
        REQUIRE(permission_race_setup(&p, unit_tmpdir(), owner));
        race_run(&p.race, name, permission_round, &p);
        CHECK(p.harmed == 0);
        CHECK(p.failed == 0);
        CHECK(p.missed == 0);
        CHECK(p.swapped_got_mode > 0);
        if (p.harmed)
                fprintf(stderr, "    a file outside the tree changed in round %u\n",
                        p.race.rounds + 1);
        for (int i = 0; i < OWN_COUNT; i++)
                close(p.own[i]);
        for (int i = 0; i < 3; i++)
                close(p.victims[i]);
        free(p.permission.path);
}

TEST(kolla_race_permissions_never_follow_a_swapped_link)
{
        permission_race("kolla_race_permissions_never_follow_a_swapped_link", false);
}

TEST(kolla_race_permissions_owner_never_follows_a_swapped_link)
{
        permission_race("kolla_race_permissions_owner_never_follows_a_swapped_link", true);
}

/* ---- copies ------------------------------------------------------------------------ */

/* source/ (a, d100/x, d100/y) copied onto dest/ without merge, so dest is
 * emptied each round; dest/d100 is swapped with a link to victims/, which
 * holds x and y as well. */
struct copy_race {
        struct race race;
        struct kolla_file file;
        struct kolla_config config;
        int victims;
        struct stat before[2];
        unsigned copied, harmed;
};

static bool copy_race_setup(struct copy_race *c, const char *dir)
{
        static const char *const names[] = {"source/a", "source/d100/x", "source/d100/y",
                                            "victims/x", "victims/y"};
        struct race *r = &c->race;
        int fd;

        if (mkdir(at(dir, "source"), 0755) < 0 || mkdir(at(dir, "source/d100"), 0755) < 0 ||
            mkdir(at(dir, "spare"), 0700) < 0)
                return false;
        c->victims = new_directory(at(dir, "victims"), 0700, VICTIM_ID);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if ((fd = new_file(at(dir, names[i]), 0600, i < 3 ? 0 : VICTIM_ID)) < 0)
                        return false;
                close(fd);
        }
        if (c->victims < 0 || fstatat(c->victims, "x", &c->before[0], 0) < 0 ||
            fstatat(c->victims, "y", &c->before[1], 0) < 0)
                return false;
        c->file = (struct kolla_file){.source = strdup(at(dir, "source")),
                                      .dest = strdup(at(dir, "dest")), .perm = 0666,
                                      .owner = (char *)NEW_OWNER};
        c->config = (struct kolla_config){.path = (char *)"/k/config.json", .files = &c->file,
                                          .n_files = 1};
        snprintf(r->swaps[0].inside, PATH_MAX, "%s", at(dir, "dest/d100"));
        snprintf(r->swaps[0].spare, PATH_MAX, "%s", at(dir, "spare/d100"));
        snprintf(r->swaps[0].outside, PATH_MAX, "%s", at(dir, "victims"));
        r->n_swaps = 1;
        return c->file.source && c->file.dest &&
               kolla_copy_files(&c->config, error, sizeof(error)) == 0;
}

static unsigned entries(int dirfd)
{
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        unsigned n = 0;

        if (!d)
                return 0;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* One copy; victims/ must still hold x and y as they were, and nothing else. */
static bool copy_round(void *ctx)
{
        struct copy_race *c = ctx;
        const char *names[] = {"x", "y"};
        struct stat st;

        error[0] = '\0';
        c->copied += kolla_copy_files(&c->config, error, sizeof(error)) == 0;
        for (int i = 0; i < 2; i++)
                if (fstatat(c->victims, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    st.st_ino != c->before[i].st_ino || st.st_mode != c->before[i].st_mode ||
                    st.st_uid != c->before[i].st_uid || st.st_size != c->before[i].st_size)
                        c->harmed++;
        if (fstat(c->victims, &st) < 0 || (st.st_mode & 07777) != 0700 || st.st_uid != VICTIM_ID)
                c->harmed++;
        c->harmed += entries(c->victims) != 4;
        return c->harmed == 0;
}

TEST(kolla_race_copy_never_follows_a_swapped_link)
{
        const char *name = "kolla_race_copy_never_follows_a_swapped_link";
        struct copy_race c = {0};

        enum log_level saved = log_get_level();
        bool ready;

        if (!as_root(name))
                return;
        log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
        ready = copy_race_setup(&c, unit_tmpdir());
        log_setup(saved, LOG_FORMAT_TEXT);
        if (!ready)
                fprintf(stderr, "    %s\n", error);
        REQUIRE(ready);
        race_run(&c.race, name, copy_round, &c);
        CHECK(c.harmed == 0);
        CHECK(c.copied > 0);
        if (c.harmed)
                fprintf(stderr, "    victims/ changed in round %u\n", c.race.rounds + 1);
        close(c.victims);
        free(c.file.source);
        free(c.file.dest);
}
