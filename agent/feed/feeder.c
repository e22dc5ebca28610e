/* feeder: RabbitMQ to the hook file, acknowledged after fdatasync (feeder.h).
 *
 * One thread, one loop: receive with a timeout (the group's deadline, or
 * IDLE_WAIT_MS so a stop signal is seen soon), put the body's line in the
 * group buffer (the line a body becomes is feeder_line.c's), flush when
 * the group is full or due. Connection states are logged when they change
 * (connected, lost, failing for a new reason), each attempt only at debug
 * level. */
#include "feeder.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "base/backoff.h"
#include "runtime/health.h"
#include "stream/hookwriter.h"
#include "runtime/signals.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/reason.h"
#include "stream/results.h"
#include "base/secret.h"
#include "base/secretfile.h"

#define IDLE_WAIT_MS 200
#define BROKER_TIMEOUT_MS 5000
#define REASON_LEN 512

/* ---- the feed loop ------------------------------------------------------- */

struct feeder {
        const struct config *config;
        struct broker_options options;
        struct secret *password;
        struct results *results;
        struct broker *broker; /* NULL while disconnected */
        struct hookwriter *hook;
        char reject_source[160]; /* rejects.jsonl's "hook_file": amqp:QUEUE */

        /* The group: lines not yet written, messages not yet acknowledged. */
        char *buffer;
        size_t used, capacity;
        unsigned messages; /* lines and rejects */
        unsigned lines;
        uint64_t last_tag;
        uint64_t deadline_ms;

        /* Reconnecting. */
        unsigned delay_ms;
        uint64_t next_attempt_ms;
        uint64_t down_since_ms;
        unsigned attempts;
        int last_error; /* of the last failed attempt; 0 once connected */
        bool connected_before;
        bool write_failing; /* keeps the backoff growing across reconnects */
        char down_reason[REASON_LEN];  /* why the connection is not there */
        char write_reason[REASON_LEN]; /* why the last write failed */

        struct health health; /* state_dir/health-feed */

        uint64_t received, redelivered, written, rejected, groups;
};

static void sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

        nanosleep(&ts, NULL); /* a stop signal cuts it short */
}

static void clear_group(struct feeder *f)
{
        f->used = 0;
        f->messages = 0;
        f->lines = 0;
}

static void schedule_retry(struct feeder *f)
{
        const struct config *c = f->config;

        if (f->delay_ms == 0)
                f->delay_ms = c->retry_initial_ms;
        else
                f->delay_ms = backoff_next(f->delay_ms, c->retry_max_ms);
        f->next_attempt_ms = clock_now_ms() + f->delay_ms;
}

/* Drops the connection: what it has not acknowledged goes back to the
 * queue and comes again, flagged redelivered, after the reconnect. */
static void disconnect(struct feeder *f, bool at_once)
{
        broker_close(f->broker);
        f->broker = NULL;
        clear_group(f);
        f->down_since_ms = clock_now_ms();
        f->attempts = 0;
        if (at_once) {
                f->delay_ms = 0;
                f->next_attempt_ms = f->down_since_ms;
        } else {
                schedule_retry(f);
        }
}

static void write_failed(struct feeder *f, const char *what, int r)
{
        snprintf(f->write_reason, sizeof(f->write_reason), "%.400s: cannot write: %s", what,
                 strerror(-r));
        if (!f->write_failing)
                log_error("%s: cannot write: %s; leaving %u messages unacknowledged for the "
                          "broker to deliver again, reconnecting with backoff",
                          what, strerror(-r), f->messages);
        f->write_failing = true;
        disconnect(f, false);
}

static void connection_lost(struct feeder *f, const char *reason)
{
        log_warn("amqp: connection to %s:%u lost: %s; reconnecting", f->options.host,
                 f->options.port, reason);
        snprintf(f->down_reason, sizeof(f->down_reason), "connection lost: %.400s", reason);
        disconnect(f, true);
}

/* Writes the group (one write + fdatasync), then acknowledges it with one
 * basic.ack when ack is set and the connection is there. */
static int flush(struct feeder *f, bool ack)
{
        const char *reason = NULL;
        int r;

        if (f->messages == 0)
                return 0;
        if (f->used > 0) {
                r = hookwriter_append(f->hook, f->buffer, f->used);
                if (r < 0) {
                        write_failed(f, f->config->hook_file, r);
                        return r;
                }
        }
        if (f->write_failing) {
                log_info("%s: writing again", f->config->hook_file);
                f->write_failing = false;
                f->delay_ms = 0;
        }
        f->written += f->lines;
        f->groups++;
        log_debug("%s: %u lines, %zu bytes written and synced for %u messages; acknowledging up "
                  "to delivery %" PRIu64,
                  f->config->hook_file, f->lines, f->used, f->messages, f->last_tag);
        r = ack && f->broker ? broker_ack(f->broker, f->last_tag, true, &reason) : 0;
        clear_group(f);
        if (r < 0)
                connection_lost(f, reason);
        return r;
}

