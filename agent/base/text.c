/* text: checks on operator-written names (text.h). */
#include "text.h"

bool text_is_portable(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return true;
}
