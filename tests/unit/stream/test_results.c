/* Unit tests for results: records read back with json-c, invalid UTF-8,
 * concurrent writers and a write that runs out of room. */
#include "stream/results.h"
#include "../unit.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RECORDS 1000

/* The file's lines, each parsed with UTF-8 validation; a line that is not
 * a JSON object leaves a NULL. Returns the number of lines. */
static size_t read_records(const char *dir, const char *name, json_object **records,
                           size_t max)
{
        char path[PATH_MAX], *line = NULL;
        size_t size = 0, count = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (count < max && getline(&line, &size, f) > 0) {
                json_tokener *tok = json_tokener_new();
                size_t length = strlen(line);

                json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
                records[count] = NULL;
                if (length > 0 && line[length - 1] == '\n')
                        records[count] = json_tokener_parse_ex(tok, line, (int)length - 1);
                if (records[count] && (json_tokener_get_error(tok) != json_tokener_success ||
                                       !json_object_is_type(records[count], json_type_object))) {
                        json_object_put(records[count]);
                        records[count] = NULL;
                }
                json_tokener_free(tok);
                count++;
        }
        free(line);
        fclose(f);
        return count;
}

static void free_records(json_object **records, size_t count)
{
        for (size_t i = 0; i < count; i++)
                json_object_put(records[i]);
}

