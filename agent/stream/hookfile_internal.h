/* hookfile_internal: what the files of the hook-file reader share
 * (hookfile.c: the buffer, the lines and the calls of hookfile.h;
 * hookfile_rotation.c: the file at the path; hookfile_watch.c: waiting
 * with inotify). Not an interface for anyone else. Returns 0 or -errno
 * and never logs, as hookfile.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hookfile.h"

struct hookfile {
        char *path;
        char *directory;
        const char *name; /* last component of path, inside path */
        size_t max_line;

        int fd; /* -1 while the path does not exist yet */
        uint64_t device;
        uint64_t inode;
        uint64_t offset; /* file offset of buffer[start] */
        uint64_t line;   /* number of the line not yet returned */

        char *buffer;
        size_t capacity;
        size_t start; /* first byte not consumed */
        size_t end;   /* one past the last byte read */

        /* An oversized line whose newline has not arrived yet. */
        bool discarding;
        char *prefix; /* its first max_line bytes */
        uint64_t discard_offset;
        uint64_t discard_length;
        bool discard_cr; /* its last byte so far is '\r' */

        /* The file that took our path, opened as soon as noticed so a
         * second rotation cannot make us miss it. */
        int next_fd;
        uint64_t next_device;
        uint64_t next_inode;
        bool switch_pending; /* the old file's PARTIAL went out */

        /* The last bytes read from the file (those before read_offset), to
         * notice it truncated and refilled past our position between two
         * reads, which its size alone does not show. */
        unsigned char tail[HOOKFILE_FINGERPRINT_MAX];
        size_t tail_len;

        bool has_start;
        struct hookfile_position start_at;
        enum hookfile_event pending_event;

        int inotify_fd;
        int directory_watch;
        int file_watch;
};

/* hookfile.c */
void hookfile_reset_buffer(struct hookfile *h, uint64_t offset, uint64_t line);
/* The file offset just past what has been read into the buffer. */
uint64_t hookfile_read_offset(const struct hookfile *h);
/* FNV-1a 64, the fingerprint's hash. */
uint64_t hookfile_fnv1a(const unsigned char *p, size_t n);

/* hookfile_rotation.c */
/* Opens the path if it exists now; leaves h->fd at -1 if it does not. */
int hookfile_open_current(struct hookfile *h, enum hookfile_event *event);
/* 1 when the file shrank below what we read and we restarted at 0. */
int hookfile_check_truncated(struct hookfile *h);
/* 1 when the path names another file now; it is opened into next_fd. A
 * missing path is a rotation not finished yet: keep the old file. */
int hookfile_check_replaced(struct hookfile *h);
/* Leaves the old file for the one in next_fd, from its start. */
void hookfile_switch_to_next(struct hookfile *h);

/* hookfile_watch.c */
/* Follows the open file with inotify (when there is inotify). */
void hookfile_watch_file(struct hookfile *h);
/* inotify on the path's directory; none (inotify_fd -1) when it fails. */
void hookfile_setup_inotify(struct hookfile *h);
