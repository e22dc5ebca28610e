/* event_test: notifications for the tests of the roles' decisions
 * (tests/unit/compute/, tests/unit/volume/), parsed by the real parser. */
#pragma once

#include <stdbool.h>

#include "stream/event.h"

/* The volume every event_test_parse() notification is about. */
#define EVENT_TEST_VOLUME "0b5a1f0e-8f4c-4d7e-9a3b-6c2d1e0f9a8b"

/* A Cinder notification of event_type whose payload is volume_id
 * EVENT_TEST_VOLUME followed by payload_fields (JSON members, each with its
 * leading ", "), parsed by event_parse() into *ret; false (and the reason
 * on stderr) when it does not parse. */
bool event_test_parse(const char *event_type, const char *payload_fields, struct event *ret);