static const char *string_field(json_object *obj, const char *key)
{
        json_object *v;

        if (!obj || !json_object_object_get_ex(obj, key, &v) ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static bool null_field(json_object *obj, const char *key)
{
        json_object *v;

        return obj && json_object_object_get_ex(obj, key, &v) && v == NULL;
}

static int64_t int_field(json_object *obj, const char *key)
{
        json_object *v;

        if (!obj || !json_object_object_get_ex(obj, key, &v) ||
            !json_object_is_type(v, json_type_int))
                return -1;
        return json_object_get_int64(v);
}

static bool looks_like_time(const char *s)
{
        /* 2026-11-25T21:00:00.123Z */
        static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";

        if (!s || strlen(s) != sizeof(pattern) - 1)
                return false;
        for (size_t i = 0; pattern[i]; i++)
                if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
                        return false;
        return true;
}

TEST(results_outcome_names)
{
        CHECK(strcmp(outcome_to_string(OUTCOME_FORMATTED), "formatted") == 0);
        CHECK(strcmp(outcome_to_string(OUTCOME_SKIPPED), "skipped") == 0);
        CHECK(strcmp(outcome_to_string(OUTCOME_REFUSED), "refused") == 0);
        CHECK(strcmp(outcome_to_string(OUTCOME_FAILED), "failed") == 0);
}

TEST(results_records_parse_back)
{
        char dir[512], path[PATH_MAX];
        json_object *rec[4];
        struct results *r;
        struct stat st;
        size_t n;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(results_open(dir, &r) == 0);
        CHECK(results_append(r, "0b6f2e4c-3e5a-4d2b-9a7e-1f0c2d3e4f5a", "volume.create.end",
                             "m-1", OUTCOME_FORMATTED, "LUKS2 \"aes-xts\" done\n", 1234) == 0);
        CHECK(results_append(r, NULL, "volume.delete.end", NULL, OUTCOME_SKIPPED,
                             "not a create", 0) == 0);
        results_close(r);
        results_close(NULL);

        snprintf(path, sizeof(path), "%s/results.jsonl", dir);
        REQUIRE(stat(path, &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        n = read_records(dir, "results.jsonl", rec, 4);
        REQUIRE(n == 2);
        CHECK(looks_like_time(string_field(rec[0], "time")));
        CHECK(strcmp(string_field(rec[0], "volume_id") ?: "",
                     "0b6f2e4c-3e5a-4d2b-9a7e-1f0c2d3e4f5a") == 0);
        CHECK(strcmp(string_field(rec[0], "event_type") ?: "", "volume.create.end") == 0);
        CHECK(strcmp(string_field(rec[0], "message_id") ?: "", "m-1") == 0);
        CHECK(strcmp(string_field(rec[0], "outcome") ?: "", "formatted") == 0);
        CHECK(strcmp(string_field(rec[0], "reason") ?: "", "LUKS2 \"aes-xts\" done\n") == 0);
        CHECK(int_field(rec[0], "ms") == 1234);
        CHECK(null_field(rec[1], "volume_id") && null_field(rec[1], "message_id"));
        CHECK(strcmp(string_field(rec[1], "outcome") ?: "", "skipped") == 0);
        CHECK(int_field(rec[1], "ms") == 0);
        free_records(rec, n);
        CHECK(read_records(dir, "rejects.jsonl", rec, 4) == 0);
}

TEST(results_reject_record)
{
        char dir[512];
        json_object *rec[4], *v;
        struct results *r;
        size_t n;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(results_open(dir, &r) == 0);
        CHECK(results_reject(r, "/var/lib/hook", 7, 512, 5, "not JSON", "hello", 5) == 0);
        CHECK(results_reject(r, "/var/lib/hook", 8, 518, 100000, "line too long", "abc", 3) ==
              0);
        results_close(r);
        n = read_records(dir, "rejects.jsonl", rec, 4);
        REQUIRE(n == 2);
        CHECK(looks_like_time(string_field(rec[0], "time")));
        CHECK(strcmp(string_field(rec[0], "hook_file") ?: "", "/var/lib/hook") == 0);
        CHECK(int_field(rec[0], "line") == 7 && int_field(rec[0], "offset") == 512);
        CHECK(int_field(rec[0], "length") == 5);
        CHECK(strcmp(string_field(rec[0], "reason") ?: "", "not JSON") == 0);
        CHECK(strcmp(string_field(rec[0], "data") ?: "", "hello") == 0);
        CHECK(json_object_object_get_ex(rec[0], "truncated", &v) && !json_object_get_boolean(v));
        CHECK(int_field(rec[1], "length") == 100000);
        CHECK(strcmp(string_field(rec[1], "data") ?: "", "abc") == 0);
        CHECK(json_object_object_get_ex(rec[1], "truncated", &v) && json_object_get_boolean(v));
        free_records(rec, n);
}

/* Decided: every byte that is not part of a well-formed UTF-8 sequence
 * becomes U+FFFD; NUL and control bytes are escaped by json-c. */
TEST(results_reject_invalid_utf8_is_valid_json)
{
        static const char data[] = "ok\xff|\xc3(|\xed\xa0\x80|\xc0\xaf|\xe2\x82|"
                                   "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x01\0|\xf4\x90\x80\x80";
        static const char want[] = "ok\xef\xbf\xbd|\xef\xbf\xbd(|"
                                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x01\0|"
                                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
        char dir[512];
        json_object *rec[2], *v;
        struct results *r;
        size_t n;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(results_open(dir, &r) == 0);
        CHECK(results_reject(r, "hook\xff", 1, 0, sizeof(data) - 1, "bad \xc3", data,
                             sizeof(data) - 1) == 0);
        results_close(r);
        n = read_records(dir, "rejects.jsonl", rec, 2);
        REQUIRE(n == 1);
        REQUIRE(rec[0] != NULL);
        REQUIRE(json_object_object_get_ex(rec[0], "data", &v));
        CHECK(json_object_get_string_len(v) == (int)sizeof(want) - 1);
        CHECK(memcmp(json_object_get_string(v), want, sizeof(want) - 1) == 0);
        CHECK(strcmp(string_field(rec[0], "hook_file") ?: "", "hook\xef\xbf\xbd") == 0);
        CHECK(strcmp(string_field(rec[0], "reason") ?: "", "bad \xef\xbf\xbd") == 0);
        CHECK(json_object_object_get_ex(rec[0], "truncated", &v) && !json_object_get_boolean(v));
        free_records(rec, n);
}

TEST(results_reject_data_is_bounded)
{
        size_t big = RESULTS_REJECT_DATA_MAX + 1000;
        char dir[512], *data;
        json_object *rec[2], *v;
        struct results *r;
        size_t n;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        data = malloc(big);
        REQUIRE(data);
        memset(data, 'q', big);
        REQUIRE(results_open(dir, &r) == 0);
        CHECK(results_reject(r, "hook", 1, 0, big, "too long", data, big) == 0);
        results_close(r);
        free(data);
        n = read_records(dir, "rejects.jsonl", rec, 2);
        REQUIRE(n == 1);
        CHECK(json_object_object_get_ex(rec[0], "data", &v) &&
              json_object_get_string_len(v) == RESULTS_REJECT_DATA_MAX);
        CHECK(json_object_object_get_ex(rec[0], "truncated", &v) && json_object_get_boolean(v));
        free_records(rec, n);
}

#define THREADS 4
#define PER_THREAD 200

struct writer {
        struct results *results;
        unsigned id;
        int failures;
};

static void *write_many(void *arg)
{
        struct writer *w = arg;
        char volume[64], reason[64];

        for (unsigned i = 0; i < PER_THREAD; i++) {
                snprintf(volume, sizeof(volume), "%u-%u", w->id, i);
                /* Long enough that interleaved writes would show. */
                snprintf(reason, sizeof(reason), "%040u", i);
                if (results_append(w->results, volume, "volume.create.end", "m",
                                   OUTCOME_FORMATTED, reason, i) < 0)
                        w->failures++;
        }
        return NULL;
}

TEST(results_concurrent_appends_stay_whole)
{
        static json_object *rec[MAX_RECORDS];
        static bool seen[THREADS][PER_THREAD];
        struct writer writers[THREADS];
        pthread_t threads[THREADS];
        char dir[512];
        struct results *r;
        size_t n, good = 0;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        REQUIRE(results_open(dir, &r) == 0);
        for (unsigned t = 0; t < THREADS; t++) {
                writers[t] = (struct writer){r, t, 0};
                REQUIRE(pthread_create(&threads[t], NULL, write_many, &writers[t]) == 0);
        }
        for (unsigned t = 0; t < THREADS; t++) {
                pthread_join(threads[t], NULL);
                CHECK(writers[t].failures == 0);
        }
        results_close(r);
        n = read_records(dir, "results.jsonl", rec, MAX_RECORDS);
        CHECK(n == THREADS * PER_THREAD);
        for (size_t i = 0; i < n; i++) {
                const char *volume = string_field(rec[i], "volume_id");
                unsigned t, k;

                if (!volume || sscanf(volume, "%u-%u", &t, &k) != 2 || t >= THREADS ||
                    k >= PER_THREAD || seen[t][k] || int_field(rec[i], "ms") != k)
                        continue;
                seen[t][k] = true;
                good++;
        }
        CHECK(good == THREADS * PER_THREAD);
        free_records(rec, n);
}

/* A record that does not fit (RLIMIT_FSIZE stands in for a full disk)
 * returns the errno and leaves no half line behind. */
TEST(results_failed_write_leaves_no_half_line)
{
        char dir[512], path[PATH_MAX];
        struct rlimit saved, small;
        json_object *rec[4];
        void (*previous)(int);
        struct results *r;
        struct stat before, after;
        int e;
        size_t n;

        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        snprintf(path, sizeof(path), "%s/results.jsonl", dir);
        REQUIRE(results_open(dir, &r) == 0);
        CHECK(results_append(r, "v1", "volume.create.end", "m", OUTCOME_FAILED, "x", 1) == 0);
        REQUIRE(stat(path, &before) == 0);
        REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
        small = saved;
        small.rlim_cur = (rlim_t)before.st_size + 20;
        previous = signal(SIGXFSZ, SIG_IGN);
        REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
        e = results_append(r, "v2", "volume.create.end", "m", OUTCOME_FAILED, "y", 2);
        setrlimit(RLIMIT_FSIZE, &saved);
        signal(SIGXFSZ, previous);
        CHECK(e == -EFBIG);
        REQUIRE(stat(path, &after) == 0);
        CHECK(after.st_size == before.st_size);
        CHECK(results_append(r, "v3", "volume.create.end", "m", OUTCOME_FAILED, "z", 3) == 0);
        results_close(r);
        n = read_records(dir, "results.jsonl", rec, 4);
        CHECK(n == 2);
        CHECK(n == 2 && rec[0] && rec[1]);
        CHECK(n == 2 && strcmp(string_field(rec[1], "volume_id") ?: "", "v3") == 0);
        free_records(rec, n);
}

TEST(results_open_missing_directory)
{
        char dir[512];
        struct results *r = NULL;

        snprintf(dir, sizeof(dir), "%s/missing", unit_tmpdir());
        CHECK(results_open(dir, &r) == -ENOENT);
        CHECK(r == NULL);
}

TEST(outcome_counts_count_each_outcome_apart)
{
        struct outcome_counts c = {0};

        outcome_counts_add(&c, OUTCOME_FORMATTED);
        outcome_counts_add(&c, OUTCOME_FORMATTED);
        outcome_counts_add(&c, OUTCOME_FAILED);
        outcome_counts_add(&c, OUTCOME_CONVERTED);
        outcome_counts_add(&c, (enum outcome)OUTCOME_COUNT);
        outcome_counts_add(&c, (enum outcome)-1);
        CHECK(c.n[OUTCOME_FORMATTED] == 2);
        CHECK(c.n[OUTCOME_FAILED] == 1);
        CHECK(c.n[OUTCOME_CONVERTED] == 1);
        CHECK(c.n[OUTCOME_SKIPPED] == 0);
        /* Every outcome has a counter: the last in range has a name, the
         * first past it none. */
        CHECK(strcmp(outcome_to_string((enum outcome)(OUTCOME_COUNT - 1)), "unknown") != 0);
        CHECK(strcmp(outcome_to_string((enum outcome)OUTCOME_COUNT), "unknown") == 0);
}
