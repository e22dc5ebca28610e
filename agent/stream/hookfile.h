/* hookfile: follows the append-only hook file, one line at a time.
 *
 * Owns the open file, its identity (device, inode) and the byte position
 * of the next unread line. Handles a last line still being written (waits
 * for its newline), rotation (the path now names a new file: the old one is
 * finished first) and truncation (restarts at 0). Lines longer than the
 * configured maximum are returned as HOOKFILE_OVERSIZED with their true
 * length and only the first max_line bytes. Returns 0 or negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Limits: max_line must be 1..HOOKFILE_MAX_LINE_LIMIT; hookfile_wait
 * sleeps at most HOOKFILE_WAIT_MAX_MS whatever it is asked. */
#define HOOKFILE_MAX_LINE_LIMIT (64u * 1024 * 1024)
#define HOOKFILE_WAIT_MAX_MS 60000u

struct hookfile;

/* The bytes just before a position (the line that ends there, at most
 * 4 KiB of it, message id included), as a fingerprint: an append-only file
 * never changes them, a file truncated and written again (to past the old
 * offset) almost surely does. */
#define HOOKFILE_FINGERPRINT_MAX 4096

struct hookfile_position {
        uint64_t device;
        uint64_t inode;
        uint64_t offset; /* byte offset of the next line to read */
        uint64_t line;   /* 1-based number of that line */
        /* FNV-1a 64 of the fingerprint_len (0..HOOKFILE_FINGERPRINT_MAX)
         * bytes before offset, from the line that ends there; 0: none. */
        uint32_t fingerprint_len;
        uint64_t fingerprint;
};

enum hookfile_status {
        HOOKFILE_LINE,      /* a complete line */
        HOOKFILE_OVERSIZED, /* a complete line longer than max_line */
        HOOKFILE_PARTIAL,   /* a last line without newline in a rotated-away file */
        HOOKFILE_UNTERMINATED, /* a last line without newline, at the end of input */
        HOOKFILE_NONE,      /* nothing new yet */
};

/* A line's data excludes its '\n' and one '\r' just before it (CRLF
 * feeders); an empty line is a HOOKFILE_LINE of length 0. For OVERSIZED and
 * PARTIAL, length is at most max_line and full_length tells how much the
 * line really had (PARTIAL keeps a trailing '\r': it ended no line).
 * PARTIAL's next already names the new file (offset 0, line 1), so a
 * checkpoint taken after it resumes there. NONE has start == next == the
 * current position. */
struct hookfile_line {
        enum hookfile_status status;
        const char *data;        /* without the newline; valid until next call */
        size_t length;           /* bytes in data */
        uint64_t full_length;    /* true length of the line (== length for LINE) */
        struct hookfile_position start; /* where the line begins */
        struct hookfile_position next;  /* where the following line begins */
};

enum hookfile_event {
        HOOKFILE_EVENT_NONE,
        HOOKFILE_EVENT_ROTATED,   /* switched to a new file at the path */
        HOOKFILE_EVENT_TRUNCATED, /* file shrank below our position, or its bytes
                                     before it changed: truncated and refilled */
        HOOKFILE_EVENT_REPLACED,  /* at open: checkpoint names another file */
};

/* Opens path and positions at start (NULL: offset 0 of the current file).
 * A missing file is not an error: hookfile_next() reports HOOKFILE_NONE
 * until it appears. -EINVAL for a bad max_line, a start with line 0, or a
 * path that does not name a regular file (also from hookfile_next when the
 * path is replaced by one). */
int hookfile_open(const char *path, size_t max_line, const struct hookfile_position *start,
                  struct hookfile **ret);
void hookfile_close(struct hookfile *h);

/* Reads the next line. *ret_event tells about rotation/truncation noticed
 * while reading (the caller logs it). */
int hookfile_next(struct hookfile *h, struct hookfile_line *ret, enum hookfile_event *ret_event);

/* Sleeps until the file may have new data, at most timeout_ms (inotify;
 * a plain sleep when inotify is unavailable). 0 on wake-up or timeout,
 * -EINTR when a signal arrived. */
int hookfile_wait(struct hookfile *h, unsigned timeout_ms);

/* For a reader that stops at the end of its input (run --once), after
 * hookfile_next() said HOOKFILE_NONE: the bytes of a last line whose
 * newline has not arrived, as HOOKFILE_UNTERMINATED (data, length and
 * full_length as for OVERSIZED; next is past them, so a checkpoint taken
 * after it does not give them out again), or HOOKFILE_NONE when there are
 * none. */
void hookfile_take_unterminated(struct hookfile *h, struct hookfile_line *ret);
/* The same, also returning 0 as soon as wake_fd (-1: none) is readable;
 * the caller drains wake_fd. */
int hookfile_wait_fd(struct hookfile *h, int wake_fd, unsigned timeout_ms);

const char *hookfile_path(const struct hookfile *h);
