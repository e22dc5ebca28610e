/* uuid: canonical UUID text (uuid.h). */
#include "uuid.h"

#include <stddef.h>

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool uuid_is_valid(const char *s)
{
        if (!s)
                return false;
        for (size_t i = 0; i < UUID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!is_hex(s[i])) {
                        return false; /* also stops at an early NUL */
                }
        }
        return s[UUID_LEN] == '\0';
}

void uuid_lower(const char *uuid, char out[static UUID_LEN + 1])
{
        for (size_t i = 0; i <= UUID_LEN; i++)
                out[i] = (char)(uuid[i] >= 'A' && uuid[i] <= 'F' ? uuid[i] - 'A' + 'a' : uuid[i]);
}
