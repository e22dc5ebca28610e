/* config: loads and validates the agent's INI file (see config.h).
 *
 * inih splits lines into sections and key = value pairs. Everything else is
 * here: line numbers and the line-length limit live in our reader (this inih
 * build gives the handler no line number), one table describes every key,
 * and a final pass checks what spans several keys. Problems are kept with
 * their line number and handed back in line order so an operator can fix the
 * file top to bottom. This file holds that core, the problem list, the key
 * table and the checks across keys of the sections [agent], [ceph],
 * [volume], [keys], [luks] and [retry]; the value parsers the table names
 * are in config_values.c, [compute] and [secret:NAME] in config_secrets.c,
 * [amqp] in config_amqp.c, and the checks of what the file points at on
 * disk in config_environment.c. Which sections a role
 * allows is checked at the end. Functions return 0 or a negative errno;
 * nothing here logs. Not thread-safe: inih's options are process globals. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "luks/luks.h" /* LUKS_PBKDF2_MIN_ITERATIONS; declarations only */

/* A config file is a page or two; this only stops /dev/zero and the like. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define MAX_WORKERS 64
#define MAX_URI 512
#define MAX_HOST 255           /* event.h's EVENT_HOST_MAX less the NUL */
#define MAX_USAGE_NAME 127     /* secrets.h's VIRT_USAGE_ID_MAX less the NUL */
#define MAX_ENTITY 100
/* AMQP 0-9-1 short strings hold 255 bytes; names are at most 127 by the spec. */
#define MAX_AMQP_HOST 255
#define MAX_AMQP_TEXT 255
#define MAX_AMQP_NAME 127
#define SYNTAX_ERROR "syntax error (expected [section] or key = value)"

static const char *const section_names[N_SECTIONS] = {
        "agent", "ceph", "volume", "compute", "keys", "luks", "retry", "amqp", "secret"};


