/* The memory floor of a compute agent: a program linked against the same
 * libraries as rbd-luks-agent (all of them loaded, as the agent's are),
 * connected to RADOS and to libvirt the way the agent is, doing nothing
 * else. bench/compute_invariant.sh runs it beside the agents and reports
 * their memory over it.
 *
 *   rss_floor CEPH_CONF CLIENT LIBVIRT_URI    prints one JSON object:
 *   {"start": {...}, "connected": {...}} with VmRSS, RssAnon, RssFile, VmHWM
 *   in KiB, read from /proc/self/status at main() and once connected. */
#include <rados/librados.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void print_status(const char *name)
{
        static const char *const keys[] = {"VmRSS", "RssAnon", "RssFile", "VmHWM"};
        char line[256];
        FILE *f = fopen("/proc/self/status", "r");
        int printed = 0;

        printf("\"%s\": {", name);
        while (f && fgets(line, sizeof(line), f))
                for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                        size_t n = strlen(keys[i]);
                        long kb;

                        if (strncmp(line, keys[i], n) == 0 && line[n] == ':' &&
                            sscanf(line + n + 1, "%ld", &kb) == 1)
                                printf("%s\"%s\": %ld", printed++ ? ", " : "", keys[i], kb);
                }
        if (f)
                fclose(f);
        printf("}");
}

int main(int argc, char **argv)
{
        char name[128];
        virConnectPtr conn;
        rados_t rados;

        if (argc != 4) {
                fprintf(stderr, "usage: rss_floor CEPH_CONF CLIENT LIBVIRT_URI\n");
                return 2;
        }
        printf("{");
        print_status("start");
        snprintf(name, sizeof(name), "client.%s", argv[2]);
        if (rados_create2(&rados, "ceph", name, 0) < 0 || rados_conf_read_file(rados, argv[1]) < 0 ||
            rados_conf_set(rados, "log_to_stderr", "false") < 0 || rados_connect(rados) < 0) {
                fprintf(stderr, "rss_floor: cannot connect to RADOS\n");
                return 1;
        }
        if (virEventRegisterDefaultImpl() < 0 || !(conn = virConnectOpen(argv[3]))) {
                fprintf(stderr, "rss_floor: cannot connect to libvirt at %s\n", argv[3]);
                return 1;
        }
        sleep(2); /* librados' threads settle */
        printf(", ");
        print_status("connected");
        printf("}\n");
        virConnectClose(conn);
        rados_shutdown(rados);
        return 0;
}
