/* config: loads and validates the agent's INI file (see config.h).
 *
 * inih splits lines into sections and key = value pairs. Everything else is
 * here: line numbers and the line-length limit live in our reader (this inih
 * build gives the handler no line number), one table describes every key,
 * and a final pass checks what spans several keys. Problems are kept with
 * their line number and handed back in line order so an operator can fix the
 * file top to bottom. This file holds that core: the lines read, inih,
 * the load and its order of checks. The key table and the defaults are in
 * config_keys.c, the problem list in config_problems.c, the checks across
 * keys of the sections [agent], [ceph], [volume], [keys], [luks] and
 * [retry] in config_checks.c; the value parsers the table names are in
 * config_values.c, [compute] and [secret:NAME] in config_compute.c,
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

#include "config_internal.h"

/* A config file is a page or two; this only stops /dev/zero and the like. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define SYNTAX_ERROR "syntax error (expected [section] or key = value)"
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
                if (strlen(config_section_names[s]) != n ||
                    memcmp(config_section_names[s], name, n) != 0)
                        continue;
                l->section = s;
                snprintf(l->section_label, sizeof(l->section_label), "%s", config_section_names[s]);
                if (l->section_lines[s])
                        config_problem(l, l->lineno, "duplicate section [%s] (first at line %u)",
                                       config_section_names[s], l->section_lines[s]);
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
                line = config_line_of(l, &config_keys[i]);
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
        if (r > 0 && !config_has_problem_at(l, (unsigned)r))
                config_problem(l, (unsigned)r, SYNTAX_ERROR);
        return 0;
}

/* ---- load ---------------------------------------------------------------- */

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
        config_check_roles(l);
        config_check_required(l);
        config_compute_check(l);
        config_secrets_check(l);
        config_check_provider(l);
        config_check_luks(l);
        config_check_retry(l);
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
                l.config->workers = config_resolve_workers(l.config->workers);
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
