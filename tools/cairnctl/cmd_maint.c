/* compaction, defrag, alarm list | disarm, move-leader */
#include "ctl_json.h"
#include "ctl_kv.h"

#include "common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define EPS_MAX 64

int cmd_compaction(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "compaction command needs 1 argument");
    int64_t rev;
    if (ctl_parse_int64(c->p.args[0], &rev) < 0)
        return ctl_usage_error(c, "bad revision \"%s\"", c->p.args[0]);
    Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    req.revision = rev;
    req.physical = ctl_flag_bool(&c->p, "physical");
    struct cairn_client_status st;
    Etcdserverpb__CompactionResponse *r = NULL;
    int rc = cairn_client_compact(ctl_client(c), &req, &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    cairn_client_free(r);
    printf("compacted revision %" PRId64 "\n", rev);
    return CTL_EXIT_OK;
}

int cmd_defrag(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "defrag command does not accept arguments");
    char *eps[EPS_MAX];
    size_t n;
    int rc = ctl_endpoints(c, ctl_flag_bool(&c->p, "cluster"), eps, EPS_MAX, &n);
    if (rc != CTL_EXIT_OK)
        return rc;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        cairn_client *cl = NULL;
        if (ctl_client_for(c, eps[i], &cl) != CTL_EXIT_OK) {
            failed = 1;
            continue;
        }
        struct cairn_client_status st;
        Etcdserverpb__DefragmentResponse *r = NULL;
        int crc = cairn_client_defragment(cl, &r, &st);
        if (crc < 0) {
            fprintf(stderr, "Failed to defragment etcd member[%s] (%s)\n", eps[i],
                    ctl_status_text(crc, &st));
            failed = 1;
        } else {
            printf("Finished defragmenting etcd member[%s]\n", eps[i]);
        }
        cairn_client_free(r);
        cairn_client_close(cl);
    }
    ctl_endpoints_free(eps, n);
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

static const char *alarm_name(Etcdserverpb__AlarmType t)
{
    return t == ETCDSERVERPB__ALARM_TYPE__NOSPACE   ? "NOSPACE"
           : t == ETCDSERVERPB__ALARM_TYPE__CORRUPT ? "CORRUPT"
                                                    : "NONE";
}

static void print_alarms(const struct ctl *c, const Etcdserverpb__AlarmResponse *r)
{
    if (c->format == CTL_JSON) {
        cj_print(stdout, cj_alarm(r));
        return;
    }
    if (c->format == CTL_FIELDS)
        out_hdr_fields(r->header);
    for (size_t i = 0; i < r->n_alarms; i++) {
        const Etcdserverpb__AlarmMember *a = r->alarms[i];
        if (c->format == CTL_FIELDS)
            printf("\"MemberID\" : %" PRIu64 "\n\"AlarmType\" : %s\n\n", a->memberid,
                   alarm_name(a->alarm));
        else /* Go's %+v of the gogoproto struct: its compact text form */
            printf("memberID:%" PRIu64 " alarm:%s \n", a->memberid, alarm_name(a->alarm));
    }
}

