/* array: growing an array of fixed-size items (array.h). */
#include "array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int array_grow(void **items, size_t *capacity, size_t n, size_t size)
{
        size_t cap = *capacity ? 2 * *capacity : 64;
        void *more;

        if (n < *capacity)
                return 0;
        if (size == 0 || cap > SIZE_MAX / size)
                return -ENOMEM;
        more = realloc(*items, cap * size);
        if (!more)
                return -ENOMEM;
        *items = more;
        *capacity = cap;
        return 0;
}