/* Received is received: what the group holds is written now (it comes
 * again anyway, but may be the last of it for a while). */
static void receive_failed(struct feeder *f, const char *reason)
{
        char copy[REASON_LEN];

        snprintf(copy, sizeof(copy), "%s", reason); /* flush may format another */
        if (flush(f, false) == 0)
                connection_lost(f, copy);
}

static void add_to_group(struct feeder *f, uint64_t tag)
{
        if (f->messages == 0)
                f->deadline_ms = clock_now_ms() + f->config->amqp_batch_ms;
        f->messages++;
        f->last_tag = tag;
}

static void reject(struct feeder *f, const struct broker_message *m, const char *reason)
{
        char why[REASON_LEN], where[PATH_MAX];
        int r;

        snprintf(why, sizeof(why), "%s (delivery %" PRIu64 "%s)", reason, m->delivery_tag,
                 m->redelivered ? ", redelivered" : "");
        log_error("amqp: message of %zu bytes rejected: %s; copied to rejects.jsonl", m->length,
                  why);
        r = results_reject(f->results, f->reject_source, 0, 0, m->length, why, m->body,
                           m->length);
        if (r < 0) {
                snprintf(where, sizeof(where), "%s/rejects.jsonl", f->config->state_dir);
                write_failed(f, where, r);
                return;
        }
        f->rejected++;
        add_to_group(f, m->delivery_tag);
}

static void take_message(struct feeder *f, const struct broker_message *m)
{
        const struct config *c = f->config;
        struct feeder_line line;
        const char *reason = NULL;
        int r;

        f->received++;
        f->redelivered += m->redelivered;
        r = feeder_line_from_body(m->body, m->length, c->max_line_bytes, c->max_json_depth, &line,
                                  &reason);
        if (r == -ENOMEM) {
                log_error("amqp: out of memory for a message of %zu bytes; reconnecting",
                          m->length);
                if (flush(f, true) == 0)
                        disconnect(f, false);
                return;
        }
        if (r < 0) {
                reject(f, m, reason);
                return;
        }
        if (f->used + line.length + 1 > f->capacity && flush(f, true) < 0) {
                feeder_line_release(&line); /* the connection is gone; it comes again */
                return;
        }
        memcpy(f->buffer + f->used, line.data, line.length);
        f->buffer[f->used + line.length] = '\n';
        f->used += line.length + 1;
        f->lines++;
        feeder_line_release(&line);
        add_to_group(f, m->delivery_tag);
}

static void log_connected(struct feeder *f)
{
        const struct config *c = f->config;
        char keys[CONFIG_MAX_ROUTING_KEYS * 64] = "";

        if (f->connected_before) {
                log_info("amqp: connected again to %s:%u after %.1f s (%u attempts)",
                         f->options.host, f->options.port,
                         (double)(clock_now_ms() - f->down_since_ms) / 1000.0, f->attempts);
                return;
        }
        for (size_t i = 0; i < c->n_amqp_routing_keys; i++)
                snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", i ? ", " : "",
                         c->amqp_routing_keys[i]);
        log_info("amqp: consuming queue '%s' on %s:%u vhost '%s'%s (exchange '%s', routing keys "
                 "%s; prefetch %u); appending to %s",
                 c->amqp_queue, f->options.host, f->options.port, c->amqp_vhost,
                 c->amqp_tls ? " over TLS" : "", c->amqp_exchange, keys, c->amqp_prefetch,
                 c->hook_file);
        f->connected_before = true;
}

static void try_connect(struct feeder *f)
{
        const char *reason = NULL;
        int r;

        f->attempts++;
        r = broker_open(&f->options, &f->broker, &reason);
        if (r == 0) {
                log_connected(f);
                if (!f->write_failing)
                        f->delay_ms = 0;
                f->last_error = 0;
                return;
        }
        f->broker = NULL;
        schedule_retry(f);
        snprintf(f->down_reason, sizeof(f->down_reason), "%.480s", reason);
        /* Once per kind of failure, not once per attempt. */
        if (r != f->last_error)
                log_warn("amqp: cannot connect: %s; retrying with backoff (at most %u ms apart)",
                         reason, f->config->retry_max_ms);
        else
                log_debug("amqp: attempt %u failed: %s; next in %u ms", f->attempts, reason,
                          f->delay_ms);
        f->last_error = r;
}

/* From the one loop: every pass waits at most IDLE_WAIT_MS, or a connect
 * attempt's timeout, so a fresh file means the loop turns. */
