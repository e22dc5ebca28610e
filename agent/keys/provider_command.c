/* provider_command: the "command" provider. Runs `key_command VOLUME_ID` and
 * takes the raw key bytes the command prints on stdout (keys.h).
 *
 * The contract with the command: exit 0 and print the key (16..64 raw
 * bytes, nothing added, not even a newline) on stdout; exit 0 printing
 * nothing when the volume has no key yet; any other exit is a failure
 * whose first stderr line is reported. What it leaves running in its
 * process group is killed once it has exited (or timed out).
 *
 * The command runs with no shell, stdin from /dev/null, no other open
 * descriptors, "/" as working directory, every signal's disposition the
 * default (1 to 64, whatever the agent inherited), an empty signal mask, in
 * its own process group, and an environment of only PATH and LANG=C: what
 * the agent was started with (credentials for other systems, ignored
 * signals from a container runtime) is none of the command's business, and
 * a command must not work only when started from a particular shell.
 *
 * fork() and exec, not posix_spawn(): glibc's spawn child sets its internal
 * signals 32 and 33 to SIG_IGN, which exec keeps, and POSIX_SPAWN_SETSIGDEF
 * cannot name them (sigfillset leaves them out). The child calls only
 * async-signal-safe functions (the agent has other threads) and resets the
 * dispositions with the raw rt_sigaction system call, which libc's
 * sigaction() refuses for its reserved numbers. Key memory (secret.c) is
 * MADV_WIPEONFORK: the child's copy of it is zeros, not shared pages.
 *
 * The child is reaped here, by pid, and only after its group was killed,
 * so the group's id cannot belong to anyone else by then: the agent must
 * not reap with waitpid(-1), and SIGCHLD must not be ignored (the kernel
 * would reap the child itself), which command_open() sees to when the agent
 * inherited it ignored. */
#include "keys_provider.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/uuid.h"
#include "base/reason.h"

#define STDERR_LINE_MAX 200 /* of the first stderr line, in a reason */

static char *const child_environment[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL};

/* One run of the command. */
struct run {
        pid_t pid;
        int out_fd, err_fd; /* -1 once at end of file */
        struct secret *key; /* stdout, never anywhere else */
        char err[KEYS_COMMAND_STDERR_MAX];
        size_t err_len;
        int64_t deadline_ns;
        int status;
};

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds left, rounded up so the last partial one is waited for. */
static int ms_left(const struct run *run)
{
        int64_t left = run->deadline_ns - now_ns();

        if (left <= 0)
                return 0;
        return (int)((left + 999999) / 1000000);
}

/* "KILL" for SIGKILL: glibc knows every name; elsewhere the usual ones. */
static const char *signal_name(int sig)
{
#ifdef __GLIBC__
        return sigabbrev_np(sig);
#else
        static const struct {
                int sig;
                const char *name;
        } names[] = {{SIGHUP, "HUP"},   {SIGINT, "INT"},   {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
                     {SIGABRT, "ABRT"}, {SIGBUS, "BUS"},   {SIGFPE, "FPE"},   {SIGKILL, "KILL"},
                     {SIGSEGV, "SEGV"}, {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"},
                     {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}, {SIGXCPU, "XCPU"}, {SIGXFSZ, "XFSZ"}};

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (names[i].sig == sig)
                        return names[i].name;
        return NULL;
#endif
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* The kernel's sigset_t (64 signals on most architectures, 128 on MIPS),
 * which rt_sigaction checks its last argument against. */
#define KERNEL_SIGSET_BYTES ((_NSIG - 1) / 8)

/* Every signal to SIG_DFL, those libc reserves for itself (glibc: 32, 33;
 * musl: 32 to 34) too. An all-zero kernel struct sigaction is SIG_DFL, no
 * flags and an empty mask whatever the architecture's field order; the
 * array is larger than any of them. */
static void child_default_signals(void)
{
        static const unsigned long dfl[8];

        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)syscall(SYS_rt_sigaction, sig, dfl, NULL, KERNEL_SIGSET_BYTES);
}

/* The child between fork() and exec: async-signal-safe calls only (the
 * agent has other threads). An exec failure's errno goes back on `report`,
 * which exec closes on success. */
static void child_exec(const char *command, char *const argv[], const int out[2], const int err[2],
                       int report, int max_fd)
{
        sigset_t none;
        int e, fd;

        child_default_signals();
        fd = open("/dev/null", O_RDONLY);
        if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
            dup2(err[1], STDERR_FILENO) < 0 || chdir("/") < 0 || setpgid(0, 0) < 0)
                goto fail;
        /* Everything above stderr except the report pipe (close-on-exec). */
#ifdef SYS_close_range
        if ((report == STDERR_FILENO + 1 ||
             syscall(SYS_close_range, STDERR_FILENO + 1, report - 1, 0) == 0) &&
            syscall(SYS_close_range, report + 1, ~0U, 0) == 0)
                max_fd = 0; /* done; kernels before 5.9 take the loop */
#endif
        for (fd = STDERR_FILENO + 1; fd < max_fd; fd++)
                if (fd != report)
                        close(fd);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(command, argv, child_environment);
fail:
        e = errno;
        if (write(report, &e, sizeof(e)) < 0) {
                /* nothing left to tell it with */
        }
        _exit(127);
}

static int spawn_child(pid_t *ret_pid, const char *command, char *const argv[], const int out[2],
                       const int err[2])
{
        sigset_t all, saved;
        int report[2], e = 0, r = 0;
        long max_fd = sysconf(_SC_OPEN_MAX);
        ssize_t n;
        pid_t pid;

        if (max_fd < 0 || max_fd > 65536)
                max_fd = 65536; /* close_range did the rest, where there is one */
        if (pipe2(report, O_CLOEXEC) < 0)
                return -errno;
        /* No handler of the agent's may run in the child before it resets them. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid = fork();
        if (pid == 0)
                child_exec(command, argv, out, err, report[1], (int)max_fd);
        if (pid < 0)
                r = -errno;
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        close(report[1]);
        if (pid > 0) {
                setpgid(pid, pid); /* either side may win; the same group results */
                do
                        n = read(report[0], &e, sizeof(e));
                while (n < 0 && errno == EINTR);
                if (n == (ssize_t)sizeof(e)) {
                        /* Like posix_spawn: no child left behind, its errno returned. */
                        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                        r = -e;
                } else {
                        *ret_pid = pid;
                }
        }
        close(report[0]);
        return r;
}

