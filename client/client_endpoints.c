/* Endpoint selection and failover order for the client. */
#include "client.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

int client_endpoints_resolve(struct client_endpoints *e, const char *flag_value)
{
    memset(e, 0, sizeof(*e));
    const char *src = flag_value;
    if (!src || !*src)
        src = getenv("CAIRNCTL_ENDPOINTS");
    if (!src || !*src)
        src = getenv("ETCDCTL_ENDPOINTS");
    if (!src || !*src)
        src = CLIENT_DEFAULT_ENDPOINT;
    return cairn_url_list_parse(src, e->url, CLIENT_ENDPOINTS_MAX, &e->n);
}

int client_endpoints_failover(struct client_endpoints *e, size_t first)
{
    CAIRN_ASSERT(e->n > 0 && e->current < e->n && first < e->n);
    size_t next = (e->current + 1) % e->n;
    if (next == first)
        return 0;
    e->current = next;
    return 1;
}
