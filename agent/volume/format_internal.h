/* format_internal: what the format's files share (format.c, format_decide.c,
 * format_key.c, format_context.c, format_extend.c, format_convert.c,
 * format_inherit.c): the workers' context, one format's job, and how a
 * job ends. Not for other modules (format.h is their interface). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "format.h"
#include "records/lockcookie.h"
#include "luks/luks.h"

#define PHDR_BLOCK 4096u
#define STATE_MAX 256
#define FORMAT_IMAGE_NAME_MAX 200
/* In the state of a converted volume: "formatted ... converted=TIME". */
#define FORMAT_CONVERTED_MARK "converted"

struct ceph_cluster;
struct ceph_image;

/* One Ceph client shared by the workers. A client Ceph has blocklisted, or
 * one holding a lock it could not release (an OSD outage), is retired:
 * workers still using it finish, the next format connects a fresh client —
 * a new entity, which librbd lets break the old one's lock once its watch
 * is gone (librbd will not let a client break its own). */
struct client {
        struct ceph_cluster *cluster;
        unsigned users;
};

struct format_context {
        const struct config *config;
        struct keys *keys;
        struct luks_params luks;
        pthread_mutex_t connect_lock;
        struct client *client; /* current; NULL until needed or once retired */
        struct lockcookie_owner lock_owner; /* the advisory locks' cookies */
        int keyslot_self_test; /* luks_self_test's result, 0 if not run */
};

/* Everything one format_volume call works on. */
struct job {
        struct format_context *ctx;
        const char *volume_id;
        char image_name[FORMAT_IMAGE_NAME_MAX];
        struct ceph_cluster *cluster;
        struct ceph_image *image;
        uint64_t requested;   /* the volume's size from the event; 0 by hand */
        uint64_t size;        /* current image size */
        uint64_t payload;     /* bytes qemu will show */
        uint64_t offset;      /* payload offset = header bytes on the image */
        unsigned char *probe; /* the image's first `offset` bytes */
        char state[STATE_MAX];
        bool has_state;
        uint64_t check_from; /* where the allocated-extent check starts */
        /* Resuming a grown image: past the first 4 KiB, the header area may
         * hold our partial write, but only where key slots go. */
        bool resume_in_header;
        bool retire_client; /* the client must not be used again */
        /* The image holds data: convert it (format_convert.c); where the
         * first data was seen, for the reason. */
        bool convert;
        char convert_where[96];
        bool remove_plain; /* a finished conversion's plain image is to go */
        struct format_result *result;
};

/* The job's outcome and reason (first call wins); transient: a retry may pass. */
void job_end(struct job *j, enum outcome o, bool transient, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* A Ceph error as the ending, transient when it may pass. */
void job_end_ceph_error(struct job *j, const char *what, int r);
/* A key provider's error as the ending. */
void job_end_key_error(struct job *j, int r, const char *why);
/* The state metadata: "WORD payload=P offset=O[ uuid=U] time=T" from the job. */
int job_set_state(struct job *j, const char *word, const char *uuid);
bool job_parse_state(const char *state, const char *word, uint64_t *payload, uint64_t *offset);
/* The header UUID a state names (its " uuid=" field, at most 39 characters)
 * into ret; false when it names none. */
bool job_state_uuid(const char *state, char ret[40]);

/* Writes a built header (keyslots first, the first 4 KiB last). */
int format_write_header(struct job *j, const unsigned char *header, size_t used);
/* j->size, the state, and the first PHDR_BLOCK bytes into head when the
 * image has that many; reads only, no lock. false (ended) on an error. */
bool format_peek(struct job *j, unsigned char head[PHDR_BLOCK]);
/* The ending when the image cannot be opened (r). */
void format_open_failed(struct job *j, int r);

/* format_decide.c. The first non-zero byte of buf, or NULL. */
const unsigned char *format_first_nonzero(const unsigned char *buf, size_t len);
/* The image holds data (what, for reasons; article "a" or "an"): to be
 * converted (j->convert, 0), or refused when conversion is off (-1,
 * ended). */
int format_data_found(struct job *j, const char *article, const char *what);
/* No header yet: may we write one? From j's size, offset, probe and state
 * (requested: the event's size, 0 by hand); sets j->payload,
 * j->check_from, j->resume_in_header and, on data where the header goes,
 * j->convert. 0 yes, as far as these tell (the allocated extents are
 * checked later); -1 decided (ended). */
int format_decide_blank_image(struct job *j, uint64_t requested);

/* format_key.c. The passphrase: the volume's key looked up, or, from a
 * provider that makes keys and has none for this volume yet, a new one
 * whose record *ret_record holds until keys_store (*ret_new). A negative
 * errno when the job has ended. */
int format_get_passphrase(struct job *j, struct secret **ret, struct keys_record *ret_record,
                          bool *ret_new);

/* format.c. A job begun: its result failed until it ends otherwise, the
 * image's name made from the volume id, the shared Ceph client acquired
 * (*ret_client, released by the caller). False when there is no client: the
 * job has then ended (failed, transient). */
bool format_job_begin(struct job *j, struct format_context *ctx, const char *volume_id,
                      struct format_result *ret, struct client **ret_client);

/* format_context.c. The shared Ceph client, connected if need be, one
 * more user counted; released after use, retired when retire (a fresh one
 * for the next format). */
int format_client_acquire(struct format_context *ctx, struct client **ret);
void format_client_release(struct format_context *ctx, struct client *client, bool retire);

/* format_convert.c. What format_blank_image made for the volume, handed
 * to the conversion: the passphrase, the key's record (new_key: not stored
 * yet), the header and its UUID. */
struct format_convert_key {
        struct secret *passphrase;
        struct keys_record *record;
        bool new_key;
        const unsigned char *header;
        size_t used;
        const char *uuid;
        const char *where; /* where the image holds data, for reasons */
};
/* The image (j->image, locked) holds data: copy it into a new LUKS image
 * that takes the volume's name once it reads back, or refuse (larger than
 * [volume] max_convert_gib) or fail with the reason; the plain image stays
 * until the end (j->remove_plain then). */
void format_convert(struct job *j, const struct format_convert_key *key);
/* The volume's image does not exist: a conversion interrupted between its
 * two renames is finished. false when there is nothing of one. */
bool format_convert_finish(struct job *j);
/* After the volume's image is closed: remove the plain image a finished
 * conversion left (none: nothing). */
void format_convert_remove_plain(struct job *j);

/* format_inherit.c. This volume's entry in the header map for header uuid,
 * with record (NULL: the image's own, metadata provider); ends the job on
 * an error. */
int format_map_put_own(struct job *j, const char *uuid, const char *record);
/* A complete LUKS header (head: the first len bytes), no format of ours in
 * progress: ours (skipped), another agent volume's (its key re-bound:
 * inherited; or failed with why not), or foreign (skipped). */
void format_decide_finished_header(struct job *j, const unsigned char *head, size_t len,
                                   unsigned version);
/* A deleted volume's header map entry: marked deleted, its record dropped
 * under deleted_keys = shred. */
int format_forget_header(struct format_context *ctx, struct ceph_cluster *cluster,
                         const char *uuid, const char *volume_id);
/* format_restore_targets' search, on a client the caller holds. */
int format_find_restored(struct format_context *ctx, struct ceph_cluster *cluster,
                         const char *source, struct format_restore_targets *ret);
