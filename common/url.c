/* URL parsing for flags such as --listen-client-urls and client --endpoints. */
#include "url.h"

#include "common.h"

#include <stdio.h>
#include <string.h>

static int has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncmp(s, prefix, n) == 0;
}

int cairn_url_parse(const char *s, size_t len, struct cairn_url *out)
{
    memset(out, 0, sizeof(*out));
    if (has_prefix(s, len, "https://")) {
        out->tls = 1;
        s += 8, len -= 8;
    } else if (has_prefix(s, len, "http://")) {
        s += 7, len -= 7;
    } else if (memchr(s, '/', len) != NULL) {
        return CAIRN_EINVAL; /* some other scheme, or a path without a host */
    }
    if (len > 0 && s[len - 1] == '/')
        len--;

    const char *host = s;
    size_t host_len;
    const char *rest;
    if (len > 0 && s[0] == '[') { /* [v6]:port */
        const char *close = memchr(s, ']', len);
        if (!close)
            return CAIRN_EINVAL;
        host = s + 1;
        host_len = (size_t)(close - host);
        rest = close + 1;
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon)
            return CAIRN_EINVAL;
        host_len = (size_t)(colon - s);
        rest = colon;
    }
    size_t rest_len = len - (size_t)(rest - s);
    if (host_len == 0 || host_len >= CAIRN_URL_HOST_MAX || rest_len < 2 || rest[0] != ':')
        return CAIRN_EINVAL;

    unsigned long port = 0;
    for (size_t i = 1; i < rest_len; i++) {
        if (rest[i] < '0' || rest[i] > '9' || i > 5)
            return CAIRN_EINVAL;
        port = port * 10 + (unsigned long)(rest[i] - '0');
    }
    if (port == 0 || port > 65535)
        return CAIRN_EINVAL;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    out->port = (uint16_t)port;
    return 0;
}

int cairn_url_list_parse(const char *s, struct cairn_url *out, size_t max, size_t *n_out)
{
    size_t n = 0;
    *n_out = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (n == max)
            return CAIRN_ELIMIT;
        int rc = cairn_url_parse(s, len, &out[n]);
        if (rc < 0)
            return rc;
        n++;
        if (!comma)
            break;
        s = comma + 1;
    }
    *n_out = n;
    return 0;
}

int cairn_url_hostport(const struct cairn_url *u, char *buf, size_t buf_len)
{
    int v6 = strchr(u->host, ':') != NULL;
    int n = snprintf(buf, buf_len, v6 ? "[%s]:%u" : "%s:%u", u->host, (unsigned)u->port);
    return (n < 0 || (size_t)n >= buf_len) ? CAIRN_ELIMIT : 0;
}
