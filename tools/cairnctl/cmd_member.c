/* member add | remove | update | list | promote */
#include "ctl_json.h"
#include "ctl_kv.h"

#include "common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PEER_URLS_MAX 16

/* --peer-urls "a,b" split in place into urls[]; returns the count (0: none given). */
static size_t split_urls(char *buf, const char **urls)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < PEER_URLS_MAX;
         t = strtok_r(NULL, ",", &save))
        urls[n++] = t;
    return n;
}

static int member_id_arg(struct ctl *c, uint64_t *id)
{
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "member ID is not provided");
    if (ctl_parse_hex_u64(c->p.args[0], id) < 0)
        return ctl_usage_error(c, "bad member ID arg (%s), expecting ID in Hex", c->p.args[0]);
    return CTL_EXIT_OK;
}

static void member_row(const Etcdserverpb__Member *m, const char **cells, char *id, size_t id_len,
                       char *peers, char *clients, size_t urls_len)
{
    snprintf(id, id_len, "%" PRIx64, m->id);
    peers[0] = clients[0] = '\0';
    for (size_t i = 0; i < m->n_peerurls; i++)
        snprintf(peers + strlen(peers), urls_len - strlen(peers), "%s%s", i ? "," : "",
                 m->peerurls[i]);
    for (size_t i = 0; i < m->n_clienturls; i++)
        snprintf(clients + strlen(clients), urls_len - strlen(clients), "%s%s", i ? "," : "",
                 m->clienturls[i]);
    cells[0] = id;
    cells[1] = m->name && m->name[0] ? "started" : "unstarted";
    cells[2] = m->name ? m->name : "";
    cells[3] = peers;
    cells[4] = clients;
    cells[5] = m->islearner ? "true" : "false";
}

static void print_member_list(const struct ctl *c, const Etcdserverpb__MemberListResponse *r)
{
    static const char *const hdr[] = {"ID",         "Status",       "Name",
                                      "Peer Addrs", "Client Addrs", "Is Learner"};
    struct ctl_table *t = c->format == CTL_TABLE ? ctl_table_new(hdr, 6) : NULL;
    if (c->format == CTL_FIELDS)
        out_hdr_fields(r->header);
    for (size_t i = 0; i < r->n_members; i++) {
        const Etcdserverpb__Member *m = r->members[i];
        if (c->format == CTL_FIELDS) {
            printf("\"ID\" : %" PRIu64 "\n", m->id);
            size_t qlen = strlen(m->name ? m->name : "") * 10 + 3;
            char *q = malloc(qlen > 1024 ? qlen : 1024);
            CAIRN_ASSERT(q != NULL);
            printf("\"Name\" : %s\n", ctl_go_quote((const uint8_t *)(m->name ? m->name : ""),
                                                   strlen(m->name ? m->name : ""), q, qlen));
            for (size_t k = 0; k < m->n_peerurls; k++)
                printf("\"PeerURL\" : %s\n", ctl_go_quote((const uint8_t *)m->peerurls[k],
                                                          strlen(m->peerurls[k]), q, 1024));
            for (size_t k = 0; k < m->n_clienturls; k++)
                printf("\"ClientURL\" : %s\n", ctl_go_quote((const uint8_t *)m->clienturls[k],
                                                            strlen(m->clienturls[k]), q, 1024));
            printf("\"IsLearner\" : %s\n\n", m->islearner ? "true" : "false");
            free(q);
            continue;
        }
        const char *cells[6];
        char id[24], peers[2048], clients[2048];
        member_row(m, cells, id, sizeof(id), peers, clients, sizeof(peers));
        if (t)
            ctl_table_add(t, cells);
        else
            printf("%s, %s, %s, %s, %s, %s\n", cells[0], cells[1], cells[2], cells[3], cells[4],
                   cells[5]);
    }
    if (t) {
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
}

int cmd_member_list(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "member list command does not accept arguments");
    struct cairn_client_status st;
    Etcdserverpb__MemberListResponse *r = NULL;
    int rc = cairn_client_member_list(ctl_client(c), &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON)
        cj_print(stdout, cj_members(r->header, NULL, r->members, r->n_members));
    else
        print_member_list(c, r);
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

int cmd_member_add(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE || c->format == CTL_FIELDS)
        return ctl_format_unsupported(c);
    if (c->p.n_args < 1)
        return ctl_usage_error(c, "member name not provided");
    if (c->p.n_args > 1)
        return ctl_usage_error(c, "too many arguments");
    const char *name = c->p.args[0];
    char urlbuf[4096];
    snprintf(urlbuf, sizeof(urlbuf), "%s", ctl_flag_str(&c->p, "peer-urls"));
    const char *urls[PEER_URLS_MAX];
    size_t n = split_urls(urlbuf, urls);
    if (n == 0)
        return ctl_usage_error(c, "member peer urls not provided");
    struct cairn_client_status st;
    Etcdserverpb__MemberAddResponse *r = NULL;
    cairn_client *cl = ctl_client(c);
    int rc = cairn_client_member_add(cl, urls, n, ctl_flag_bool(&c->p, "learner"), &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON) {
        cj_print(stdout, cj_members(r->header, r->member, r->members, r->n_members));
        cairn_client_free(r);
        return CTL_EXIT_OK;
    }
    uint64_t new_id = r->member ? r->member->id : 0;
    printf("Member %16" PRIx64 " added to cluster %16" PRIx64 "\n", new_id,
           r->header ? r->header->cluster_id : 0);
    cairn_client_free(r);
    /* the environment the new member starts with, from the current member list */
    Etcdserverpb__MemberListResponse *ml = NULL;
    rc = cairn_client_member_list(cl, &ml, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    /* Go's %q of each value, as etcdctl prints them */
    char conf[8192] = "", peers[4096] = "", q[16384];
    for (size_t i = 0; i < ml->n_members; i++) {
        const Etcdserverpb__Member *m = ml->members[i];
        for (size_t k = 0; k < m->n_peerurls; k++)
            snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf), "%s%s=%s",
                     conf[0] ? "," : "", m->id == new_id ? name : (m->name ? m->name : ""),
                     m->peerurls[k]);
    }
    for (size_t i = 0; i < n; i++)
        snprintf(peers + strlen(peers), sizeof(peers) - strlen(peers), "%s%s", i ? "," : "",
                 urls[i]);
    printf("\nETCD_NAME=%s\n", ctl_go_quote((const uint8_t *)name, strlen(name), q, sizeof(q)));
    printf("ETCD_INITIAL_CLUSTER=%s\n",
           ctl_go_quote((const uint8_t *)conf, strlen(conf), q, sizeof(q)));
    printf("ETCD_INITIAL_ADVERTISE_PEER_URLS=%s\n",
           ctl_go_quote((const uint8_t *)peers, strlen(peers), q, sizeof(q)));
    printf("ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n");
    cairn_client_free(ml);
    return CTL_EXIT_OK;
}

