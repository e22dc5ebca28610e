/* hookfile: follows the hook file line by line (hookfile.h).
 *
 * One read(2) fills a buffer of READ_CHUNK bytes plus room for one
 * unfinished line of up to max_line + 1 bytes (max_line of content and a
 * '\r'); lines are cut out of it with memchr, so steady reading costs no
 * system call per line. A line that outgrows that room is oversized: its
 * first max_line bytes are kept aside and the rest is counted and dropped
 * as it arrives. Rotation and truncation are only looked for at end of
 * file, where the cost of a stat does not matter: the file at the path is
 * hookfile_rotation.c's, waiting for more hookfile_watch.c's. Returns 0
 * or -errno and never logs. */
#include "hookfile_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)

static size_t max_capacity(const struct hookfile *h)
{
        return h->max_line + 1 + READ_CHUNK;
}

uint64_t hookfile_read_offset(const struct hookfile *h)
{
        return h->offset + (h->end - h->start);
}

void hookfile_reset_buffer(struct hookfile *h, uint64_t offset, uint64_t line)
{
        h->start = h->end = 0;
        h->offset = offset;
        h->line = line;
        h->discarding = false;
        h->tail_len = 0;
}

uint64_t hookfile_fnv1a(const unsigned char *p, size_t n)
{
        uint64_t x = 14695981039346656037ull;

        for (size_t i = 0; i < n; i++)
                x = (x ^ p[i]) * 1099511628211ull;
        return x;
}

/* The fingerprint of a position: the last bytes of what ends there. */
static void set_fingerprint(struct hookfile_position *p, const char *end, size_t available)
{
        size_t n = available < HOOKFILE_FINGERPRINT_MAX ? available : HOOKFILE_FINGERPRINT_MAX;

        p->fingerprint_len = (uint32_t)n;
        p->fingerprint = n ? hookfile_fnv1a((const unsigned char *)end - n, n) : 0;
}

static void consume(struct hookfile *h, size_t n)
{
        h->start += n;
        h->offset += n;
}

static void set_position(const struct hookfile *h, struct hookfile_position *p, uint64_t offset,
                         uint64_t line)
{
        p->device = h->device;
        p->inode = h->inode;
        p->offset = offset;
        p->line = line;
        p->fingerprint_len = 0;
        p->fingerprint = 0;
}

/* Fills start and next for a line that began at begin and whose newline
 * ends just before end, and counts it. */
static void finish_line(struct hookfile *h, struct hookfile_line *ret, uint64_t begin,
                        uint64_t end)
{
        set_position(h, &ret->start, begin, h->line);
        set_position(h, &ret->next, end, h->line + 1);
        h->line++;
}

static void set_none(const struct hookfile *h, struct hookfile_line *ret)
{
        uint64_t at = h->discarding ? h->discard_offset : h->offset;

        ret->status = HOOKFILE_NONE;
        ret->data = NULL;
        ret->length = 0;
        ret->full_length = 0;
        set_position(h, &ret->start, at, h->line);
        /* Before the file appears, the position to come back to is the
         * one we were asked to start from. */
        if (h->fd < 0 && h->has_start)
                ret->start = h->start_at;
        ret->next = ret->start;
}

static int begin_discard(struct hookfile *h)
{
        const char *p = h->buffer + h->start;
        size_t avail = h->end - h->start;

        if (!h->prefix) {
                h->prefix = malloc(h->max_line);
                if (!h->prefix)
                        return -ENOMEM;
        }
        memcpy(h->prefix, p, h->max_line);
        h->discarding = true;
        h->discard_offset = h->offset;
        h->discard_length = avail;
        h->discard_cr = p[avail - 1] == '\r';
        consume(h, avail);
        return 0;
}

/* Counts the oversized line's bytes up to nl (or all there is). 1 when its
 * newline was found and *ret is filled, 0 when more is needed. */
static int continue_discard(struct hookfile *h, const char *nl, struct hookfile_line *ret)
{
        const char *p = h->buffer + h->start;
        size_t n = nl ? (size_t)(nl - p) : h->end - h->start;

        /* A '\r' that ended the previous read still counts when n is 0. */
        if (n > 0)
                h->discard_cr = p[n - 1] == '\r';
        h->discard_length += n;
        if (!nl) {
                consume(h, n);
                return 0;
        }
        ret->status = HOOKFILE_OVERSIZED;
        ret->data = h->prefix;
        ret->length = h->max_line;
        ret->full_length = h->discard_length - (h->discard_cr ? 1 : 0);
        finish_line(h, ret, h->discard_offset, h->offset + n + 1);
        set_fingerprint(&ret->next, nl + 1, n + 1);
        consume(h, n + 1);
        h->discarding = false;
        return 1;
}

/* Cuts the next line out of the buffer: 1 with *ret filled, 0 when more
 * data is needed, or -errno. */
