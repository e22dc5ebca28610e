/* broker: one AMQP 0-9-1 consumer connection to RabbitMQ (rabbitmq-c).
 *
 * The only file that includes rabbitmq-c's headers. (It is not called
 * amqp.h: rabbitmq-c 0.11 installs /usr/include/amqp.h and includes it as
 * <amqp.h> from its other headers, which -Iagent would make find ours; and
 * amqp_ is rabbitmq-c's own symbol prefix.)
 *
 * broker_open() connects (TCP or TLS), logs in with PLAIN, checks that the
 * exchange exists (passive declare: the feeder never creates or changes
 * the exchange OpenStack publishes to), declares its own durable queue,
 * binds it once per routing key, sets basic.qos prefetch and starts a
 * consumer with manual acknowledgements. Every step is bounded by the
 * timeout given in the options.
 *
 * Every function returns 0 or a negative errno and, through ret_reason
 * (reason.h; may be NULL), one line saying what failed, e.g. "declaring
 * queue 'q': 406 PRECONDITION_FAILED - ...". After any error but -EAGAIN
 * from broker_receive the connection is unusable: close it and open a new
 * one. Messages not acknowledged on a connection that is closed go back
 * to the queue (the broker redelivers them, flagged redelivered). Nothing
 * here logs. Not thread-safe: one thread uses a connection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;

struct broker_options {
        const char *host;
        unsigned port;
        const char *vhost;
        const char *user;
        const char *password; /* NUL-terminated; the caller keeps it in locked memory */
        unsigned heartbeat_s; /* 0: none */
        bool tls;
        const char *tls_ca_file; /* NULL: OpenSSL's default CA store */
        bool tls_verify;         /* certificate chain and host name */
        const char *exchange;
        const char *queue;
        char *const *routing_keys;
        size_t n_routing_keys;
        unsigned prefetch;   /* 1..65535 */
        unsigned timeout_ms; /* connect, login and each request; 1.. */
};

struct broker_message {
        uint64_t delivery_tag; /* for broker_ack, on this connection only */
        bool redelivered;      /* the broker delivered it before, unacknowledged */
        const char *body;      /* valid until the next broker_receive or broker_close */
        size_t length;
};

/* -EINVAL for options out of range; failures map roughly to errno:
 * -EIO (socket or TLS error: refused, unreachable...), -EHOSTUNREACH (name
 * not resolved), -ETIMEDOUT, -EPERM (TLS certificate not verified),
 * -EACCES (login or permission refused), -ENOENT (exchange missing),
 * -EPROTO (other refusals by the broker), -ECONNRESET, -ENOMEM. */
int broker_open(const struct broker_options *o, struct broker **ret, const char **ret_reason);

/* Waits at most timeout_ms (0: only what is already there) for the next
 * message. 0 and *ret filled; -EAGAIN when none came; other errors: the
 * connection is gone (closed by the broker, the consumer cancelled, a
 * socket error, missed heartbeats). */
int broker_receive(struct broker *b, unsigned timeout_ms, struct broker_message *ret,
                   const char **ret_reason);

/* Acknowledges delivery_tag, and with multiple every earlier one too. */
int broker_ack(struct broker *b, uint64_t delivery_tag, bool multiple, const char **ret_reason);

/* Closes the channel and the connection politely when it is still usable
 * (bounded by the timeout), then frees everything. NULL is a no-op. */
void broker_close(struct broker *b);