int cmd_member_remove(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE || c->format == CTL_FIELDS)
        return ctl_format_unsupported(c);
    uint64_t id;
    int rc = member_id_arg(c, &id);
    if (rc != CTL_EXIT_OK)
        return rc;
    struct cairn_client_status st;
    Etcdserverpb__MemberRemoveResponse *r = NULL;
    rc = cairn_client_member_remove(ctl_client(c), id, &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON)
        cj_print(stdout, cj_members(r->header, NULL, r->members, r->n_members));
    else
        printf("Member %16" PRIx64 " removed from cluster %16" PRIx64 "\n", id,
               r->header ? r->header->cluster_id : 0);
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

int cmd_member_update(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE || c->format == CTL_FIELDS)
        return ctl_format_unsupported(c);
    uint64_t id;
    int rc = member_id_arg(c, &id);
    if (rc != CTL_EXIT_OK)
        return rc;
    char urlbuf[4096];
    snprintf(urlbuf, sizeof(urlbuf), "%s", ctl_flag_str(&c->p, "peer-urls"));
    const char *urls[PEER_URLS_MAX];
    size_t n = split_urls(urlbuf, urls);
    if (n == 0)
        return ctl_usage_error(c, "member peer urls not provided");
    struct cairn_client_status st;
    Etcdserverpb__MemberUpdateResponse *r = NULL;
    rc = cairn_client_member_update(ctl_client(c), id, urls, n, &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON)
        cj_print(stdout, cj_members(r->header, NULL, r->members, r->n_members));
    else
        printf("Member %16" PRIx64 " updated in cluster %16" PRIx64 "\n", id,
               r->header ? r->header->cluster_id : 0);
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

int cmd_member_promote(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE || c->format == CTL_FIELDS)
        return ctl_format_unsupported(c);
    uint64_t id;
    int rc = member_id_arg(c, &id);
    if (rc != CTL_EXIT_OK)
        return rc;
    struct cairn_client_status st;
    Etcdserverpb__MemberPromoteResponse *r = NULL;
    rc = cairn_client_member_promote(ctl_client(c), id, &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON)
        cj_print(stdout, cj_members(r->header, NULL, r->members, r->n_members));
    else
        printf("Member %16" PRIx64 " promoted in cluster %16" PRIx64 "\n", id,
               r->header ? r->header->cluster_id : 0);
    cairn_client_free(r);
    return CTL_EXIT_OK;
}
