/* secretfile: reads a secret (key file, KEK file) from disk into locked
 * memory, refusing any file another user could have read or swapped.
 *
 * secretfile_read() opens path without following a symbolic link and
 * without blocking on a FIFO, and accepts only a regular file with no
 * group or other permission bits whose size is min_bytes..max_bytes. It
 * returns 0 and the bytes in *ret (a struct secret, secret.h), or a
 * negative errno with *ret untouched:
 *   -ENOENT  no file at path ("<what> <path> not found")
 *   -ELOOP   path is a symbolic link
 *   -EINVAL  not a regular file (directory, FIFO, device...), or a bad
 *            argument (path or what NULL, min_bytes > max_bytes, max_bytes
 *            not below SECRET_MAX_BYTES)
 *   -EPERM   a group or other permission bit is set
 *   -EBADMSG size outside min_bytes..max_bytes, by fstat() or by what
 *            read() found (a file that changed size meanwhile)
 *   -ENOMEM  no locked memory
 *   other    open(), fstat() or read() failed
 * what is the noun that starts each reason ("key file", "KEK file").
 * *ret_reason, when not NULL, gets a reason (reason.h) naming the path; it
 * never holds a byte of the file. */
#pragma once

#include <stddef.h>

#include "secret.h"

int secretfile_read(const char *path, const char *what, size_t min_bytes, size_t max_bytes,
                    struct secret **ret, const char **ret_reason);

/* A password file (RabbitMQ's, libvirt SASL's) as login APIs want it:
 * secretfile_read() with 1..SECRETFILE_PASSWORD_MAX bytes, one trailing
 * newline (or CRLF) dropped, then NUL-terminated (len excludes the NUL).
 * -EBADMSG also when nothing is left or the password holds a NUL byte. */
#define SECRETFILE_PASSWORD_MAX (SECRET_MAX_BYTES - 2)
int secretfile_read_password(const char *path, struct secret **ret, const char **ret_reason);
