/* amqp_publish: a test-only publisher for tests/integration/amqp_*.sh.
 *
 * Publishes COUNT Cinder volume.create.end notifications with message ids
 * amqp-test-FIRST .. amqp-test-(FIRST+COUNT-1) to EXCHANGE with ROUTING_KEY,
 * persistent, on one connection, and exits 0 only once the broker has
 * confirmed every one (publisher confirms). Odd ids go in an
 * oslo.messaging v2 envelope, even ones bare. amqp-publish from amqp-tools
 * makes one connection per message, far too slow for a thousand.
 *
 *   cc -o amqp_publish amqp_publish.c -lrabbitmq
 *   amqp_publish HOST PORT USER PASSWORD_FILE EXCHANGE ROUTING_KEY FIRST COUNT
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define CHANNEL 1

static int fail(const char *what, amqp_rpc_reply_t r)
{
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
                fprintf(stderr, "amqp_publish: %s: %s\n", what,
                        amqp_error_string2(r.library_error));
        else
                fprintf(stderr, "amqp_publish: %s: reply type %d\n", what, (int)r.reply_type);
        return 1;
}

static void bare(char *buf, size_t size, unsigned long id)
{
        snprintf(buf, size,
                 "{\"message_id\": \"amqp-test-%lu\", "
                 "\"publisher_id\": \"volume.cinder-host@rbd\", "
                 "\"event_type\": \"volume.create.end\", \"priority\": \"INFO\", \"payload\": "
                 "{\"volume_id\": \"00000000-0000-4000-8000-%012lu\", \"volume_type\": null, "
                 "\"display_name\": \"vol\\n%lu\", \"size\": 1, \"status\": \"available\"}, "
                 "\"timestamp\": \"2026-11-25 21:00:00.000000\", \"_unique_id\": \"u%lu\"}",
                 id, id, id, id);
}

/* The bare notification as a JSON string inside the oslo envelope. */
static void envelope(char *buf, size_t size, unsigned long id)
{
        char inner[1024];
        size_t o;

        bare(inner, sizeof(inner), id);
        o = (size_t)snprintf(buf, size, "{\"oslo.version\": \"2.0\", \"oslo.message\": \"");
        for (const char *p = inner; *p && o + 4 < size; p++) {
                if (*p == '"' || *p == '\\')
                        buf[o++] = '\\';
                buf[o++] = *p;
        }
        snprintf(buf + o, size - o, "\"}");
}

static char *read_password(const char *path)
{
        static char password[256];
        FILE *f = fopen(path, "r");
        size_t n;

        if (!f)
                return NULL;
        n = fread(password, 1, sizeof(password) - 1, f);
        fclose(f);
        password[n] = '\0';
        password[strcspn(password, "\n")] = '\0';
        return password;
}

/* Reads basic.ack frames until every delivery tag up to last is confirmed. */
static int await_confirms(amqp_connection_state_t c, uint64_t last)
{
        uint64_t confirmed = 0;

        while (confirmed < last) {
                struct timeval timeout = {30, 0};
                amqp_frame_t frame;
                int s = amqp_simple_wait_frame_noblock(c, &frame, &timeout);

                if (s != AMQP_STATUS_OK) {
                        fprintf(stderr, "amqp_publish: waiting for confirms (%llu of %llu): %s\n",
                                (unsigned long long)confirmed, (unsigned long long)last,
                                amqp_error_string2(s));
                        return 1;
                }
                if (frame.frame_type != AMQP_FRAME_METHOD)
                        continue;
                if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
                        fprintf(stderr, "amqp_publish: the broker refused a message\n");
                        return 1;
                }
                if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                        amqp_basic_ack_t *ack = frame.payload.method.decoded;

                        if (ack->delivery_tag > confirmed)
                                confirmed = ack->delivery_tag;
                }
        }
        return 0;
}

int main(int argc, char **argv)
{
        amqp_basic_properties_t props = {
                ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
                .content_type = amqp_cstring_bytes("application/json"),
                .delivery_mode = 2,
        };
        unsigned long first, count;
        amqp_connection_state_t c;
        amqp_socket_t *socket;
        amqp_rpc_reply_t r;
        char *password;
        int code;

        if (argc != 9) {
                fprintf(stderr, "usage: %s HOST PORT USER PASSWORD_FILE EXCHANGE ROUTING_KEY "
                                "FIRST COUNT\n", argv[0]);
                return 2;
        }
        first = strtoul(argv[7], NULL, 10);
        count = strtoul(argv[8], NULL, 10);
        password = read_password(argv[4]);
        if (!password) {
                perror(argv[4]);
                return 1;
        }
        c = amqp_new_connection();
        socket = amqp_tcp_socket_new(c);
        if (!socket || amqp_socket_open(socket, argv[1], atoi(argv[2])) != AMQP_STATUS_OK) {
                fprintf(stderr, "amqp_publish: cannot connect to %s:%s\n", argv[1], argv[2]);
                return 1;
        }
        r = amqp_login(c, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, argv[3],
                       password);
        if (r.reply_type != AMQP_RESPONSE_NORMAL)
                return fail("login", r);
        amqp_channel_open(c, CHANNEL);
        if ((r = amqp_get_rpc_reply(c)).reply_type != AMQP_RESPONSE_NORMAL)
                return fail("channel", r);
        amqp_confirm_select(c, CHANNEL);
        if ((r = amqp_get_rpc_reply(c)).reply_type != AMQP_RESPONSE_NORMAL)
                return fail("confirm.select", r);
        for (unsigned long id = first; id < first + count; id++) {
                char body[2048];

                if (id % 2)
                        envelope(body, sizeof(body), id);
                else
                        bare(body, sizeof(body), id);
                if (amqp_basic_publish(c, CHANNEL, amqp_cstring_bytes(argv[5]),
                                       amqp_cstring_bytes(argv[6]), 0, 0, &props,
                                       amqp_cstring_bytes(body)) != AMQP_STATUS_OK) {
                        fprintf(stderr, "amqp_publish: publishing %lu failed\n", id);
                        return 1;
                }
        }
        code = await_confirms(c, count);
        amqp_channel_close(c, CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(c, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(c);
        if (code == 0)
                printf("published %lu messages, all confirmed\n", count);
        return code;
}