static void refresh_health(struct feeder *f)
{
        if (!health_due(&f->health))
                return;
        if (f->write_failing)
                health_beat(&f->health, true, "%s; messages stay on the broker",
                            f->write_reason);
        else if (!f->broker)
                health_beat(&f->health, true, "broker %s:%u not connected: %s", f->options.host,
                            f->options.port, f->down_reason[0] ? f->down_reason : "connecting");
        else
                health_beat(&f->health, false,
                            "consuming queue %s on %s:%u; %" PRIu64 " lines written since start",
                            f->config->amqp_queue, f->options.host, f->options.port, f->written);
}

static void step(struct feeder *f)
{
        uint64_t now = clock_now_ms();
        unsigned wait = IDLE_WAIT_MS;
        struct broker_message m;
        const char *reason = NULL;
        int r;

        if (f->messages > 0) {
                uint64_t left = f->deadline_ms > now ? f->deadline_ms - now : 0;

                if (left < wait)
                        wait = (unsigned)left;
        }
        r = broker_receive(f->broker, wait, &m, &reason);
        if (r == -EAGAIN) {
                if (f->messages > 0 && clock_now_ms() >= f->deadline_ms)
                        flush(f, true);
                return;
        }
        if (r < 0) {
                receive_failed(f, reason);
                return;
        }
        take_message(f, &m);
        if (f->broker && f->messages >= f->config->amqp_batch_max)
                flush(f, true);
}

static int read_password(const char *path, struct secret **ret)
{
        const char *reason = NULL;
        int r = secretfile_read_password(path, ret, &reason);

        if (r < 0)
                log_error("%s", reason);
        return r;
}

static int setup(struct feeder *f, const struct config *c)
{
        int r;

        *f = (struct feeder){.config = c};
        snprintf(f->reject_source, sizeof(f->reject_source), "amqp:%s", c->amqp_queue);
        r = read_password(c->amqp_password_file, &f->password);
        if (r < 0)
                return r;
        f->options = (struct broker_options){
                .host = c->amqp_host, .port = c->amqp_port, .vhost = c->amqp_vhost,
                .user = c->amqp_user, .password = (const char *)f->password->data,
                .heartbeat_s = c->amqp_heartbeat_s, .tls = c->amqp_tls,
                .tls_ca_file = c->amqp_tls_ca_file, .tls_verify = c->amqp_tls_verify,
                .exchange = c->amqp_exchange, .queue = c->amqp_queue,
                .routing_keys = c->amqp_routing_keys, .n_routing_keys = c->n_amqp_routing_keys,
                .prefetch = c->amqp_prefetch, .timeout_ms = BROKER_TIMEOUT_MS,
        };
        f->capacity = c->max_line_bytes + 1 > FEEDER_GROUP_BYTES ? c->max_line_bytes + 1
                                                                  : FEEDER_GROUP_BYTES;
        f->buffer = malloc(f->capacity);
        if (!f->buffer) {
                log_error("out of memory for a group of %zu bytes", f->capacity);
                return -ENOMEM;
        }
        r = results_open(c->state_dir, &f->results);
        if (r < 0) {
                log_error("%s: cannot open rejects.jsonl: %s", c->state_dir, strerror(-r));
                return r;
        }
        r = hookwriter_open(c->hook_file, &f->hook);
        if (r < 0) {
                log_error("%s: cannot open for appending: %s", c->hook_file, strerror(-r));
                return r;
        }
        r = health_init(&f->health, c->state_dir, HEALTH_FEED_FILE, "feed",
                        c->health_interval_s);
        if (r < 0)
                log_error("%s/%s: path too long", c->state_dir, HEALTH_FEED_FILE);
        return r;
}

static void teardown(struct feeder *f)
{
        broker_close(f->broker);
        results_close(f->results);
        hookwriter_close(f->hook);
        free(f->buffer);
        secret_free(f->password);
}

int feeder_run(const struct config *c)
{
        struct feeder f;
        int code = 0;

        signals_install();
        if (setup(&f, c) < 0) {
                teardown(&f);
                return 1;
        }
        while (!signals_stop_requested) {
                uint64_t now = clock_now_ms();

                if (f.broker)
                        step(&f);
                else if (now >= f.next_attempt_ms)
                        try_connect(&f);
                else
                        sleep_ms(f.next_attempt_ms - now < IDLE_WAIT_MS
                                         ? (unsigned)(f.next_attempt_ms - now)
                                         : IDLE_WAIT_MS);
                refresh_health(&f);
        }
        if (f.broker && flush(&f, true) < 0)
                code = 1;
        log_info("feed stopped: %" PRIu64 " messages received (%" PRIu64 " redelivered), %" PRIu64
                 " lines written in %" PRIu64 " groups with %" PRIu64 " fdatasync calls, %" PRIu64
                 " rejected",
                 f.received, f.redelivered, f.written, f.groups, hookwriter_syncs(f.hook),
                 f.rejected);
        teardown(&f);
        return code;
}
