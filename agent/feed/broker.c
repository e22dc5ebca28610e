/* broker: an AMQP consumer connection through rabbitmq-c 0.11 (broker.h).
 *
 * rabbitmq-c reports three kinds of failure in an amqp_rpc_reply_t: a
 * library status (socket, timeout, protocol), a server exception (the
 * broker closed the channel or the connection with a code and a text), or
 * no reply. Each becomes one negative errno and one reason here. A
 * connection is marked unusable at its first failure; broker_close() then
 * only frees it, without waiting for a broker that is not answering. */
#include "broker.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/reason.h"

#define CHANNEL 1
/* Broker texts are bounded by AMQP (255 bytes); keep log lines short. */
#define REPLY_TEXT_MAX 200

struct broker {
        amqp_connection_state_t connection;
        bool usable;    /* logged in, consuming, nothing failed since */
        bool logged_in; /* while opening: the broker may take a connection.close */
        bool broken;    /* while opening: a socket or protocol error, just drop it */
        bool has_envelope;
        amqp_envelope_t envelope;
};

static struct timeval timeval_from_ms(unsigned ms)
{
        return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static int errno_from_status(int status)
{
        switch (status) {
        case AMQP_STATUS_NO_MEMORY:
                return -ENOMEM;
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
                return -EHOSTUNREACH;
        case AMQP_STATUS_TIMEOUT:
        case AMQP_STATUS_HEARTBEAT_TIMEOUT:
                return -ETIMEDOUT;
        case AMQP_STATUS_SOCKET_ERROR:
        case AMQP_STATUS_TCP_ERROR:
        case AMQP_STATUS_SSL_ERROR:
        case AMQP_STATUS_SSL_CONNECTION_FAILED:
                return -EIO;
        case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
                return -EPERM;
        case AMQP_STATUS_INVALID_PARAMETER:
                return -EINVAL;
        default:
                return -ECONNRESET;
        }
}

/* A library status as "WHAT: text". (rabbitmq-c 0.11 keeps the socket's
 * own error to itself: errno is whatever the last call left, often
 * EINPROGRESS from its non-blocking connect, so it is not shown.) */
static int library_error(int status, const char *what, const char **ret_reason)
{
        return reason_format(errno_from_status(status), ret_reason, "%s: %s", what,
                             amqp_error_string2(status));
}

/* The broker's reply text, printable ASCII only (it goes into a log line). */
static void copy_reply_text(amqp_bytes_t text, char *out, size_t size)
{
        size_t n = text.len < size - 1 ? text.len : size - 1;

        for (size_t i = 0; i < n; i++) {
                char c = ((const char *)text.bytes)[i];

                out[i] = c >= ' ' && c <= '~' ? c : '?';
        }
        out[n] = '\0';
}

static int errno_from_reply_code(unsigned code)
{
        switch (code) {
        case AMQP_ACCESS_REFUSED:
        case AMQP_NOT_ALLOWED:
                return -EACCES;
        case AMQP_NOT_FOUND:
                return -ENOENT;
        case AMQP_CONNECTION_FORCED:
                return -ECONNRESET;
        default:
                return -EPROTO;
        }
}

/* "WHAT: 404 NOT_FOUND - no exchange 'x' in vhost '/'" from a
 * connection.close or channel.close method (RabbitMQ's texts start with
 * the code's name). */
static int close_method_error(amqp_method_t *method, const char *what, const char **ret_reason)
{
        char text[REPLY_TEXT_MAX + 1];
        unsigned code;

        if (method->id == AMQP_CONNECTION_CLOSE_METHOD) {
                amqp_connection_close_t *m = method->decoded;

                code = m->reply_code;
                copy_reply_text(m->reply_text, text, sizeof(text));
        } else if (method->id == AMQP_CHANNEL_CLOSE_METHOD) {
                amqp_channel_close_t *m = method->decoded;

                code = m->reply_code;
                copy_reply_text(m->reply_text, text, sizeof(text));
        } else {
                return reason_format(-EPROTO, ret_reason, "%s: unexpected reply %s from the broker",
                                     what, amqp_method_name(method->id));
        }
        return reason_format(errno_from_reply_code(code), ret_reason, "%s: %u %s", what, code,
                             text);
}

static int reply_error(amqp_rpc_reply_t reply, const char *what, const char **ret_reason)
{
        switch (reply.reply_type) {
        case AMQP_RESPONSE_NORMAL:
                return 0;
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
                return library_error(reply.library_error, what, ret_reason);
        case AMQP_RESPONSE_SERVER_EXCEPTION:
                return close_method_error(&reply.reply, what, ret_reason);
        case AMQP_RESPONSE_NONE:
        default:
                return reason_format(-EPROTO, ret_reason, "%s: no reply from the broker", what);
        }
}

/* The reply to the request the connection sent last. A refusal by the
 * broker (a server exception) leaves the connection able to close. */
static int last_reply(struct broker *b, const char *what, const char **ret_reason)
{
        amqp_rpc_reply_t reply = amqp_get_rpc_reply(b->connection);

        if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
            reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
                b->logged_in = false;
        else if (reply.reply_type != AMQP_RESPONSE_NORMAL &&
                 reply.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
                b->broken = true;
        return reply_error(reply, what, ret_reason);
}

static int setup_tls(amqp_socket_t *socket, const struct broker_options *o,
                     const char **ret_reason)
{
        if (o->tls_ca_file) {
                if (amqp_ssl_socket_set_cacert(socket, o->tls_ca_file) != AMQP_STATUS_OK)
                        return reason_format(-EINVAL, ret_reason,
                                             "TLS CA file %s: no certificate could be loaded",
                                             o->tls_ca_file);
        } else {
                SSL_CTX *context = amqp_ssl_socket_get_context(socket);

                /* rabbitmq-c trusts nothing by default. */
                if (!context || SSL_CTX_set_default_verify_paths(context) != 1)
                        return reason_set(-EIO, ret_reason,
                                          "cannot load OpenSSL's default CA certificates");
        }
        amqp_ssl_socket_set_verify_peer(socket, o->tls_verify);
        amqp_ssl_socket_set_verify_hostname(socket, o->tls_verify);
        if (amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST) !=
            AMQP_STATUS_OK)
                return reason_set(-EIO, ret_reason, "TLS 1.2 or later is not available");
        return 0;
}

static int connect_and_login(struct broker *b, const struct broker_options *o,
                             const char **ret_reason)
{
        struct timeval timeout = timeval_from_ms(o->timeout_ms);
        char what[600];
        amqp_socket_t *socket;
        int status, r;

        socket = o->tls ? amqp_ssl_socket_new(b->connection) : amqp_tcp_socket_new(b->connection);
        if (!socket)
                return reason_set(-ENOMEM, ret_reason, "cannot create a socket object");
        if (o->tls) {
                r = setup_tls(socket, o, ret_reason);
                if (r < 0)
                        return r;
        }
        snprintf(what, sizeof(what), "connecting to %s:%u", o->host, o->port);
        status = amqp_socket_open_noblock(socket, o->host, (int)o->port, &timeout);
        if (status != AMQP_STATUS_OK)
                return library_error(status, what, ret_reason);
        if (amqp_set_handshake_timeout(b->connection, &timeout) != AMQP_STATUS_OK ||
            amqp_set_rpc_timeout(b->connection, &timeout) != AMQP_STATUS_OK)
                return reason_set(-EINVAL, ret_reason, "cannot set the AMQP timeouts");
        snprintf(what, sizeof(what), "logging in to %s:%u vhost '%s' as '%s'", o->host, o->port,
                 o->vhost, o->user);
        r = reply_error(amqp_login(b->connection, o->vhost, 0, AMQP_DEFAULT_FRAME_SIZE,
                                   (int)o->heartbeat_s, AMQP_SASL_METHOD_PLAIN, o->user,
                                   o->password),
                        what, ret_reason);
        if (r < 0)
                return r;
        b->logged_in = true;
        amqp_channel_open(b->connection, CHANNEL);
        return last_reply(b, "opening a channel", ret_reason);
}

static int declare_and_consume(struct broker *b, const struct broker_options *o,
                               const char **ret_reason)
{
        amqp_bytes_t exchange = amqp_cstring_bytes(o->exchange);
        amqp_bytes_t queue = amqp_cstring_bytes(o->queue);
        char what[600];
        int r;

        /* Passive: OpenStack owns the exchange and its flags. */
        snprintf(what, sizeof(what), "checking that exchange '%s' exists", o->exchange);
        amqp_exchange_declare(b->connection, CHANNEL, exchange, amqp_cstring_bytes("topic"), 1,
                              0, 0, 0, amqp_empty_table);
        r = last_reply(b, what, ret_reason);
        if (r < 0)
                return r;
        snprintf(what, sizeof(what), "declaring durable queue '%s'", o->queue);
        amqp_queue_declare(b->connection, CHANNEL, queue, 0, 1, 0, 0, amqp_empty_table);
        r = last_reply(b, what, ret_reason);
        for (size_t i = 0; r == 0 && i < o->n_routing_keys; i++) {
                snprintf(what, sizeof(what), "binding queue '%s' to exchange '%s' with key '%s'",
                         o->queue, o->exchange, o->routing_keys[i]);
                amqp_queue_bind(b->connection, CHANNEL, queue, exchange,
                                amqp_cstring_bytes(o->routing_keys[i]), amqp_empty_table);
                r = last_reply(b, what, ret_reason);
        }
        if (r < 0)
                return r;
        amqp_basic_qos(b->connection, CHANNEL, 0, (uint16_t)o->prefetch, 0);
        r = last_reply(b, "setting the prefetch count", ret_reason);
        if (r < 0)
                return r;
        snprintf(what, sizeof(what), "consuming from queue '%s'", o->queue);
        amqp_basic_consume(b->connection, CHANNEL, queue, amqp_empty_bytes, 0, 0, 0,
                           amqp_empty_table);
        return last_reply(b, what, ret_reason);
}

static bool options_ok(const struct broker_options *o)
{
        return o && o->host && o->vhost && o->user && o->password && o->exchange && o->queue &&
               o->port >= 1 && o->port <= 65535 && o->prefetch >= 1 && o->prefetch <= 65535 &&
               o->n_routing_keys >= 1 && o->routing_keys && o->timeout_ms >= 1 &&
               o->heartbeat_s <= 65535;
}

int broker_open(const struct broker_options *o, struct broker **ret, const char **ret_reason)
{
        struct broker *b;
        int r;

        if (!options_ok(o) || !ret)
                return reason_set(-EINVAL, ret_reason, "invalid broker options");
        b = calloc(1, sizeof(*b));
        if (!b)
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        b->connection = amqp_new_connection();
        if (!b->connection) {
                free(b);
                return reason_set(-ENOMEM, ret_reason, "out of memory");
        }
        r = connect_and_login(b, o, ret_reason);
        if (r == 0)
                r = declare_and_consume(b, o, ret_reason);
        if (r < 0) {
                /* Refused after login (exchange missing, no permission):
                 * close politely, sparing the broker's log a warning about
                 * a vanished client at every retry. */
                if (b->logged_in && !b->broken)
                        amqp_connection_close(b->connection, AMQP_REPLY_SUCCESS);
                broker_close(b);
                return r;
        }
        b->usable = true;
        *ret = b;
        return 0;
}

static void drop_envelope(struct broker *b)
{
        if (b->has_envelope)
                amqp_destroy_envelope(&b->envelope);
        b->has_envelope = false;
}

/* The frame amqp_consume_message() stopped at instead of a delivery:
 * the broker closing something, or a method that does not concern us. */
static int other_frame(struct broker *b, const char **ret_reason)
{
        struct timeval now = {0, 0};
        amqp_frame_t frame;
        int status;

        status = amqp_simple_wait_frame_noblock(b->connection, &frame, &now);
        if (status == AMQP_STATUS_TIMEOUT)
                return -EAGAIN;
        if (status != AMQP_STATUS_OK) {
                b->usable = false;
                return library_error(status, "receiving", ret_reason);
        }
        if (frame.frame_type != AMQP_FRAME_METHOD)
                return -EAGAIN;
        switch (frame.payload.method.id) {
        case AMQP_CONNECTION_CLOSE_METHOD: {
                amqp_connection_close_ok_t ok = {0};

                b->usable = false;
                amqp_send_method(b->connection, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
                return close_method_error(&frame.payload.method,
                                          "the broker closed the connection", ret_reason);
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
                amqp_channel_close_ok_t ok = {0};

                b->usable = false;
                amqp_send_method(b->connection, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
                return close_method_error(&frame.payload.method, "the broker closed the channel",
                                          ret_reason);
        }
        case AMQP_BASIC_CANCEL_METHOD:
                b->usable = false;
                return reason_set(-ECONNRESET, ret_reason,
                                  "the broker cancelled the consumer (queue deleted?)");
        default:
                return -EAGAIN;
        }
}

int broker_receive(struct broker *b, unsigned timeout_ms, struct broker_message *ret,
                   const char **ret_reason)
{
        struct timeval timeout = timeval_from_ms(timeout_ms);
        amqp_rpc_reply_t reply;

        if (!b || !b->usable)
                return reason_set(-ENOTCONN, ret_reason, "not connected");
        drop_envelope(b);
        amqp_maybe_release_buffers(b->connection);
        reply = amqp_consume_message(b->connection, &b->envelope, &timeout, 0);
        if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
                b->has_envelope = true;
                *ret = (struct broker_message){
                        .delivery_tag = b->envelope.delivery_tag,
                        .redelivered = b->envelope.redelivered,
                        .body = b->envelope.message.body.bytes,
                        .length = b->envelope.message.body.len,
                };
                return 0;
        }
        if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
                if (reply.library_error == AMQP_STATUS_TIMEOUT)
                        return -EAGAIN;
                if (reply.library_error == AMQP_STATUS_UNEXPECTED_STATE)
                        return other_frame(b, ret_reason);
        }
        b->usable = false;
        return reply_error(reply, "receiving", ret_reason);
}

int broker_ack(struct broker *b, uint64_t delivery_tag, bool multiple, const char **ret_reason)
{
        int status;

        if (!b || !b->usable)
                return reason_set(-ENOTCONN, ret_reason, "not connected");
        status = amqp_basic_ack(b->connection, CHANNEL, delivery_tag, multiple);
        if (status != AMQP_STATUS_OK) {
                b->usable = false;
                return library_error(status, "acknowledging", ret_reason);
        }
        return 0;
}

void broker_close(struct broker *b)
{
        if (!b)
                return;
        drop_envelope(b);
        if (b->usable) {
                /* Unacknowledged deliveries go back to the queue here. */
                amqp_channel_close(b->connection, CHANNEL, AMQP_REPLY_SUCCESS);
                amqp_connection_close(b->connection, AMQP_REPLY_SUCCESS);
        }
        amqp_destroy_connection(b->connection);
        free(b);
}
