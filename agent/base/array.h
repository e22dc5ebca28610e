/* array: growing an array of fixed-size items by doubling. */
#pragma once

#include <stddef.h>

/* Makes room for item n in *items (capacity *capacity, size bytes each),
 * doubling it from 64 when full. 0, or -ENOMEM with *items untouched. */
int array_grow(void **items, size_t *capacity, size_t n, size_t size);
