/* Unit tests for log.c's log file ([agent] log_file), in a child process so
 * the runner's own log stays on stderr alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "../unit.h"

static char dir[] = "/tmp/rla-unit-log-XXXXXX";

static int file_has(const char *path, const char *text)
{
        char buf[4096];
        FILE *f = fopen(path, "r");
        size_t n;

        if (!f)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        return strstr(buf, text) != NULL;
}

/* Lines go to the file as well, appended after what was there, whole. */
static int lines_appended(void)
{
        char path[128];
        int fd;

        snprintf(path, sizeof(path), "%s/agent.log", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, "before\n", 7) != 7)
                return 1;
        close(fd);
        log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
        if (log_open_file(path) != 0)
                return 2;
        log_info("volume %s formatted", "v-1");
        log_debug("not at info");
        if (!file_has(path, "before\n") || !file_has(path, " info  volume v-1 formatted\n"))
                return 3;
        if (file_has(path, "not at info"))
                return 4;
        return 0;
}

/* A link where the file should be is refused, not followed. */
static int link_refused(void)
{
        char path[128], target[128];

        snprintf(target, sizeof(target), "%s/elsewhere", dir);
        snprintf(path, sizeof(path), "%s/link.log", dir);
        if (symlink(target, path) < 0)
                return 1;
        if (log_open_file(path) != -ELOOP)
                return 2;
        return access(target, F_OK) == 0 ? 3 : 0;
}

/* A new file is created 0644 (umask aside), its missing directory 0755. */
static int created_0640(void)
{
        char path[128];
        struct stat st;

        umask(0);
        snprintf(path, sizeof(path), "%s/service/new.log", dir);
        if (log_open_file(path) != 0 || stat(path, &st) < 0)
                return 1;
        if ((st.st_mode & 07777) != 0644)
                return 2;
        snprintf(path, sizeof(path), "%s/service", dir);
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return 3;
        return (st.st_mode & 07777) == 0755 ? 0 : 4;
}

TEST(log_file_appends_whole_lines)
{
        REQUIRE(mkdtemp(dir) != NULL);
        CHECK(unit_in_child(lines_appended));
        CHECK(unit_in_child(link_refused));
        CHECK(unit_in_child(created_0640));
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
}
