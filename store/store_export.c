/* Every stored revision in (main, sub) order: what etcd's "key" bucket holds, for writing
 * etcd-format (bbolt) snapshots. At or below the compacted revision only what a compaction
 * there keeps is visited, so the export does not depend on store_compact_work's progress. */
#include "store_int.h"

int store_export_revisions(struct store_read *r, store_export_fn fn, void *arg)
{
    CAIRN_ASSERT(r != NULL && fn != NULL);
    CAIRN_ASSERT(r->txn != NULL);
    return store_etcd_walk(r, r->rev, r->compact_rev, fn, arg);
}
