/* libFuzzer target for hookfile.c: the input is written to a hook file in
 * pieces, with hookfile_next() calls between the appends, and read back
 * with a small max_line. Every answer is compared with what a plain scan
 * of the bytes written so far says it must be; any difference abort()s:
 *   - lines come in order: each starts where the previous one ended, line
 *     numbers go up by one, and nothing is skipped or returned twice;
 *   - a line's data is exactly the input's bytes (without "\n" or "\r\n"),
 *     its length at most max_line; longer lines are OVERSIZED with their
 *     true length and first max_line bytes;
 *   - NONE comes only once every complete line written has been returned;
 *   - no rotation, truncation or partial line is ever reported (the file
 *     only grows).
 * A second pass reopens the file at an input-chosen position (a resume
 * from a checkpoint, or a checkpoint naming another file) and checks the
 * same from there.
 *
 * Input: byte 0 picks max_line (1..64); byte 1 the number of pieces (low
 * 4 bits) and whether the file appears only after hookfile_open (0x10);
 * byte 2 the resume position (0x80: a checkpoint of another inode); then
 * 3 bytes per piece (a 16-bit cut position, then how many hookfile_next
 * calls follow the append: 0, 1, 2, or until NONE); the rest is the data. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream/hookfile.h"

#define MAX_PIECES 15
#define DRAIN 3

struct expect {
        const uint8_t *data;
        size_t written; /* bytes of data in the file */
        size_t max_line;
        uint64_t device, inode;
        uint64_t offset; /* where the next line must start */
        uint64_t line;
};

/* hookfile_wait() is not fuzzed, so inotify buys nothing here, and closing
 * an inotify instance waits for an RCU grace period (about 10 ms): with it
 * this target ran 80 inputs a second. Taking libc's place makes
 * hookfile_open() use its documented fallback (no inotify, plain sleeps). */
int inotify_init1(int flags)
{
        (void)flags;
        errno = EMFILE;
        return -1;
}

static char directory[256];
static char path[300];

static void fail(const char *what)
{
        fprintf(stderr, "fuzz_hookfile: invariant violated: %s\n", what);
        abort();
}

static void remove_directory(void)
{
        unlink(path);
        rmdir(directory);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

        (void)argc;
        (void)argv;
        snprintf(directory, sizeof(directory), "%s/fuzz-hookfile.XXXXXX", base);
        if (!mkdtemp(directory)) {
                perror("mkdtemp");
                abort();
        }
        snprintf(path, sizeof(path), "%s/events.jsonl", directory);
        atexit(remove_directory);
        return 0;
}

static void check_position(const struct expect *x, const struct hookfile_position *p,
                           uint64_t offset, uint64_t line, const char *what)
{
        if (p->device != x->device || p->inode != x->inode)
                fail(what);
        if (p->offset != offset || p->line != line)
                fail(what);
}

/* One hookfile_next(); 1 when it returned a line, 0 for NONE. */
static int next_checked(struct hookfile *h, struct expect *x, enum hookfile_event want_event)
{
        const uint8_t *p = x->data + x->offset, *nl;
        enum hookfile_event event = HOOKFILE_EVENT_NONE;
        struct hookfile_line l;
        size_t raw, length;

        if (hookfile_next(h, &l, &event) < 0)
                fail("hookfile_next failed");
        if (event != want_event)
                fail("unexpected rotation/truncation/replacement event");
        nl = memchr(p, '\n', x->written - x->offset);
        if (!nl) {
                if (l.status != HOOKFILE_NONE)
                        fail("a line returned where no complete line was written");
                check_position(x, &l.start, x->offset, x->line, "NONE start");
                check_position(x, &l.next, x->offset, x->line, "NONE next");
                return 0;
        }
        raw = (size_t)(nl - p);
        length = raw > 0 && p[raw - 1] == '\r' ? raw - 1 : raw;
        if (l.status == HOOKFILE_NONE)
                fail("NONE while a complete line was written");
        if (l.status != (length > x->max_line ? HOOKFILE_OVERSIZED : HOOKFILE_LINE))
                fail("wrong status for the line's length");
        if (l.length > x->max_line)
                fail("length beyond max_line");
        if (l.full_length != length)
                fail("wrong full_length");
        if (l.length != (length > x->max_line ? x->max_line : length))
                fail("wrong length");
        if (l.length > 0 && (!l.data || memcmp(l.data, p, l.length) != 0))
                fail("line bytes differ from the input");
        check_position(x, &l.start, x->offset, x->line, "line start");
        check_position(x, &l.next, x->offset + raw + 1, x->line + 1, "line next");
        x->offset += raw + 1;
        x->line++;
        return 1;
}

/* Calls until NONE; a bounded number, since each line takes one call. */
static void drain(struct hookfile *h, struct expect *x, enum hookfile_event first_event)
{
        enum hookfile_event want = first_event;

        for (size_t calls = 0; calls <= x->written + 1; calls++) {
                if (next_checked(h, x, want) == 0)
                        return;
                want = HOOKFILE_EVENT_NONE;
        }
        fail("hookfile_next never reported NONE");
}

/* The end of input (run --once): what is left without a newline comes out
 * once, whole, as UNTERMINATED; then nothing. */
