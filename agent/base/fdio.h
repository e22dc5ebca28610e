/* fdio: whole writes to a file descriptor. */
#pragma once

#include <stddef.h>

/* Writes all len bytes, retrying short writes and EINTR: 0, or a negative
 * errno (-EIO if write(2) wrote nothing). */
int fd_write_all(int fd, const void *buf, size_t len);