/* Starts the command with its stdout and stderr on pipes. */
static int run_start(struct run *run, const char *command, const char *volume_id)
{
        int out[2] = {-1, -1}, err[2] = {-1, -1}, r;
        char *const argv[] = {(char *)command, (char *)volume_id, NULL};

        /* O_CLOEXEC: a command another thread starts at the same moment
         * must not keep these pipes open. */
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                r = -errno;
                goto out;
        }
        r = spawn_child(&run->pid, command, argv, out, err);
        if (r == 0) {
                run->out_fd = out[0];
                run->err_fd = err[0];
                out[0] = err[0] = -1;
        }
out:
        close_fd(&out[0]);
        close_fd(&out[1]);
        close_fd(&err[0]);
        close_fd(&err[1]);
        return r;
}

/* stdout goes straight into locked memory. One byte more than a key may
 * have is room enough to know the command printed too much. */
static int read_stdout(struct run *run)
{
        ssize_t n;

        n = read(run->out_fd, run->key->data + run->key->len, run->key->capacity - run->key->len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0)
                close_fd(&run->out_fd);
        run->key->len += (size_t)n;
        if (run->key->len > KEYS_MAX_BYTES)
                return -EBADMSG;
        return 0;
}

/* Keeps the first KEYS_COMMAND_STDERR_MAX bytes, drains the rest. */
static int read_stderr(struct run *run)
{
        char sink[512];
        ssize_t n;

        if (run->err_len < sizeof(run->err))
                n = read(run->err_fd, run->err + run->err_len, sizeof(run->err) - run->err_len);
        else
                n = read(run->err_fd, sink, sizeof(sink));
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0)
                close_fd(&run->err_fd);
        if (run->err_len < sizeof(run->err))
                run->err_len += (size_t)n;
        return 0;
}

