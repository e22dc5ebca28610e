/* feeder: the feed command — OpenStack notifications from RabbitMQ
 * ([amqp], through broker.c) appended to the hook file, one line each.
 *
 * A message is acknowledged only once its line is on disk: lines are
 * collected in a group (up to [amqp] batch_max messages, or batch_ms after
 * the group's first message, or FEEDER_GROUP_BYTES), written with one
 * write(2) on an O_APPEND descriptor, fdatasync'ed, and then the whole
 * group is acknowledged with one basic.ack (multiple). A body that cannot
 * be one line as it is (see feeder_line_from_body) goes to
 * state_dir/rejects.jsonl instead and is acknowledged with its group.
 *
 * The broker going away, or the hook file failing to take a group, closes
 * the connection (unacknowledged messages go back to the queue) and the
 * feeder reconnects with the [retry] backoff; it never exits for that.
 * Messages redelivered after a reconnect may repeat lines already written:
 * the roles handle a repeated event as already done. SIGTERM or SIGINT
 * stops it after the current group is written and acknowledged. */
#pragma once

#include <stddef.h>

#include "config/config.h"

/* The most bytes of lines one group holds (a single longer line, up to
 * max_line_bytes, is written as a group of its own). */
#define FEEDER_GROUP_BYTES (4u * 1024 * 1024)

/* The line a message body becomes. */
struct feeder_line {
        const char *data; /* without the newline */
        size_t length;
        char *owned; /* data's allocation when it is not the body itself */
};

/* A body without '\n' or NUL is its own line, byte for byte (the roles
 * judge it like any other line). A body with a newline must be one JSON
 * object as json-c's strict mode reads it (nested at most max_depth deep;
 * json-c still takes single-quoted strings and raw control characters in
 * strings): it is written again compactly by json-c, so newlines between
 * tokens go and those in strings come out as \n escapes. Returns 0 with
 * *ret filled (release it with feeder_line_release), or, with a reason
 * for rejects.jsonl:
 *   -EMSGSIZE  the body, or its compact form, is longer than max_line
 *   -EBADMSG   empty, a NUL byte, or a newline in what is not a JSON object
 *   -ENOMEM */
int feeder_line_from_body(const char *body, size_t length, size_t max_line,
                          unsigned max_depth, struct feeder_line *ret, const char **ret_reason);
void feeder_line_release(struct feeder_line *line);

/* Runs the feed command until SIGTERM/SIGINT. Logs. Exit code: 0 when it
 * stopped with everything it received written and acknowledged (or left
 * unacknowledged on a lost connection, for redelivery), 1 when it could
 * not start (password file, hook file, state_dir) or its last group could
 * not be written. */
int feeder_run(const struct config *c);
