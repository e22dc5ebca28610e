/* format_decide: the decisions a format takes on what it read of the image
 * (its size, its first bytes in j->probe, its state metadata in j->state),
 * with no I/O of their own: the state's fields parsed, whether a blank
 * image may be written (sizes, an interrupted format of ours, data where
 * the header goes), and how a job ends. Unit-tested on a job built by
 * hand (tests/unit/volume/test_format.c). */
#include "format_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void job_end(struct job *j, enum outcome o, bool transient, const char *fmt, ...)
{
        va_list ap;

        j->result->outcome = o;
        j->result->transient = transient;
        va_start(ap, fmt);
        vsnprintf(j->result->reason, sizeof(j->result->reason), fmt, ap);
        va_end(ap);
}

bool job_state_uuid(const char *state, char ret[40])
{
        const char *at = strstr(state, " uuid=");
        size_t n;

        if (!at)
                return false;
        at += strlen(" uuid=");
        n = strcspn(at, " ");
        if (n == 0 || n >= 40)
                return false;
        memcpy(ret, at, n);
        ret[n] = '\0';
        return true;
}

bool job_parse_state(const char *state, const char *word, uint64_t *payload,
                     uint64_t *offset)
{
        char fmt[64];

        snprintf(fmt, sizeof(fmt), "%s payload=%%" SCNu64 " offset=%%" SCNu64, word);
        return sscanf(state, fmt, payload, offset) == 2;
}

const unsigned char *format_first_nonzero(const unsigned char *buf, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (buf[i])
                        return buf + i;
        return NULL;
}

/* The image holds data (what, for reasons): converted (j->convert, 0),
 * or refused when conversion is off (-1, ended). */
int format_data_found(struct job *j, const char *article, const char *what)
{
        if (!j->ctx->config->max_convert_gib) {
                job_end(j, OUTCOME_REFUSED, false,
                    "image holds data (%s); not formatting (conversion is off: [volume] "
                    "max_convert_gib = 0)",
                    what);
                return -1;
        }
        j->convert = true;
        snprintf(j->convert_where, sizeof(j->convert_where), "%s %s", article, what);
        return 0;
}

/* No header yet: may we write one? Sets j->payload and j->check_from.
 * 0 yes, as far as sizes, state and the header area tell (the allocated
 * extents are checked by format_blank_image); -1 decided. */
int format_decide_blank_image(struct job *j, uint64_t requested)
{
        uint64_t payload, offset, from = 0;
        const unsigned char *nonzero;

        if (j->has_state && job_parse_state(j->state, "writing", &payload, &offset)) {
                /* Resuming our own format: the header area may hold our
                 * partial write; nothing else may. */
                if (offset != j->offset || (j->size != payload && j->size != payload + offset)) {
                        job_end(j, OUTCOME_REFUSED, false,
                            "interrupted format state \"%s\" does not match the image (%" PRIu64
                            " bytes, header %" PRIu64 " bytes)",
                            j->state, j->size, j->offset);
                        return -1;
                }
                j->payload = payload;
                from = offset;
                /* Never grown: not one header byte went out, so the header
                 * area must be as blank as on a new image. Grown: the first
                 * 4 KiB go out last and must still be zero; the rest is
                 * checked against the key-slot areas once the header's
                 * layout is known (format_blank_image). */
                if (j->size == payload)
                        nonzero = format_first_nonzero(j->probe, j->size < j->offset ? j->size
                                                                                     : j->offset);
                else
                        nonzero = format_first_nonzero(j->probe, PHDR_BLOCK);
                if (nonzero) {
                        job_end(j, OUTCOME_REFUSED, false,
                            "interrupted format state \"%s\", but the image holds data at offset "
                            "%td, where this agent %s; not formatting",
                            j->state, nonzero - j->probe,
                            j->size == payload ? "had not written yet (the image was never grown)"
                                               : "writes the first 4 KiB last");
                        return -1;
                }
                j->resume_in_header = j->size != payload;
        } else {
                j->payload = requested ? requested : j->size;
                if (j->size != j->payload) {
                        job_end(j, OUTCOME_REFUSED, false,
                            "image is %" PRIu64 " bytes but the volume is %" PRIu64
                            " bytes; not formatting",
                            j->size, j->payload);
                        return -1;
                }
                nonzero = format_first_nonzero(j->probe, j->size < j->offset ? j->size : j->offset);
                if (nonzero) {
                        char what[80];

                        snprintf(what, sizeof(what), "non-zero byte at offset %td where the header goes",
                                 nonzero - j->probe);
                        if (format_data_found(j, "a", what) < 0)
                                return -1;
                }
        }
        j->check_from = from;
        if (j->payload == 0) {
                job_end(j, OUTCOME_REFUSED, false, "image is empty (0 bytes); not formatting");
                return -1;
        }
        return 0;
}