/* Reads both pipes until both are closed or time is up (-ETIMEDOUT). */
static int read_output(struct run *run)
{
        struct pollfd fds[2];
        int n, r;

        while (run->out_fd >= 0 || run->err_fd >= 0) {
                /* Checked here too: a command that never stops writing to
                 * stderr always has something to poll. */
                if (ms_left(run) == 0)
                        return -ETIMEDOUT;
                fds[0] = (struct pollfd){.fd = run->out_fd, .events = POLLIN};
                fds[1] = (struct pollfd){.fd = run->err_fd, .events = POLLIN};
                n = poll(fds, 2, ms_left(run)); /* a negative fd is skipped */
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ETIMEDOUT;
                if (fds[0].revents) {
                        r = read_stdout(run);
                        if (r < 0)
                                return r;
                }
                if (fds[1].revents) {
                        r = read_stderr(run);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The pipes can close a moment before the child has exited, and a command
 * can close them and go on running: poll its exit until the deadline.
 * WNOWAIT leaves it a zombie, so its pid, and with it the id of the
 * process group it leads, stays taken until kill_and_reap(). */
static int wait_exit(struct run *run)
{
        struct timespec pause = {0, 1000000};
        siginfo_t info;

        for (;;) {
                info.si_pid = 0;
                if (waitid(P_PID, (id_t)run->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
                        if (info.si_pid == run->pid)
                                return 0;
                } else if (errno != EINTR) {
                        return -errno;
                }
                if (ms_left(run) == 0)
                        return -ETIMEDOUT;
                nanosleep(&pause, NULL);
                if (pause.tv_nsec < 16000000)
                        pause.tv_nsec *= 2;
        }
}

/* Every started run ends here, exit 0 or not: the group first (what the
 * command left behind), while the child that leads it is not reaped yet,
 * so the pgid cannot have been reused; then the child, whose status is its
 * own exit's when it had already exited. */
static void kill_and_reap(struct run *run)
{
        kill(-run->pid, SIGKILL);
        kill(run->pid, SIGKILL);
        while (waitpid(run->pid, &run->status, 0) < 0 && errno == EINTR)
                ;
}

/* The first line of stderr, cut short and with anything unprintable made
 * '?', so a command cannot forge log lines. */
static void first_line(const struct run *run, char *buf, size_t size)
{
        size_t n = 0;

        for (size_t i = 0; i < run->err_len && n + 1 < size; i++) {
                unsigned char c = (unsigned char)run->err[i];

                if (c == '\n' || c == '\r')
                        break;
                buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        buf[n] = '\0';
}

static int exit_failure(const struct run *run, const char **ret_reason)
{
        char line[STDERR_LINE_MAX + 1];
        const char *sep;

        first_line(run, line, sizeof(line));
        sep = line[0] ? ": " : "";
        if (WIFSIGNALED(run->status)) {
                const char *name = signal_name(WTERMSIG(run->status));

                return reason_format(-EIO, ret_reason, "key command was killed by signal %d (SIG%s)%s%s",
                             WTERMSIG(run->status), name ? name : "?", sep, line);
        }
        return reason_format(-EIO, ret_reason, "key command exited with status %d%s%s",
                     WEXITSTATUS(run->status), sep, line);
}

static int check_key(const struct run *run, const char **ret_reason)
{
        if (!WIFEXITED(run->status) || WEXITSTATUS(run->status) != 0)
                return exit_failure(run, ret_reason);
        if (run->key->len == 0)
                return reason_set(-ENOENT, ret_reason, "key command printed no key");
        if (run->key->len < KEYS_MIN_BYTES)
                return reason_format(-EBADMSG, ret_reason,
                             "key command printed %zu bytes; a key has %d to %d bytes",
                             run->key->len, KEYS_MIN_BYTES, KEYS_MAX_BYTES);
        return 0;
}

/* Reads, waits and judges a started run; the child is reaped on return. */
static int run_finish(struct run *run, unsigned timeout_ms, const char **ret_reason)
{
        int r;

        r = read_output(run);
        if (r == 0)
                r = wait_exit(run);
        /* ECHILD: reaped behind our back (see above); its pid may be anyone's now. */
        if (r != -ECHILD)
                kill_and_reap(run);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        return reason_format(r, ret_reason, "key command timed out after %u ms",
                                     timeout_ms);
                if (r == -EBADMSG)
                        return reason_format(r, ret_reason, "key command printed more than %d bytes",
                                     KEYS_MAX_BYTES);
                return reason_format(-EIO, ret_reason, "cannot read from key command: %s", strerror(-r));
        }
        return check_key(run, ret_reason);
}

static int command_lookup(struct keys *k, const char *volume_id, struct ceph_image *image,
                          struct secret **ret_key, const char **ret_reason)
{
        (void)image;
        const struct config *c = k->config;
        struct run run = {.pid = -1, .out_fd = -1, .err_fd = -1};
        int r;

        if (!uuid_is_valid(volume_id))
                return reason_set(-EINVAL, ret_reason, "volume id is not a UUID; key command not run");
        r = secret_new(KEYS_MAX_BYTES + 1, &run.key);
        if (r < 0)
                return reason_set(r, ret_reason, "cannot get locked memory for a key");
        run.deadline_ns = now_ns() + (int64_t)c->key_command_timeout_ms * 1000000;
        r = run_start(&run, c->key_command, volume_id);
        if (r < 0) {
                /* -EIO, not the spawn errno: -ENOENT would read as "no key yet". */
                r = reason_format(-EIO, ret_reason, "cannot run key command %s: %s", c->key_command,
                          strerror(-r));
                goto out;
        }
        r = run_finish(&run, c->key_command_timeout_ms, ret_reason);
        if (r < 0)
                goto out;
        *ret_key = run.key;
        run.key = NULL;
out:
        close_fd(&run.out_fd);
        close_fd(&run.err_fd);
        secret_free(run.key);
        return r;
}

/* SIGCHLD ignored (SIG_IGN, or SA_NOCLDWAIT), as a parent may leave it
 * across exec: every child would be reaped by the kernel before its status
 * is read, and every lookup would fail. The agent installs no handler of
 * its own for it, so the default is what it should have. */
static int command_open(struct keys *k, const char **ret_reason)
{
        const struct sigaction dfl = {.sa_handler = SIG_DFL};
        struct sigaction current;
        int r;

        (void)k;
        if (sigaction(SIGCHLD, NULL, &current) == 0 &&
            current.sa_handler != SIG_IGN && !(current.sa_flags & SA_NOCLDWAIT))
                return 0;
        if (sigaction(SIGCHLD, &dfl, NULL) == 0)
                return 0;
        r = -errno;
        return reason_format(r, ret_reason, "cannot set SIGCHLD to its default: %s", strerror(-r));
}

const struct keys_provider keys_provider_command = {
        .name = "command",
        .lookup = command_lookup,
        .generate = NULL,
        .open = command_open,
};