static void take_rest(struct hookfile *h, struct expect *x)
{
        size_t left = x->written - x->offset;
        struct hookfile_line l;

        hookfile_take_unterminated(h, &l);
        if (left == 0) {
                if (l.status != HOOKFILE_NONE)
                        fail("an unterminated line where nothing was left");
                return;
        }
        if (l.status != HOOKFILE_UNTERMINATED || l.full_length != left ||
            l.length != (left > x->max_line ? x->max_line : left))
                fail("the unterminated rest differs from what was left");
        if (l.length > 0 && memcmp(l.data, x->data + x->offset, l.length) != 0)
                fail("unterminated bytes differ from the input");
        check_position(x, &l.start, x->offset, x->line, "unterminated start");
        check_position(x, &l.next, x->written, x->line + 1, "unterminated next");
        hookfile_take_unterminated(h, &l);
        if (l.status != HOOKFILE_NONE)
                fail("the unterminated rest came out twice");
}

static void append(int fd, const uint8_t *data, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, data, n);

                if (w <= 0)
                        fail("cannot write the hook file");
                data += w;
                n -= (size_t)w;
        }
}

static int compare_cuts(const void *a, const void *b)
{
        size_t x = *(const size_t *)a, y = *(const size_t *)b;

        return x < y ? -1 : x > y;
}

struct plan {
        size_t max_line;
        bool missing_at_open;
        uint8_t resume;
        size_t n_pieces;
        size_t cuts[MAX_PIECES];
        unsigned calls[MAX_PIECES];
        const uint8_t *data;
        size_t size;
};

static bool read_plan(const uint8_t *in, size_t size, struct plan *p)
{
        if (size < 3)
                return false;
        p->max_line = 1 + in[0] % 64;
        p->n_pieces = in[1] & 0x0f;
        p->missing_at_open = in[1] & 0x10;
        p->resume = in[2];
        in += 3;
        size -= 3;
        if (size < p->n_pieces * 3)
                return false;
        p->data = in + p->n_pieces * 3;
        p->size = size - p->n_pieces * 3;
        for (size_t i = 0; i < p->n_pieces; i++) {
                p->cuts[i] = ((size_t)in[3 * i] << 8 | in[3 * i + 1]) % (p->size + 1);
                p->calls[i] = in[3 * i + 2] % 4;
        }
        qsort(p->cuts, p->n_pieces, sizeof(p->cuts[0]), compare_cuts);
        return true;
}

static void file_identity(int fd, struct expect *x)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                fail("fstat");
        x->device = (uint64_t)st.st_dev;
        x->inode = (uint64_t)st.st_ino;
}

/* The file written piece by piece while being read. */
static void first_pass(const struct plan *p, struct expect *x)
{
        struct hookfile *h = NULL;
        size_t done = 0;
        int fd;

        unlink(path);
        if (p->missing_at_open && hookfile_open(path, p->max_line, NULL, &h) < 0)
                fail("hookfile_open of a missing file");
        if (h)
                drain(h, x, HOOKFILE_EVENT_NONE); /* NONE until it appears */
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                fail("cannot create the hook file");
        file_identity(fd, x);
        if (!h && hookfile_open(path, p->max_line, NULL, &h) < 0)
                fail("hookfile_open");
        for (size_t i = 0; i <= p->n_pieces; i++) {
                size_t cut = i < p->n_pieces ? p->cuts[i] : p->size;

                append(fd, p->data + done, cut - done);
                x->written = done = cut;
                if (i == p->n_pieces || p->calls[i] == DRAIN)
                        drain(h, x, HOOKFILE_EVENT_NONE);
                else
                        for (unsigned c = 0; c < p->calls[i]; c++)
                                next_checked(h, x, HOOKFILE_EVENT_NONE);
        }
        close(fd);
        hookfile_close(h);
}

/* Reopens at a checkpoint: resume & 0x7f picks the offset (any byte, not
 * only a line start: the reader trusts its checkpoint); 0x80 makes the
 * checkpoint name another inode, which must restart at offset 0. */
static void second_pass(const struct plan *p, struct expect *x)
{
        struct hookfile_position start;
        enum hookfile_event first = HOOKFILE_EVENT_NONE;
        struct hookfile *h = NULL;

        start.device = x->device;
        start.inode = x->inode;
        start.fingerprint_len = 0; /* any byte offset: no line ends there to vouch for it */
        start.fingerprint = 0;
        start.offset = (p->resume & 0x7f) * (p->size + 1) / 128;
        start.line = 1 + (p->resume & 0x7f);
        x->offset = start.offset;
        x->line = start.line;
        if (p->resume & 0x80) {
                start.inode++;
                first = HOOKFILE_EVENT_REPLACED;
                x->offset = 0;
                x->line = 1;
        }
        if (hookfile_open(path, p->max_line, &start, &h) < 0)
                fail("hookfile_open at a checkpoint");
        drain(h, x, first);
        take_rest(h, x);
        hookfile_close(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
        struct plan p;
        struct expect x = {.line = 1};

        if (!read_plan(in, size, &p))
                return 0;
        x.data = p.data;
        x.max_line = p.max_line;
        first_pass(&p, &x);
        second_pass(&p, &x);
        return 0;
}
