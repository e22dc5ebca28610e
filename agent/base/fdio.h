/* fdio: whole reads and writes on a file descriptor. */
#pragma once

#include <stddef.h>

/* Writes all len bytes, retrying short writes and EINTR: 0, or a negative
 * errno (-EIO if write(2) wrote nothing). */
int fd_write_all(int fd, const void *buf, size_t len);

/* Reads until end of file or until size bytes are in buf, whichever comes
 * first, retrying short reads and EINTR; *ret_length gets the bytes read
 * (size itself when buf filled: whether more followed is not read). 0, or
 * a negative errno from read(2) (then *ret_length is untouched). buf is
 * not NUL-terminated; a caller that bounds a file passes one byte more
 * than the file may have and treats a full buffer as too long. */
int fd_read_all(int fd, void *buf, size_t size, size_t *ret_length);