static int take_line(struct hookfile *h, struct hookfile_line *ret)
{
        const char *p, *nl;
        size_t avail = h->end - h->start;
        size_t raw, length;

        /* Also keeps a NULL buffer (nothing read yet) out of the arithmetic. */
        if (avail == 0)
                return 0;
        p = h->buffer + h->start;
        nl = memchr(p, '\n', avail);
        if (h->discarding)
                return continue_discard(h, nl, ret);
        if (!nl) {
                /* max_line + 2 bytes without newline cannot be a line of
                 * max_line bytes even if the last one is a '\r'. */
                if (avail > h->max_line + 1)
                        return begin_discard(h);
                return 0;
        }
        raw = (size_t)(nl - p);
        length = raw > 0 && p[raw - 1] == '\r' ? raw - 1 : raw;
        ret->status = length > h->max_line ? HOOKFILE_OVERSIZED : HOOKFILE_LINE;
        ret->data = p;
        ret->length = length > h->max_line ? h->max_line : length;
        ret->full_length = length;
        finish_line(h, ret, h->offset, h->offset + raw + 1);
        set_fingerprint(&ret->next, nl + 1, raw + 1);
        consume(h, raw + 1);
        return 1;
}

/* Makes room for READ_CHUNK more bytes after the unfinished line, which is
 * at most max_line + 1 bytes long, so the buffer never exceeds
 * max_capacity(). */
static int make_room(struct hookfile *h)
{
        size_t avail = h->end - h->start;
        size_t need, size;
        char *p;

        if (h->start > 0) {
                memmove(h->buffer, h->buffer + h->start, avail);
                h->start = 0;
                h->end = avail;
        }
        need = h->end + READ_CHUNK;
        if (need <= h->capacity)
                return 0;
        size = h->capacity * 2 > need ? h->capacity * 2 : need;
        if (size > max_capacity(h))
                size = max_capacity(h);
        p = realloc(h->buffer, size);
        if (!p)
                return -ENOMEM;
        h->buffer = p;
        h->capacity = size;
        return 0;
}

/* Bytes read (> 0), 0 at end of file, or -errno. */
/* Whether the bytes before hookfile_read_offset are still the ones read: 1 yes (or
 * nothing to compare), 0 changed, or -errno. */
static int tail_unchanged(struct hookfile *h)
{
        unsigned char now[HOOKFILE_FINGERPRINT_MAX];
        ssize_t n;

        if (h->tail_len == 0)
                return 1;
        do
                n = pread(h->fd, now, h->tail_len, (off_t)(hookfile_read_offset(h) - h->tail_len));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return (size_t)n == h->tail_len && memcmp(now, h->tail, h->tail_len) == 0;
}

static void remember_tail(struct hookfile *h, size_t n)
{
        const unsigned char *fresh = (const unsigned char *)h->buffer + h->end - n;

        if (n >= HOOKFILE_FINGERPRINT_MAX) {
                memcpy(h->tail, fresh + n - HOOKFILE_FINGERPRINT_MAX, HOOKFILE_FINGERPRINT_MAX);
                h->tail_len = HOOKFILE_FINGERPRINT_MAX;
                return;
        }
        if (h->tail_len + n > HOOKFILE_FINGERPRINT_MAX) {
                size_t drop = h->tail_len + n - HOOKFILE_FINGERPRINT_MAX;

                memmove(h->tail, h->tail + drop, h->tail_len - drop);
                h->tail_len -= drop;
        }
        memcpy(h->tail + h->tail_len, fresh, n);
        h->tail_len += n;
}

/* > 0 bytes read, 0 none, -ESTALE when the file changed under what was
 * read (truncated and refilled), or -errno. */
static ssize_t fill_buffer(struct hookfile *h)
{
        ssize_t n;
        int r;

        r = make_room(h);
        if (r < 0)
                return r;
        r = tail_unchanged(h);
        if (r <= 0)
                return r < 0 ? r : -ESTALE;
        do
                n = read(h->fd, h->buffer + h->end, h->capacity - h->end);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        h->end += (size_t)n;
        if (n > 0)
                remember_tail(h, (size_t)n);
        return n;
}

/* The bytes of a last line whose newline never came (an oversized one's
 * kept prefix, or what the buffer holds): data and lengths, and the offset
 * it began at. */
static uint64_t rest_of_line(const struct hookfile *h, struct hookfile_line *ret)
{
        size_t avail = h->end - h->start;

        if (h->discarding) {
                ret->data = h->prefix;
                ret->length = h->max_line;
                ret->full_length = h->discard_length + avail;
                return h->discard_offset;
        }
        ret->data = h->buffer + h->start;
        ret->length = avail > h->max_line ? h->max_line : avail;
        ret->full_length = avail;
        return h->offset;
}

/* The old file ended without a newline: hand its bytes out once. */
static void take_partial(struct hookfile *h, struct hookfile_line *ret)
{
        ret->status = HOOKFILE_PARTIAL;
        set_position(h, &ret->start, rest_of_line(h, ret), h->line);
        ret->next.device = h->next_device;
        ret->next.inode = h->next_inode;
        ret->next.offset = 0;
        ret->next.line = 1;
        consume(h, h->end - h->start);
        h->discarding = false;
        h->switch_pending = true;
}

