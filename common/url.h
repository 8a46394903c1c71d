/*
 * url.h — the URL forms etcd flags and clients use ("http://127.0.0.1:2379",
 * "127.0.0.1:2379", "unix://path" is not supported yet), parsed without allocation.
 */
#ifndef CAIRN_URL_H
#define CAIRN_URL_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_URL_HOST_MAX 256

struct cairn_url {
    int tls;                       /* 1 for https://, 0 for http:// or no scheme */
    char host[CAIRN_URL_HOST_MAX]; /* without brackets for IPv6 literals */
    uint16_t port;
};

/*
 * cairn_url_parse — parse one URL of length len (need not be NUL-terminated).
 * Accepts [http://|https://]host:port[/]. Returns 0, or CAIRN_EINVAL when the scheme is
 * unknown, the host is empty or too long, or the port is missing or not in 1..65535.
 */
int cairn_url_parse(const char *s, size_t len, struct cairn_url *out);

/*
 * cairn_url_list_parse — parse a comma-separated list into out[0..max). Empty items
 * are errors. *n_out gets the count. Returns 0, CAIRN_EINVAL, or CAIRN_ELIMIT when the
 * list has more than max items.
 */
int cairn_url_list_parse(const char *s, struct cairn_url *out, size_t max, size_t *n_out);

/* cairn_url_hostport — "host:port" ("[::1]:2379" for IPv6) into buf; CAIRN_ELIMIT if short. */
int cairn_url_hostport(const struct cairn_url *u, char *buf, size_t buf_len);

#endif /* CAIRN_URL_H */
