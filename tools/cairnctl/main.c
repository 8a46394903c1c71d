/* cairnctl: parse, dispatch, exit status. */
#include "ctl.h"

#include "common.h"

#include <signal.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    static struct ctl c;
    char err[512];
    int rc = ctl_parse(argc - 1, (const char *const *)(argv + 1), &c.p, err, sizeof(err));
    if (rc != 0)
        return ctl_usage_error(&c, "%s", err);
    if (c.p.help || (!c.p.cmd && !c.p.group)) {
        if (c.p.cmd)
            ctl_help_command(stdout, c.p.cmd);
        else if (c.p.group)
            ctl_help_group(stdout, c.p.group);
        else
            ctl_help_root(stdout);
        return c.p.help || argc == 1 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    if (!c.p.cmd) { /* a group word alone, e.g. "cairnctl lease" */
        ctl_help_group(stderr, c.p.group);
        return CTL_EXIT_USAGE;
    }
    rc = ctl_setup(&c);
    if (rc != CTL_EXIT_OK)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    rc = c.p.cmd->run(&c);
    fflush(stdout);
    cairn_client_close(c.client);
    CAIRN_ASSERT(rc >= 0 && rc <= CTL_EXIT_USAGE);
    return rc;
}
