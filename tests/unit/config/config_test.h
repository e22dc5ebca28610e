/* config_test: what the tests of agent/config/ (test_config_*.c) share.
 *
 * The macros are INI text whose line numbers the tests' expected problems
 * ("FILE:LINE: message") rely on. The loaders write the text given as
 * agent.ini in the test's own directory (unit_tmpdir()), set cfg_path to
 * it and return what config_load() returns; they abort() if the file
 * cannot be written. */
#pragma once

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>

/* A minimal good config; the line numbers below are relied on by the cases. */
#define AGENT                                      \
        "[agent]\n"                                /* 1 */ \
        "role = volume\n"                          /* 2 */ \
        "hook_file = /var/lib/x/events.jsonl\n"    /* 3 */ \
        "state_dir = /var/lib/x\n"                 /* 4 */
#define CEPH                                       \
        "[ceph]\n"                                 /* 5 */ \
        "conf = /etc/ceph/ceph.conf\n"             /* 6 */ \
        "client = cinder\n"                        /* 7 */ \
        "pool = volumes\n"                         /* 8 */
#define VOLUME                                     \
        "[volume]\n"                               /* 9 */ \
        "types = *\n"                              /* 10 */
#define KEYS                                       \
        "[keys]\n"                                 /* 11 */ \
        "provider = file\n"                        /* 12 */ \
        "directory = /etc/keys\n"                  /* 13 */
#define MINIMAL AGENT CEPH VOLUME KEYS
#define META_KEYS                                  \
        "[keys]\n"                                 /* 11 */ \
        "provider = metadata\n"                    /* 12 */ \
        "kek_id = kek-1\n"                         /* 13 */ \
        "kek_file = /etc/kek/kek-1.bin\n"          /* 14 */
#define METADATA AGENT CEPH VOLUME META_KEYS

/* The compute role: [compute] takes [volume]'s two lines, so KEYS is at
 * 11..13 and whatever is appended starts at line 14, as with MINIMAL. */
#define COMPUTE_AGENT                              \
        "[agent]\n"                                /* 1 */ \
        "role = compute\n"                         /* 2 */ \
        "hook_file = /var/lib/x/events.jsonl\n"    /* 3 */ \
        "state_dir = /var/lib/x\n"                 /* 4 */
/* [compute] with line 10 given. */
#define COMPUTE_WITH(line10) COMPUTE_AGENT CEPH "[compute]\n" line10 KEYS
#define COMPUTE COMPUTE_WITH("uri = qemu:///system\n")
#define SECRET_CEPH                                            \
        "[secret:ceph]\n"                                      /* 14 */ \
        "uuid = 457EB676-33da-42ec-9a8c-9293d545c337\n"        /* 15 */ \
        "usage = ceph\n"                                       /* 16 */ \
        "usage_name = client.cinder secret\n"                  /* 17 */ \
        "keyring = /etc/ceph/ceph.client.cinder.keyring\n"     /* 18 */ \
        "entity = client.cinder\n"                             /* 19 */
/* A [secret:a] header at line 14 and its first key at 15. */
#define SECRET_A "[secret:a]\n"
#define UUID_1 "uuid = 11111111-2222-3333-4444-555555555555\n"
#define UUID_2 "uuid = 21111111-2222-3333-4444-555555555555\n"

/* The path of the file the last loader wrote; a test may set it itself. */
extern char cfg_path[512];

/* Writes len bytes of data as dir/name, replacing any file there; returns
 * the path, in a static buffer the next call overwrites. */
const char *write_file(const char *dir, const char *name, const void *data, size_t len);
/* data (len bytes, NULs allowed) as the config file, loaded with check_env. */
int load_bytes(const void *data, size_t len, bool check_env, struct config **ret,
               struct config_problems *p);
/* text as the config file, loaded without the environment checks. */
int load_text(const char *text, struct config **ret, struct config_problems *p);
/* Problem i is cfg_path followed by suffix (":LINE: message"); if not,
 * both are printed to stderr. */
bool problem_is(const struct config_problems *p, size_t i, const char *suffix);
/* Some problem line contains text. */
bool has_problem(const struct config_problems *p, const char *text);
/* Every problem line to stderr (what a failed test shows). */
void print_problems(const struct config_problems *p);
