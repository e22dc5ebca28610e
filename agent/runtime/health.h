/* health: the daemons' status file, and the verdict `health` draws from it.
 *
 * A daemon (run, feed) calls health_beat() from its main loop, never from
 * a thread of its own: a loop that hangs stops refreshing the file, and
 * the file going stale is what the check reports. At most every
 * health_interval seconds the file is replaced (temporary file + rename,
 * so a reader sees the old or the new one whole) by one JSON object:
 *   {"pid":N,"time":UNIX_SECONDS,"role":"volume|compute|feed",
 *    "state":"ok|degraded","detail":"..."}
 * "degraded" means the loop runs but what it depends on does not (Ceph,
 * libvirt, the broker). There is no fsync: the file is advisory, and after
 * a crash the next refresh writes it anew.
 *
 * `run` writes STATE_DIR/health; `feed` writes STATE_DIR/health-feed, so a
 * feeder and an agent sharing a state_dir keep a file each.
 *
 * health_beat() logs a failed write once per streak (it is called by the
 * role layers, like intake.c); the other functions return 0 or a negative
 * errno, or a verdict, and do not log. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HEALTH_FILE "health"
#define HEALTH_FEED_FILE "health-feed"
#define HEALTH_DETAIL_MAX 256
/* A health file is some 100 bytes; anything past this is not one. */
#define HEALTH_FILE_MAX 4096
/* What `health` allows beyond three missed refreshes (a slow disk, a
 * clock step), and how far in the future a time may be. */
#define HEALTH_SLACK_S 5

struct health {
        char path[PATH_MAX];
        char temp[PATH_MAX];
        const char *role; /* "volume", "compute", "feed": a static string */
        unsigned interval_s;
        uint64_t next_ms; /* monotonic; 0: write at the next beat */
        bool failing;     /* the last write failed (logged once) */
};

/* Sets h up to write state_dir/name; -ENAMETOOLONG when the path is too
 * long. Writes nothing yet. */
int health_init(struct health *h, const char *state_dir, const char *name, const char *role,
                unsigned interval_s);

/* True when the next beat will write: callers with costly details check
 * this first. */
bool health_due(const struct health *h);

/* Writes the file now with state and detail (NULL: ""; cut at
 * HEALTH_DETAIL_MAX bytes). 0 or a negative errno. */
int health_write(struct health *h, bool degraded, const char *detail);

/* health_write() if due, the detail from fmt; logs the first failure of a
 * streak and the recovery. */
void health_beat(struct health *h, bool degraded, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The age past which a file is stale: three refreshes and the slack. */
unsigned health_limit_s(unsigned interval_s);

/* Judges the file at path as of now. True when healthy. message gets one
 * line: "healthy: ROLE pid N, updated Ns ago", or why not:
 *   "no health file PATH: the agent has not started or cannot write its
 *    state dir"
 *   "stale: last update Ns ago (limit Ms); the agent's main loop is stuck
 *    or dead"
 *   "degraded: DETAIL"
 *   "PATH is not a health file (...)", "cannot read PATH: ...",
 *   "PATH is dated Ns in the future; check the clock". */
bool health_judge(const char *path, unsigned interval_s, time_t now, char *message,
                  size_t size);
