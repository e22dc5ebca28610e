/* uuid: the canonical text form of a UUID, 8-4-4-4-12 hexadecimal digits
 * (volume ids, backup ids, libvirt secret UUIDs, LUKS header UUIDs). */
#pragma once

#include <stdbool.h>

/* The characters of a UUID in text, without the NUL. */
#define UUID_LEN 36

/* True for a canonical 8-4-4-4-12 hex UUID (either case) ending at its
 * 36th character; false for NULL. */
bool uuid_is_valid(const char *s);
/* A valid UUID (uuid_is_valid) copied with its NUL in lowercase, the one
 * spelling ids are kept and compared in (libvirt prints them so too). */
void uuid_lower(const char *uuid, char out[static UUID_LEN + 1]);