#define FIELD(f) offsetof(struct config, f)
#define REQUIRED true
#define OPTIONAL false
#define KEY(s, name, parser, f, req) {SECTION_##s, name, parser, FIELD(f), 0, 0, req, NULL}
#define NAME(s, name, parser, f, len, req) \
        {SECTION_##s, name, parser, FIELD(f), 0, len, req, NULL}
#define NUMBER(s, name, f, lo, hi) \
        {SECTION_##s, name, config_parse_unsigned, FIELD(f), lo, hi, false, NULL}
#define SECRET(name, parser, f, len, req) \
        {SECTION_SECRET, name, parser, offsetof(struct config_secret, f), 0, len, req, NULL}

/* Every key the file may hold; indexed by enum key_id for the checks that
 * look at several keys. */
const struct key_def config_keys[N_KEYS] = {
        [KEY_ROLE] = KEY(AGENT, "role", config_parse_role, role, REQUIRED),
        [KEY_HOOK_FILE] = KEY(AGENT, "hook_file", config_parse_path, hook_file, REQUIRED),
        [KEY_STATE_DIR] = KEY(AGENT, "state_dir", config_parse_path, state_dir, REQUIRED),
        [KEY_LOG_LEVEL] = KEY(AGENT, "log_level", config_parse_log_level, log_level, OPTIONAL),
        [KEY_LOG_FORMAT] = KEY(AGENT, "log_format", config_parse_log_format, log_format, OPTIONAL),
        [KEY_WORKERS] = NUMBER(AGENT, "workers", workers, 0, MAX_WORKERS),
        [KEY_MAX_LINE_BYTES] = {SECTION_AGENT, "max_line_bytes", config_parse_size,
                                FIELD(max_line_bytes), 4096, 16777216, OPTIONAL, NULL},
        [KEY_MAX_JSON_DEPTH] = NUMBER(AGENT, "max_json_depth", max_json_depth, 4, 256),
        [KEY_MAX_PENDING] = NUMBER(AGENT, "max_pending", max_pending, 1, 65536),
        [KEY_POLL_INTERVAL_MS] = NUMBER(AGENT, "poll_interval_ms", poll_interval_ms, 10, 60000),
        [KEY_HEALTH_INTERVAL] = NUMBER(AGENT, "health_interval", health_interval_s, 1, 3600),
        [KEY_LOG_FILE] = KEY(AGENT, "log_file", config_parse_path, log_file, OPTIONAL),

        [KEY_CEPH_CONF] = KEY(CEPH, "conf", config_parse_path, ceph_conf, REQUIRED),
        [KEY_CEPH_CLIENT] = NAME(CEPH, "client", config_parse_client, ceph_client, 64, REQUIRED),
        [KEY_CEPH_KEYRING] = KEY(CEPH, "keyring", config_parse_path, ceph_keyring, OPTIONAL),
        [KEY_POOL] = NAME(CEPH, "pool", config_parse_name, pool, 100, REQUIRED),
        [KEY_IMAGE_PREFIX] = NAME(CEPH, "image_prefix", config_parse_name, image_prefix, 64,
                                  OPTIONAL),
        [KEY_CEPH_TIMEOUT_S] = NUMBER(CEPH, "timeout_s", ceph_timeout_s, 1, 3600),

        [KEY_TYPES] = KEY(VOLUME, "types", config_parse_types, types, REQUIRED),
        [KEY_BACKENDS] = KEY(VOLUME, "backends", config_parse_backends, backends, OPTIONAL),
        [KEY_LOCK_STALE_AFTER_S] = NUMBER(VOLUME, "lock_stale_after_s", lock_stale_after_s, 10,
                                          86400),
        [KEY_DELETED_KEYS] = KEY(VOLUME, "deleted_keys", config_parse_deleted_keys,
                                 shred_deleted_keys, OPTIONAL),
        [KEY_MAX_CONVERT_GIB] = NUMBER(VOLUME, "max_convert_gib", max_convert_gib, 0, 4096),
        [KEY_AUDIT_INTERVAL_S] = NUMBER(VOLUME, "audit_interval_s", audit_interval_s, 0, 86400),

        [KEY_PROVIDER] = KEY(KEYS, "provider", config_parse_provider, key_provider, REQUIRED),
        [KEY_KEY_DIRECTORY] = KEY(KEYS, "directory", config_parse_path, key_directory, OPTIONAL),
        [KEY_KEY_COMMAND] = KEY(KEYS, "command", config_parse_path, key_command, OPTIONAL),
        [KEY_COMMAND_TIMEOUT_MS] = NUMBER(KEYS, "command_timeout_ms", key_command_timeout_ms,
                                          100, 600000),
        [KEY_KEK_ID] = NAME(KEYS, "kek_id", config_parse_name, kek_id, MAX_KEK_ID, OPTIONAL),
        [KEY_KEK_FILE] = KEY(KEYS, "kek_file", config_parse_path, kek_file, OPTIONAL),
        [KEY_OLD_KEKS] = KEY(KEYS, "old_keks", config_parse_old_keks, old_kek_ids, OPTIONAL),

        [KEY_CIPHER] = KEY(LUKS, "cipher", config_parse_cipher, cipher, OPTIONAL),
        [KEY_KEY_BITS] = NUMBER(LUKS, "key_bits", key_bits, 128, 512),
        [KEY_HASH] = KEY(LUKS, "hash", config_parse_hash, hash, OPTIONAL),
        [KEY_ITER_TIME_MS] = NUMBER(LUKS, "iter_time_ms", iter_time_ms, 1, 60000),
        [KEY_ITERATIONS] = NUMBER(LUKS, "iterations", iterations, LUKS_PBKDF2_MIN_ITERATIONS,
                                  100000000),
        [KEY_KDF] = KEY(LUKS, "kdf", config_parse_kdf, kdf_fast, OPTIONAL),
        [KEY_KEYSLOT_WRITER] = KEY(LUKS, "keyslot_writer", config_parse_keyslot_writer,
                                   keyslot_by_libcryptsetup, OPTIONAL),

        [KEY_RETRY_INITIAL_MS] = NUMBER(RETRY, "initial_ms", retry_initial_ms, 10, 600000),
        [KEY_RETRY_MAX_MS] = NUMBER(RETRY, "max_ms", retry_max_ms, 10, 3600000),
        [KEY_RETRY_GIVE_UP_S] = NUMBER(RETRY, "give_up_after_s", retry_give_up_s, 1, 604800),

        [KEY_URI] = NAME(COMPUTE, "uri", config_compute_parse_uri, libvirt_uri, MAX_URI, OPTIONAL),
        [KEY_HOST] = NAME(COMPUTE, "host", config_compute_parse_host, compute_host, MAX_HOST,
                          OPTIONAL),
        [KEY_COMPUTE_TYPES] = KEY(COMPUTE, "types", config_parse_types, types, OPTIONAL),
        [KEY_COMPUTE_PRIVATE] = KEY(COMPUTE, "private", config_parse_bool, compute_private, OPTIONAL),
        [KEY_RECONCILE_INTERVAL_S] = NUMBER(COMPUTE, "reconcile_interval_s",
                                            reconcile_interval_s, 10, 86400),
        [KEY_GC_INTERVAL_S] = {SECTION_COMPUTE, "gc_interval_s", config_compute_parse_gc_interval,
                               FIELD(gc_interval_s), 0, 604800, OPTIONAL,
                               "0 (never) or 60..604800"},
        [KEY_GC_GRACE_S] = NUMBER(COMPUTE, "gc_grace_s", gc_grace_s, 0, 604800),
        [KEY_COMPUTE_BACKENDS] = KEY(COMPUTE, "backends", config_parse_backends, backends,
                                     OPTIONAL),
        [KEY_ZONES] = KEY(COMPUTE, "availability_zones", config_parse_zones, zones, OPTIONAL),
        [KEY_ON_RAW_DISK] = KEY(COMPUTE, "on_raw_disk", config_parse_on_raw_disk,
                                raw_disk_alert_only, OPTIONAL),
        [KEY_SASL_USER] = NAME(COMPUTE, "sasl_user", config_amqp_parse_text, libvirt_sasl_user,
                               MAX_AMQP_TEXT, OPTIONAL),
        [KEY_SASL_PASSWORD_FILE] = KEY(COMPUTE, "sasl_password_file", config_parse_path,
                                       libvirt_sasl_password_file, OPTIONAL),

        [KEY_AMQP_HOST] = NAME(AMQP, "host", config_amqp_parse_host, amqp_host, MAX_AMQP_HOST,
                               OPTIONAL),
        [KEY_AMQP_PORT] = NUMBER(AMQP, "port", amqp_port, 1, 65535),
        [KEY_AMQP_VHOST] = NAME(AMQP, "vhost", config_amqp_parse_text, amqp_vhost, MAX_AMQP_TEXT,
                                OPTIONAL),
        [KEY_AMQP_USER] = NAME(AMQP, "user", config_amqp_parse_text, amqp_user, MAX_AMQP_TEXT,
                               OPTIONAL),
        [KEY_AMQP_PASSWORD_FILE] = KEY(AMQP, "password_file", config_parse_path, amqp_password_file,
                                       OPTIONAL),
        [KEY_AMQP_EXCHANGE] = NAME(AMQP, "exchange", config_parse_name, amqp_exchange,
                                   MAX_AMQP_NAME, OPTIONAL),
        [KEY_AMQP_QUEUE] = NAME(AMQP, "queue", config_amqp_parse_queue, amqp_queue, MAX_AMQP_NAME,
                                OPTIONAL),
        [KEY_AMQP_ROUTING_KEYS] = KEY(AMQP, "routing_keys", config_amqp_parse_routing_keys,
                                      amqp_routing_keys, OPTIONAL),
        [KEY_AMQP_PREFETCH] = NUMBER(AMQP, "prefetch", amqp_prefetch, 1, 65535),
        [KEY_AMQP_HEARTBEAT_S] = {SECTION_AMQP, "heartbeat_s", config_parse_unsigned,
                                  FIELD(amqp_heartbeat_s), 0, 600, OPTIONAL,
                                  "0 (no heartbeats) or 1..600"},
        [KEY_AMQP_BATCH_MAX] = NUMBER(AMQP, "batch_max", amqp_batch_max, 1, 4096),
        [KEY_AMQP_BATCH_MS] = NUMBER(AMQP, "batch_ms", amqp_batch_ms, 0, 1000),
        [KEY_AMQP_TLS] = KEY(AMQP, "tls", config_parse_bool, amqp_tls, OPTIONAL),
        [KEY_AMQP_TLS_CA_FILE] = KEY(AMQP, "tls_ca_file", config_parse_path, amqp_tls_ca_file,
                                     OPTIONAL),
        [KEY_AMQP_TLS_VERIFY] = KEY(AMQP, "tls_verify", config_parse_bool, amqp_tls_verify, OPTIONAL),

        [KEY_SECRET_UUID] = SECRET("uuid", config_secrets_parse_uuid, uuid, 0, REQUIRED),
        [KEY_SECRET_USAGE] = SECRET("usage", config_secrets_parse_usage, usage, 0, REQUIRED),
        [KEY_SECRET_USAGE_NAME] = SECRET("usage_name", config_secrets_parse_usage_name, usage_id,
                                         MAX_USAGE_NAME, OPTIONAL),
        [KEY_SECRET_VOLUME] = SECRET("volume", config_secrets_parse_uuid, usage_id, 0, OPTIONAL),
        [KEY_SECRET_KEYRING] = SECRET("keyring", config_parse_path, keyring, 0, OPTIONAL),
        [KEY_SECRET_ENTITY] = SECRET("entity", config_secrets_parse_entity, entity, MAX_ENTITY,
                                     OPTIONAL),
        [KEY_SECRET_KEY_FILE] = SECRET("key_file", config_parse_path, key_file, 0, OPTIONAL),
        [KEY_SECRET_PRIVATE] = SECRET("private", config_parse_bool, private_value, 0, OPTIONAL),
};

/* Which provider each provider-specific key belongs to; the others refuse it. */
static const struct {
        enum key_id key;
        enum key_provider_kind provider;
        bool required;
} provider_keys[] = {
        {KEY_KEY_DIRECTORY, KEY_PROVIDER_FILE, true},
        {KEY_KEY_COMMAND, KEY_PROVIDER_COMMAND, true},
        {KEY_COMMAND_TIMEOUT_MS, KEY_PROVIDER_COMMAND, false},
        {KEY_KEK_ID, KEY_PROVIDER_METADATA, true},
        {KEY_KEK_FILE, KEY_PROVIDER_METADATA, true},
        {KEY_OLD_KEKS, KEY_PROVIDER_METADATA, false},
};

/* ---- problems ---------------------------------------------------------- */

/* Keeps the list sorted by line (stable); when full, the latest lines go. */
static void problem_insert(struct load *l, unsigned line, char *text)
{
        struct config_problems *p = l->problems;
        size_t first = l->first_problem, i;

        if (p->count == CONFIG_MAX_PROBLEMS) {
                p->dropped++;
                if (p->count == first || l->problem_lines[p->count - 1 - first] <= line) {
                        free(text);
                        return;
                }
                free(p->lines[--p->count]);
        }
        for (i = p->count; i > first && l->problem_lines[i - 1 - first] > line; i--) {
                p->lines[i] = p->lines[i - 1];
                l->problem_lines[i - first] = l->problem_lines[i - 1 - first];
        }
        p->lines[i] = text;
        l->problem_lines[i - first] = line;
        p->count++;
}

static void problem_v(struct load *l, unsigned line, const char *fmt, va_list ap)
{
        char *msg, *text;

        l->n_problems++;
        if (vasprintf(&msg, fmt, ap) < 0) {
                l->error = -ENOMEM;
                return;
        }
        if (asprintf(&text, "%s:%u: %s", l->path, line, msg) < 0)
                l->error = -ENOMEM;
        else
                problem_insert(l, line, text);
        free(msg);
}

__attribute__((format(printf, 3, 4))) void config_problem(struct load *l, unsigned line,
                                                          const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        problem_v(l, line, fmt, ap);
        va_end(ap);
}

static bool has_problem_at(const struct load *l, unsigned line)
{
        for (size_t i = l->first_problem; i < l->problems->count; i++)
                if (l->problem_lines[i - l->first_problem] == line)
                        return true;
        return false;
}

/* Where key k was seen and whether it was bad: once per file, or for a
 * secret key in the current [secret:NAME]. */
static unsigned *line_of(struct load *l, const struct key_def *k)
{
        size_t id = (size_t)(k - config_keys);

        if (k->section == SECTION_SECRET)
                return &l->secret_keys[l->config->n_secrets - 1].lines[id - KEY_SECRET_FIRST];
        return &l->key_lines[id];
}

static bool *bad_of(struct load *l, const struct key_def *k)
{
        size_t id = (size_t)(k - config_keys);

        if (k->section == SECTION_SECRET)
                return &l->secret_keys[l->config->n_secrets - 1].bad[id - KEY_SECRET_FIRST];
        return &l->key_bad[id];
}

/* "key = 'value': why" at the current line; returns -EINVAL for the parser. */
__attribute__((format(printf, 4, 5))) int config_bad_value(struct load *l,
                                                           const struct key_def *k,
                                                           const char *value, const char *fmt,
                                                           ...)
{
        char *why;
        va_list ap;
        int r;

        *bad_of(l, k) = true;
        va_start(ap, fmt);
        r = vasprintf(&why, fmt, ap);
        va_end(ap);
        if (r < 0) {
                l->error = -ENOMEM;
                return -ENOMEM;
        }
        config_problem(l, l->lineno, "%s = '%s': %s", k->name, value, why);
        free(why);
        return -EINVAL;
}

/* ---- reading lines ---------------------------------------------------- */

/* A line that inih should see as key = value got no handler call: inih
 * rejected it. Checked per line because inih only returns the first one. */
static void finish_line(struct load *l)
{
        if (l->expect_handler && !l->handled)
                config_problem(l, l->lineno, SYNTAX_ERROR);
        l->expect_handler = false;
        l->handled = false;
}

static void enter_section(struct load *l, const char *name, size_t n)
{
        size_t prefix = strlen(SECRET_PREFIX);

        if (n >= prefix && memcmp(name, SECRET_PREFIX, prefix) == 0) {
                config_secrets_enter(l, name + prefix, n - prefix);
                return;
        }
        for (int s = 0; s < SECTION_SECRET; s++) {
                if (strlen(section_names[s]) != n || memcmp(section_names[s], name, n) != 0)
                        continue;
                l->section = s;
                snprintf(l->section_label, sizeof(l->section_label), "%s", section_names[s]);
                if (l->section_lines[s])
                        config_problem(l, l->lineno, "duplicate section [%s] (first at line %u)",
                                       section_names[s], l->section_lines[s]);
                else
                        l->section_lines[s] = l->lineno;
                return;
        }
        l->section = SECTION_UNKNOWN;
        config_problem(
                l, l->lineno,
                "unknown section [%.*s] (known: agent, ceph, volume, compute, keys, luks, retry, "
                "amqp, secret:NAME)",
                (int)n, name);
}

/* Tracks sections the way inih parses them: the name ends at ']' unless an
 * inline comment (" ;") comes first, which inih calls a syntax error. */
static void classify_line(struct load *l, const char *line)
{
        const char *p = line, *end;
        bool was_space = false;

        if (l->lineno == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
                p += 3;
        p += strspn(p, " \t\r\n\v\f");
        if (*p == '\0' || *p == ';' || *p == '#')
                return;
        if (*p != '[') {
                l->expect_handler = true;
                return;
        }
        for (end = p + 1; *end && *end != ']' && !(was_space && *end == ';'); end++)
                was_space = strchr(" \t\r\n\v\f", *end) != NULL;
        if (*end != ']') {
                l->expect_handler = true;
                return;
        }
        enter_section(l, p + 1, (size_t)(end - p - 1));
}

/* Reads one line like fgets, but knows its true length and whether it held a
 * NUL byte (fgets hides both). The rest of a line too long for buf is read
 * and dropped. Returns 1 for a line, 0 at end of file, -EFBIG past the file
 * limit. */
static int read_raw_line(struct load *l, char *buf, size_t size, size_t *ret_len,
                         bool *ret_nul)
{
        size_t stored = 0, len = 0;
        bool nul = false, any = false;
        int c, prev = 0;

        while ((c = getc(l->file)) != EOF) {
                if (++l->bytes > CONFIG_MAX_FILE_BYTES)
                        return -EFBIG;
                any = true;
                if (stored + 1 < size)
                        buf[stored++] = (char)c;
                if (c == '\n')
                        break;
                nul |= c == '\0';
                prev = c;
                len++;
        }
        if (c == EOF && ferror(l->file))
                l->read_errno = errno;
        buf[stored] = '\0';
        *ret_len = len - (prev == '\r'); /* a CRLF file is fine */
        *ret_nul = nul;
        return any;
}

static char *read_line(char *buf, int size, void *stream)
{
        struct load *l = stream;
        size_t len;
        bool nul;
        int r;

        finish_line(l);
        r = read_raw_line(l, buf, (size_t)size, &len, &nul);
        if (r <= 0) {
                if (r < 0)
                        l->read_errno = -r;
                return NULL;
        }
        l->lineno++;
        if (len > CONFIG_MAX_LINE || nul) {
                /* inih gets a blank line instead, so its count stays ours. */
                if (nul)
                        config_problem(l, l->lineno, "line contains a NUL byte");
                else
                        config_problem(l, l->lineno, "line longer than %d bytes", CONFIG_MAX_LINE);
                strcpy(buf, "\n");
                return buf;
        }
        classify_line(l, buf);
        return buf;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
        struct load *l = user;

        (void)section; /* inih cuts it at 49 bytes; classify_line has it whole */
        l->handled = true;
        if (l->section == SECTION_UNKNOWN)
                return 1; /* reported once, at the header */
        if (l->section == SECTION_NONE) {
                config_problem(l, l->lineno, "key '%s' is outside any section", name);
                return 1;
        }
        for (int i = 0; i < N_KEYS; i++) {
                unsigned *line;

                if ((int)config_keys[i].section != l->section ||
                    strcmp(config_keys[i].name, name) != 0)
                        continue;
                line = line_of(l, &config_keys[i]);
                if (*line) {
                        config_problem(l, l->lineno,
                                       "duplicate key '%s' in [%s] (first set at line %u)", name,
                                       l->section_label, *line);
                        return 1;
                }
                *line = l->lineno;
                config_keys[i].parse(l, &config_keys[i], value);
                return 1;
        }
        config_problem(l, l->lineno, "unknown key '%s' in [%s]", name, l->section_label);
        return 1; /* problems are ours to report; inih's return is for syntax */
}

/* Set every inih option this file relies on, whatever their defaults. */
static void configure_inih(void)
{
        static char start_comments[] = ";#";
        static char inline_comments[] = ";";

        /* Room for CONFIG_MAX_LINE bytes, "\r\n" and the NUL; read_line
         * measures longer lines itself. */
        ini_max_line = CONFIG_MAX_LINE + 3;
        ini_use_stack = true;
        ini_allow_realloc = false;
        /* An indented line continuing the previous value is easy to write by
         * accident and hard to see; make it an error. */
        ini_allow_multiline = false;
        ini_allow_inline_comments = true;
        ini_inline_comment_prefixes = inline_comments;
        ini_start_comment_prefixes = start_comments;
        ini_allow_no_value = false;
        ini_stop_on_first_error = false;
        ini_allow_bom = true;
}

static int parse_file(struct load *l)
{
        int r;

        configure_inih();
        r = ini_parse_stream(read_line, l, on_key, l);
        finish_line(l);
        if (l->read_errno == EFBIG) {
                config_problem(l, l->lineno, "file is longer than %d bytes", CONFIG_MAX_FILE_BYTES);
                return -EFBIG;
        }
        if (l->read_errno) {
                config_problem(l, l->lineno, "cannot read: %s", strerror(l->read_errno));
                return -l->read_errno;
        }
        if (r < 0)
                return -ENOMEM; /* only a heap-buffer inih build fails so */
        if (r > 0 && !has_problem_at(l, (unsigned)r))
                config_problem(l, (unsigned)r, SYNTAX_ERROR);
        return 0;
}

/* ---- checks across keys ------------------------------------------------ */

static bool role_known(const struct load *l)
{
        return l->key_lines[KEY_ROLE] && !l->key_bad[KEY_ROLE];
}

/* The role a section belongs to, or -1 when every role uses it. */
static int section_role(int s)
{
        switch (s) {
        case SECTION_VOLUME:
                return ROLE_VOLUME;
        case SECTION_COMPUTE:
        case SECTION_SECRET:
                return ROLE_COMPUTE;
        default:
                return -1;
        }
}

/* A section of another role (or of a role not known) is reported once at
 * its header; what it lacks or holds beyond single values is not. */
bool config_section_in_role(const struct load *l, int s)
{
        int role = section_role(s);

        return role < 0 || (role_known(l) && role == (int)l->config->role);
}

static void check_roles(struct load *l)
{
        const struct config *c = l->config;

        if (!role_known(l))
                return;
        for (int s = 0; s < SECTION_SECRET; s++)
                if (l->section_lines[s] && !config_section_in_role(l, s))
                        config_problem(l, l->section_lines[s], "[%s] is only used by role = %s",
                                       section_names[s], config_role_name((enum agent_role)section_role(s)));
        if (config_section_in_role(l, SECTION_SECRET))
                return;
        for (size_t i = 0; i < c->n_secrets; i++)
                config_problem(l, c->secrets[i].line,
                               "[" SECRET_PREFIX "%s] is only used by role = compute",
                               c->secrets[i].name);
}

/* [secret:NAME] keys are checked per section by config_secrets_check(). */
static void check_required(struct load *l)
{
        for (int s = 0; s < SECTION_SECRET; s++) {
                char list[200] = "";

                if (!config_section_in_role(l, s))
                        continue;
                for (int i = 0; i < N_KEYS; i++) {
                        if ((int)config_keys[i].section != s || !config_keys[i].required)
                                continue;
                        if (l->section_lines[s] && !l->key_lines[i])
                                config_problem(l, l->section_lines[s],
                                               "missing required key '%s' in [%s]",
                                               config_keys[i].name, section_names[s]);
                        if (!l->section_lines[s])
                                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                         list[0] ? ", " : "", config_keys[i].name);
                }
                if (!l->section_lines[s] && list[0])
                        config_problem(l, 0, "missing section [%s] (required: %s)",
                                       section_names[s], list);
        }
}

/* Two KEKs under one id would make a record's "kek" field ambiguous. */
static void check_old_kek_ids(struct load *l)
{
        const struct config *c = l->config;

        if (!c->kek_id || l->key_bad[KEY_KEK_ID] || l->key_bad[KEY_OLD_KEKS])
                return;
        for (size_t i = 0; i < c->n_old_keks; i++) {
                if (strcmp(c->old_kek_ids[i], c->kek_id) != 0)
                        continue;
                config_problem(
                        l, l->key_lines[KEY_OLD_KEKS],
                        "old_keks: KEK id '%s' is already kek_id (each KEK needs an id of its "
                        "own)",
                        c->kek_id);
                l->key_bad[KEY_OLD_KEKS] = true;
        }
}

static void check_provider(struct load *l)
{
        enum key_provider_kind kind = l->config->key_provider;

        if (!l->key_lines[KEY_PROVIDER] || l->key_bad[KEY_PROVIDER])
                return;
        for (size_t i = 0; i < sizeof(provider_keys) / sizeof(provider_keys[0]); i++) {
                enum key_id id = provider_keys[i].key;
                const char *owner = config_key_provider_name(provider_keys[i].provider);

                if (provider_keys[i].provider != kind) {
                        if (l->key_lines[id]) {
                                config_problem(l, l->key_lines[id],
                                               "%s is only used by provider = %s",
                                               config_keys[id].name, owner);
                                l->key_bad[id] = true;
                        }
                } else if (provider_keys[i].required && !l->key_lines[id]) {
                        config_problem(l, l->section_lines[SECTION_KEYS],
                                       "missing key '%s' in [keys] (required by provider = %s)",
                                       config_keys[id].name, owner);
                }
        }
        if (kind == KEY_PROVIDER_METADATA)
                check_old_kek_ids(l);
}

/* XTS splits the key in two halves, so it takes double the AES key size. */
static void check_key_bits(struct load *l)
{
        struct config *c = l->config;
        bool xts = strcmp(c->cipher_mode, "xts-plain64") == 0;
        unsigned b = c->key_bits;

        if (l->key_bad[KEY_CIPHER] || l->key_bad[KEY_KEY_BITS])
                return;
        if (!l->key_lines[KEY_KEY_BITS]) {
                c->key_bits = xts ? 512 : 256;
                return;
        }
        if (xts ? (b == 256 || b == 512) : (b == 128 || b == 192 || b == 256))
                return;
        config_problem(l, l->key_lines[KEY_KEY_BITS], "key_bits = '%u': %s-%s takes %s", b,
                       c->cipher, c->cipher_mode, xts ? "256 or 512" : "128, 192 or 256");
}

/* No kdf line: fast for the metadata provider, whose keys are 256 random
 * bits the agent made itself (stretching them slows nothing an attacker
 * could do, and costs about iter_time_ms on every attach and guest start),
 * unless iter_time_ms or iterations asks for a count; standard for keys
 * from files or commands, which may be weaker. */
static void default_kdf(struct load *l)
{
        if (l->key_lines[KEY_KDF] || l->key_lines[KEY_ITER_TIME_MS] ||
            l->key_lines[KEY_ITERATIONS])
                return;
        l->config->kdf_fast = l->config->key_provider == KEY_PROVIDER_METADATA;
}

static void check_luks(struct load *l)
{
        unsigned time_line = l->key_lines[KEY_ITER_TIME_MS];
        unsigned count_line = l->key_lines[KEY_ITERATIONS];

        default_kdf(l);

        if (l->config->kdf_fast && (time_line || count_line)) {
                config_problem(
                        l, time_line ? time_line : count_line,
                        "kdf = fast sets the iteration count itself (the minimum, %u); remove %s",
                        LUKS_PBKDF2_MIN_ITERATIONS, time_line ? "iter_time_ms" : "iterations");
        } else if (l->config->kdf_fast) {
                l->config->iter_time_ms = 0;
                l->config->iterations = LUKS_PBKDF2_MIN_ITERATIONS;
        } else if (time_line && count_line) {
                config_problem(l, time_line > count_line ? time_line : count_line,
                               "iter_time_ms and iterations are mutually exclusive (set only one)");
        } else if (count_line) {
                l->config->iter_time_ms = 0; /* iterations stays 0 otherwise: calibrated later */
        }
        check_key_bits(l);
}

static void check_retry(struct load *l)
{
        const struct config *c = l->config;

        if (l->key_bad[KEY_RETRY_INITIAL_MS] || l->key_bad[KEY_RETRY_MAX_MS] ||
            c->retry_max_ms >= c->retry_initial_ms)
                return;
        if (l->key_lines[KEY_RETRY_MAX_MS])
                config_problem(l, l->key_lines[KEY_RETRY_MAX_MS],
                               "max_ms = '%u': must not be less than initial_ms (%u)",
                               c->retry_max_ms, c->retry_initial_ms);
        else
                config_problem(l, l->key_lines[KEY_RETRY_INITIAL_MS],
                               "initial_ms = '%u': must not be more than max_ms (%u)",
                               c->retry_initial_ms, c->retry_max_ms);
}

/* ---- load ---------------------------------------------------------------- */

static int config_new(const char *path, struct config **ret)
{
        struct config *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        *c = (struct config){
                .role = ROLE_VOLUME,
                .log_level = LOG_LEVEL_INFO,
                .log_format = LOG_FORMAT_TEXT,
                .max_line_bytes = 1048576,
                .max_json_depth = 32,
                .max_pending = 1024,
                .poll_interval_ms = 1000,
                .health_interval_s = 10,
                .ceph_timeout_s = 30,
                .lock_stale_after_s = 600,
                .max_convert_gib = 64,
                .audit_interval_s = 600,
                .compute_private = true,
                .reconcile_interval_s = 300,
                .gc_interval_s = 3600,
                .gc_grace_s = 3600,
                .key_provider = KEY_PROVIDER_FILE,
                .key_command_timeout_ms = 10000,
                .key_bits = 512,
                .iter_time_ms = 2000,
                .retry_initial_ms = 1000,
                .retry_max_ms = 60000,
                .retry_give_up_s = 3600,
                .amqp_port = 5672,
                .amqp_prefetch = 256,
                .amqp_heartbeat_s = 30,
                .amqp_batch_max = 64,
                .amqp_batch_ms = 20,
                .amqp_tls_verify = true,
        };
        c->path = strdup(path);
        c->image_prefix = strdup("volume-");
        c->cipher = strdup("aes");
        c->cipher_mode = strdup("xts-plain64");
        c->hash = strdup("sha256");
        c->libvirt_uri = strdup("qemu:///system");
        c->amqp_host = strdup("127.0.0.1");
        c->amqp_vhost = strdup("/");
        c->amqp_exchange = strdup("openstack");
        c->amqp_queue = strdup("rbd-luks-agent");
        c->amqp_routing_keys[0] = strdup("notifications_luks.info");
        c->n_amqp_routing_keys = 1;
        if (!c->path || !c->image_prefix || !c->cipher || !c->cipher_mode || !c->hash ||
            !c->libvirt_uri || !c->amqp_host || !c->amqp_vhost || !c->amqp_exchange ||
            !c->amqp_queue || !c->amqp_routing_keys[0]) {
                config_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static unsigned resolve_workers(unsigned workers)
{
        long cpus;

        if (workers > 0)
                return workers;
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus < 1)
                return 1;
        return cpus > MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus;
}

static int load_file(struct load *l, enum load_mode mode)
{
        int r;

        l->file = fopen(l->path, "re");
        if (!l->file) {
                r = -errno;
                config_problem(l, 0, "cannot read: %s", strerror(-r));
                return r;
        }
        r = parse_file(l);
        if (r < 0)
                return r;
        check_roles(l);
        check_required(l);
        config_compute_check(l);
        config_secrets_check(l);
        check_provider(l);
        check_luks(l);
        check_retry(l);
        config_amqp_check(l);
        if (mode == LOAD_FEED || (mode == LOAD_ALL && l->section_lines[SECTION_AMQP]))
                config_amqp_check_feed(l);
        if (mode != LOAD_FILE)
                config_check_environment(l, mode);
        return 0;
}

static int config_load_mode(const char *path, enum load_mode mode, struct config **ret,
                            struct config_problems *problems)
{
        struct load l = {.path = path, .problems = problems, .section = SECTION_NONE};
        int r;

        l.first_problem = problems->count;
        r = config_new(path, &l.config);
        if (r < 0) {
                config_problem(&l, 0, "out of memory");
                return r;
        }
        r = load_file(&l, mode);
        if (r == 0 && l.error)
                r = l.error;
        if (r == -ENOMEM)
                config_problem(&l, 0, "out of memory");
        if (r == 0 && l.n_problems > 0)
                r = -EINVAL;
        if (r == 0) {
                l.config->workers = resolve_workers(l.config->workers);
                *ret = l.config;
                l.config = NULL;
        }
        if (l.file)
                fclose(l.file);
        config_free(l.config);
        return r;
}

int config_load(const char *path, bool check_env, struct config **ret,
                struct config_problems *problems)
{
        return config_load_mode(path, check_env ? LOAD_ENVIRONMENT : LOAD_FILE, ret, problems);
}

int config_load_feed(const char *path, struct config **ret, struct config_problems *problems)
{
        return config_load_mode(path, LOAD_FEED, ret, problems);
}

int config_load_all(const char *path, struct config **ret, struct config_problems *problems)
{
        return config_load_mode(path, LOAD_ALL, ret, problems);
}

void config_free(struct config *c)
{
        if (!c)
                return;
        free(c->path);
        free(c->hook_file);
        free(c->log_file);
        free(c->state_dir);
        free(c->ceph_conf);
        free(c->ceph_client);
        free(c->ceph_keyring);
        free(c->pool);
        free(c->image_prefix);
        for (size_t i = 0; i < c->n_types; i++)
                free(c->types[i]);
        for (size_t i = 0; i < c->n_backends; i++)
                free(c->backends[i]);
        for (size_t i = 0; i < c->n_zones; i++)
                free(c->zones[i]);
        free(c->key_directory);
        free(c->key_command);
        free(c->kek_id);
        free(c->kek_file);
        for (size_t i = 0; i < c->n_old_keks; i++) {
                free(c->old_kek_ids[i]);
                free(c->old_kek_files[i]);
        }
        free(c->cipher);
        free(c->cipher_mode);
        free(c->hash);
        free(c->libvirt_uri);
        free(c->compute_host);
        free(c->libvirt_sasl_user);
        free(c->libvirt_sasl_password_file);
        free(c->amqp_host);
        free(c->amqp_vhost);
        free(c->amqp_user);
        free(c->amqp_password_file);
        free(c->amqp_exchange);
        free(c->amqp_queue);
        config_amqp_clear_routing_keys(c);
        free(c->amqp_tls_ca_file);
        for (size_t i = 0; i < c->n_secrets; i++) {
                struct config_secret *s = &c->secrets[i];

                free(s->name);
                free(s->uuid);
                free(s->usage_id);
                free(s->keyring);
                free(s->entity);
                free(s->key_file);
        }
        free(c);
}

void config_problems_clear(struct config_problems *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->count; i++)
                free(p->lines[i]);
        *p = (struct config_problems){0};
}

bool config_wants_type(const struct config *c, const char *type_id)
{
        if (!c)
                return false;
        if (c->all_types)
                return true;
        if (!type_id)
                return false;
        for (size_t i = 0; i < c->n_types; i++)
                if (strcmp(c->types[i], type_id) == 0)
                        return true;
        return false;
}

bool config_wants_backend(const struct config *c, const char *volume_host)
{
        const char *at, *end;
        size_t n;

        if (!c || c->n_backends == 0)
                return true;
        at = volume_host ? strchr(volume_host, '@') : NULL;
        if (!at)
                return false;
        at++;
        end = strchrnul(at, '#');
        n = (size_t)(end - at);
        for (size_t i = 0; i < c->n_backends; i++)
                if (strlen(c->backends[i]) == n && memcmp(c->backends[i], at, n) == 0)
                        return true;
        return false;
}

bool config_wants_zone(const struct config *c, const char *zone)
{
        if (!c || c->n_zones == 0 || !zone || !zone[0])
                return true;
        for (size_t i = 0; i < c->n_zones; i++)
                if (strcmp(c->zones[i], zone) == 0)
                        return true;
        return false;
}
