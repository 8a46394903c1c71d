/*
 * srv_lessor.h — lease expiry bookkeeping on the leader's monotonic clock.
 *
 * The lease records themselves (id, granted TTL, attached keys) live in store/ and are
 * changed only through the raft log. This is the leader's in-memory view of when each
 * lease expires: keep-alives renew it, a new leader resets every lease to a full TTL (as
 * etcd's lessor promotion does, so a leader change never expires a lease early), and
 * expired leases are handed to the node loop, which proposes their revocation.
 *
 * Owns: a hash map id → expiry and a min-heap of expiries (stale heap entries are skipped
 * lazily). Never: reads a clock itself — every call takes now_ms — or touches the store.
 */
#ifndef CAIRN_SRV_LESSOR_H
#define CAIRN_SRV_LESSOR_H

#include <stddef.h>
#include <stdint.h>

struct srv_lessor;

/* max_leases bounds memory: srv_lessor_set refuses new ids past it with CAIRN_ELIMIT. */
int srv_lessor_create(size_t max_leases, struct srv_lessor **out);
void srv_lessor_destroy(struct srv_lessor *l);

/* Grant or renew: the lease expires ttl_s seconds after now_ms. 0 / CAIRN_ELIMIT / NOMEM. */
int srv_lessor_set(struct srv_lessor *l, int64_t id, int64_t ttl_s, uint64_t now_ms);

/* Forget a lease (revoked, or this member stopped leading). No-op if unknown. */
void srv_lessor_remove(struct srv_lessor *l, int64_t id);

/* Remaining TTL in whole seconds (truncated, as etcd reports it), or -1 if unknown. */
int64_t srv_lessor_remaining_s(const struct srv_lessor *l, int64_t id, uint64_t now_ms);

/*
 * Up to max expired lease ids into out[]. Each returned lease is pushed retry_ms into the
 * future so a revocation in flight is not proposed again at every tick; the node removes
 * it when the revocation applies. Returns the count.
 */
size_t srv_lessor_expired(struct srv_lessor *l, uint64_t now_ms, uint64_t retry_ms, int64_t *out,
                          size_t max);

/* 1 if a keep-alive may renew the lease: known, not expired, not being revoked. */
int srv_lessor_renewable(const struct srv_lessor *l, int64_t id, uint64_t now_ms);

/* Number of leases tracked. */
size_t srv_lessor_count(const struct srv_lessor *l);

/* Earliest expiry (ms), or UINT64_MAX when empty: lets the node loop sleep until then. */
uint64_t srv_lessor_next_expiry_ms(struct srv_lessor *l);

#endif /* CAIRN_SRV_LESSOR_H */