void hookfile_take_unterminated(struct hookfile *h, struct hookfile_line *ret)
{
        size_t avail = h->end - h->start;
        uint64_t begin;

        if (h->fd < 0 || !(h->discarding || avail > 0)) {
                set_none(h, ret);
                return;
        }
        ret->status = HOOKFILE_UNTERMINATED;
        begin = rest_of_line(h, ret);
        finish_line(h, ret, begin, h->offset + avail);
        set_fingerprint(&ret->next, h->buffer + h->end, avail);
        consume(h, avail);
        h->discarding = false;
}

/* At end of file: 1 with *ret filled (NONE or PARTIAL), 0 to read on, or
 * -errno. */
static int at_end_of_file(struct hookfile *h, struct hookfile_line *ret,
                          enum hookfile_event *event)
{
        int r;

        if (h->next_fd < 0) {
                r = hookfile_check_truncated(h);
                if (r != 0) {
                        if (r > 0)
                                *event = HOOKFILE_EVENT_TRUNCATED;
                        return r < 0 ? r : 0;
                }
                r = hookfile_check_replaced(h);
                if (r < 0)
                        return r;
                /* Read the old file once more: the feeder may have written
                 * to it between our last read and the rename. */
                if (r > 0)
                        return 0;
                set_none(h, ret);
                return 1;
        }
        if (h->discarding || h->end > h->start) {
                take_partial(h, ret);
                return 1;
        }
        hookfile_switch_to_next(h);
        *event = HOOKFILE_EVENT_ROTATED;
        return 0;
}

static int read_next(struct hookfile *h, struct hookfile_line *ret, enum hookfile_event *event)
{
        ssize_t n;
        int r;

        for (;;) {
                r = take_line(h, ret);
                if (r != 0)
                        return r < 0 ? r : 0;
                n = fill_buffer(h);
                if (n == -ESTALE) {
                        /* Truncated and written again past our position: the
                         * new content starts at its first line. */
                        if (lseek(h->fd, 0, SEEK_SET) < 0)
                                return -errno;
                        hookfile_reset_buffer(h, 0, 1);
                        *event = HOOKFILE_EVENT_TRUNCATED;
                        continue;
                }
                if (n < 0)
                        return (int)n;
                if (n > 0)
                        continue;
                r = at_end_of_file(h, ret, event);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
}

int hookfile_next(struct hookfile *h, struct hookfile_line *ret, enum hookfile_event *ret_event)
{
        enum hookfile_event event = h->pending_event;
        int r;

        if (h->switch_pending) {
                hookfile_switch_to_next(h);
                event = HOOKFILE_EVENT_ROTATED;
        }
        if (h->fd < 0) {
                r = hookfile_open_current(h, &event);
                if (r < 0)
                        goto out;
        }
        if (h->fd < 0) {
                set_none(h, ret);
                r = 0;
        } else {
                r = read_next(h, ret, &event);
        }
out:
        /* An event seen by a failed call is told by the next one. */
        if (r < 0) {
                h->pending_event = event;
                return r;
        }
        h->pending_event = HOOKFILE_EVENT_NONE;
        if (ret_event)
                *ret_event = event;
        return 0;
}

static int split_path(struct hookfile *h, const char *path)
{
        const char *slash;
        size_t length = strnlen(path, PATH_MAX);

        if (length == 0 || path[length - 1] == '/')
                return -EINVAL;
        if (length == PATH_MAX)
                return -ENAMETOOLONG;
        h->path = strdup(path);
        if (!h->path)
                return -ENOMEM;
        slash = strrchr(h->path, '/');
        h->name = slash ? slash + 1 : h->path;
        if (!slash)
                h->directory = strdup(".");
        else if (slash == h->path)
                h->directory = strdup("/");
        else
                h->directory = strndup(h->path, (size_t)(slash - h->path));
        return h->directory ? 0 : -ENOMEM;
}

int hookfile_open(const char *path, size_t max_line, const struct hookfile_position *start,
                  struct hookfile **ret)
{
        struct hookfile *h;
        int r;

        if (max_line == 0 || max_line > HOOKFILE_MAX_LINE_LIMIT ||
            (start && (start->line == 0 || start->offset > INT64_MAX)))
                return -EINVAL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->fd = h->next_fd = h->inotify_fd = -1;
        h->directory_watch = h->file_watch = -1;
        h->max_line = max_line;
        hookfile_reset_buffer(h, 0, 1);
        if (start) {
                h->has_start = true;
                h->start_at = *start;
        }
        r = split_path(h, path);
        if (r < 0)
                goto out;
        hookfile_setup_inotify(h);
        r = hookfile_open_current(h, &h->pending_event);
out:
        if (r < 0) {
                hookfile_close(h);
                return r;
        }
        *ret = h;
        return 0;
}

void hookfile_close(struct hookfile *h)
{
        if (!h)
                return;
        if (h->fd >= 0)
                close(h->fd);
        if (h->next_fd >= 0)
                close(h->next_fd);
        if (h->inotify_fd >= 0)
                close(h->inotify_fd);
        free(h->buffer);
        free(h->prefix);
        free(h->directory);
        free(h->path);
        free(h);
}

const char *hookfile_path(const struct hookfile *h)
{
        return h->path;
}
