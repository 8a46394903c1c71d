/* The protobuf-c allocator view of an arena: decode a request into it, free it by reset. */
#include "alloc_int.h"

static void *pb_alloc(void *data, size_t size)
{
    return alloc_arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    /* everything goes at the next reset; protobuf-c calls this from
     * protobuf_c_message_free_unpacked and when an unpack fails half-way */
    (void)data;
    (void)ptr;
}

void alloc_arena_pb_init(struct alloc_arena *arena)
{
    CAIRN_ASSERT(arena != NULL);
    arena->pb.alloc = pb_alloc;
    arena->pb.free = pb_free;
    arena->pb.allocator_data = arena;
    CAIRN_ASSERT(arena->pb.allocator_data == arena);
}

struct ProtobufCAllocator *alloc_arena_protobuf(struct alloc_arena *arena)
{
    CAIRN_ASSERT(arena != NULL);
    CAIRN_ASSERT(arena->pb.allocator_data == arena);
    return &arena->pb;
}