int cmd_alarm_list(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "alarm list command accepts no arguments");
    Etcdserverpb__AlarmRequest req = ETCDSERVERPB__ALARM_REQUEST__INIT;
    req.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
    struct cairn_client_status st;
    Etcdserverpb__AlarmResponse *r = NULL;
    int rc = cairn_client_alarm(ctl_client(c), &req, &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    print_alarms(c, r);
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

int cmd_alarm_disarm(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "alarm disarm command accepts no arguments");
    cairn_client *cl = ctl_client(c);
    Etcdserverpb__AlarmRequest req = ETCDSERVERPB__ALARM_REQUEST__INIT;
    req.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
    struct cairn_client_status st;
    Etcdserverpb__AlarmResponse *list = NULL;
    int rc = cairn_client_alarm(cl, &req, &list, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    /* clientv3's AlarmDisarm: deactivate each listed alarm and report what came back (the
     * combined response has no header) */
    Etcdserverpb__AlarmResponse out = ETCDSERVERPB__ALARM_RESPONSE__INIT;
    Etcdserverpb__AlarmResponse *resps[64];
    Etcdserverpb__AlarmMember *members[256];
    size_t n_resps = 0;
    out.alarms = members;
    for (size_t i = 0; i < list->n_alarms && i < CAIRN_ARRAY_LEN(resps) && rc >= 0; i++) {
        req.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
        req.memberid = list->alarms[i]->memberid;
        req.alarm = list->alarms[i]->alarm;
        rc = cairn_client_alarm(cl, &req, &resps[n_resps], &st);
        if (rc < 0)
            break;
        for (size_t k = 0; k < resps[n_resps]->n_alarms && out.n_alarms < CAIRN_ARRAY_LEN(members);
             k++)
            members[out.n_alarms++] = resps[n_resps]->alarms[k];
        n_resps++;
    }
    if (rc >= 0)
        print_alarms(c, &out);
    for (size_t i = 0; i < n_resps; i++)
        cairn_client_free(resps[i]);
    cairn_client_free(list);
    return rc < 0 ? ctl_error_status(rc, &st) : CTL_EXIT_OK;
}

int cmd_move_leader(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE || c->format == CTL_FIELDS)
        return ctl_format_unsupported(c);
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "move-leader command needs 1 argument");
    uint64_t target;
    if (ctl_parse_hex_u64(c->p.args[0], &target) < 0)
        return ctl_usage_error(c, "bad member ID \"%s\", expecting ID in Hex", c->p.args[0]);
    char *eps[EPS_MAX];
    size_t n;
    int rc = ctl_endpoints(c, 0, eps, EPS_MAX, &n);
    if (rc != CTL_EXIT_OK)
        return rc;
    /* find the leader among the endpoints: only it can hand leadership over. An endpoint
     * that cannot be reached is passed over, like a failed-over call. */
    cairn_client *leader = NULL;
    uint64_t leader_id = 0;
    struct cairn_client_status st;
    int last_err = 0;
    for (size_t i = 0; i < n && !leader && rc == CTL_EXIT_OK; i++) {
        cairn_client *cl = NULL;
        if (ctl_client_for(c, eps[i], &cl) != CTL_EXIT_OK) {
            rc = CTL_EXIT_ERROR;
            break;
        }
        Etcdserverpb__StatusResponse *s = NULL;
        int crc = cairn_client_server_status(cl, &s, &st);
        if (crc == CAIRN_EUNAVAILABLE) {
            last_err = crc;
        } else if (crc < 0) {
            rc = ctl_error_status(crc, &st);
        } else if (s->header && s->header->member_id == s->leader) {
            leader = cl;
            leader_id = s->leader;
            cl = NULL;
        }
        cairn_client_free(s);
        cairn_client_close(cl);
    }
    if (rc == CTL_EXIT_OK && !leader && last_err) {
        rc = ctl_error_status(last_err, &st);
    } else if (rc == CTL_EXIT_OK && !leader) {
        char list[1024] = "";
        for (size_t i = 0; i < n; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? " " : "",
                     eps[i]);
        rc = ctl_error("no leader endpoint given at [%s]", list);
    }
    if (rc == CTL_EXIT_OK) {
        Etcdserverpb__MoveLeaderResponse *r = NULL;
        int crc = cairn_client_move_leader(leader, target, &r, &st);
        if (crc < 0) {
            rc = ctl_error_status(crc, &st);
        } else if (c->format == CTL_JSON) {
            json_t *o = json_object();
            if (r->header)
                cj_set(o, "header", cj_header(r->header));
            cj_print(stdout, o);
        } else {
            printf("Leadership transferred from %" PRIx64 " to %" PRIx64 "\n", leader_id, target);
        }
        cairn_client_free(r);
    }
    cairn_client_close(leader);
    ctl_endpoints_free(eps, n);
    return rc;
}
