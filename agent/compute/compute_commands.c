/* compute_commands: `rbd-luks-agent secrets ...` (role_compute.h): the
 * arguments checked, then one provision, removal, reconcile, gc or list on
 * the compute role's own state, without its loop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "role_compute.h"
#include "compute_internal.h"
#include "base/uuid.h"
#include "runtime/signals.h"
#include "base/log.h"

/* ---- secrets commands -------------------------------------------------- */

const char role_compute_secrets_usage[] =
        "Usage: rbd-luks-agent -c FILE secrets COMMAND   (role = compute)\n"
        "\n"
        "  list                  every libvirt secret (UUID, usage, owner, private,\n"
        "                        created, state: placeholder / value set / foreign), then\n"
        "                        every live volume in scope with none here (missing);\n"
        "                        never values\n"
        "  provision VOLUME_ID   give the volume's secret what the volume index says now\n"
        "                        (the passphrase, or a placeholder)\n"
        "  remove VOLUME_ID      remove it, unless a running domain uses it\n"
        "  reconcile             put every live volume's secret in step with the volume\n"
        "                        index now, and remove those of volumes that are gone\n"
        "  gc [--dry-run]        remove only this agent's secrets of volumes that are gone\n"
        "                        (no index entry, no image) and older than gc_grace_s\n";

static int volume_command(struct compute *cp, enum compute_intent intent, const char *volume_id)
{
        struct compute_action a;

        if (intent == COMPUTE_INTENT_PROVISION)
                compute_provision(cp, volume_id, &a);
        else
                compute_remove(cp, volume_id, true, false, false, &a);
        if (!compute_record(cp,
                            intent == COMPUTE_INTENT_PROVISION ? "manual.provision"
                                                               : "manual.remove",
                            NULL, volume_id, &a, 0))
                return 1;
        printf("%s %s: %s\n", volume_id, outcome_to_string(a.outcome), a.reason);
        return a.outcome == OUTCOME_FAILED ? 1 : 0;
}

static int virt_usage(const char *what)
{
        fprintf(stderr, "rbd-luks-agent secrets: %s\n\n%s", what, role_compute_secrets_usage);
        return 2;
}

static int check_secrets_arguments(int argc, char **argv)
{
        const char *cmd = argv[0];

        if (strcmp(cmd, "list") == 0 || strcmp(cmd, "reconcile") == 0)
                return argc == 1 ? 0 : virt_usage("list and reconcile take no argument");
        if (strcmp(cmd, "gc") == 0)
                return argc == 1 || (argc == 2 && strcmp(argv[1], "--dry-run") == 0)
                               ? 0
                               : virt_usage("gc takes only --dry-run");
        if (strcmp(cmd, "provision") == 0 || strcmp(cmd, "remove") == 0)
                return argc == 2 && uuid_is_valid(argv[1])
                               ? 0
                               : virt_usage("give one VOLUME_ID (a UUID)");
        return virt_usage("unknown secrets command");
}

/* gc: the reconcile's removal half only. */
static int gc_command(struct compute *cp, bool dry_run)
{
        int r = compute_reconcile(cp, false, true, dry_run, true);

        if (r < 0 && r != -EIO)
                log_error("secrets gc: %s", cp->reconcile_problem);
        return r < 0 ? 1 : 0;
}

int role_compute_secrets_command(const struct config *c, int argc, char **argv)
{
        struct compute cp;
        char id[EVENT_ID_MAX];
        int code;

        /* argv[0] is "secrets". */
        if (argc < 2)
                return virt_usage("no secrets command given");
        code = check_secrets_arguments(argc - 1, argv + 1);
        if (code)
                return code;
        if (c->role != ROLE_COMPUTE) {
                log_error("secrets commands need [agent] role = compute");
                return 1;
        }
        signals_install();
        if (compute_init(&cp, c, true) < 0) {
                compute_destroy(&cp);
                return 1;
        }
        if (strcmp(argv[1], "list") == 0) {
                code = compute_list_volumes(&cp);
        } else if (strcmp(argv[1], "gc") == 0) {
                code = gc_command(&cp, argc == 3);
        } else if (strcmp(argv[1], "reconcile") == 0) {
                int r = compute_reconcile(&cp, true, true, false, true);

                if (r < 0)
                        log_error("secrets reconcile: %s", cp.reconcile_problem);
                code = r < 0 ? 1 : 0;
        } else {
                uuid_lower(argv[2], id);
                code = volume_command(&cp,
                                      strcmp(argv[1], "provision") == 0 ? COMPUTE_INTENT_PROVISION
                                                                        : COMPUTE_INTENT_REMOVE,
                                      id);
        }
        compute_destroy(&cp);
        return code;
}
