/*
 * test_proto_encoding.c: pins cairn's protobuf wire format to etcd's.
 *
 * Two kinds of checks:
 *
 * 1. Golden encodings. A few messages are packed with protobuf-c and compared
 *    byte for byte against arrays worked out by hand from the protobuf
 *    encoding rules; then each array is unpacked, its fields are checked and
 *    it is packed again. The rules used in the derivations:
 *      - tag = (field_number << 3) | wire_type, itself written as a varint;
 *        wire type 0 = varint (int64, uint64, uint32, bool, enum),
 *        wire type 2 = length-delimited (bytes, string, sub-message).
 *      - varint: 7 bits per byte, least significant group first, high bit
 *        0x80 set on every byte except the last. int64 is NOT zigzagged.
 *      - proto3 omits fields equal to their default (0, false, "", unset).
 *      - fields are written in field-number order; a oneof member is written
 *        at its own number.
 *
 * 2. Schema pins. For every message, enum and service of the four .proto
 *    files the generated protobuf-c descriptor is rendered as text
 *    ("name=number [repeated ]type[ oneof][ packed]"; enum "NAME=value";
 *    service "Method: Input -> Output") and compared with the expected text.
 *    The etcdserverpb tables were transcribed from the field tables in
 *    ETCD_API.md, not from the .proto files. Changing any field number,
 *    name, type or label in a .proto makes this test fail. (Streaming
 *    shapes are not in protobuf-c descriptors, so they are not pinned here.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "authpb/auth.pb-c.h"
#include "etcdserverpb/rpc.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "mvccpb/kv.pb-c.h"

/* ------------------------------------------------------------------ helpers */

static ProtobufCBinaryData bin(const char *s)
{
    ProtobufCBinaryData b = {strlen(s), (uint8_t *)(uintptr_t)s};
    return b;
}

static void assert_bin(ProtobufCBinaryData got, const char *want)
{
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.data, want, got.len);
}

/* Packs msg and checks both the packed size and every byte against want. */
static void assert_packs_to(const ProtobufCMessage *msg, const uint8_t *want, size_t want_len)
{
    uint8_t buf[256];

    assert_true(want_len <= sizeof(buf));
    assert_int_equal(protobuf_c_message_get_packed_size(msg), want_len);
    assert_int_equal(protobuf_c_message_pack(msg, buf), want_len);
    assert_memory_equal(buf, want, want_len);
}

/* --------------------------------------------------------- golden encodings */

/*
 * mvccpb.KeyValue{key="foo", create_revision=300, mod_revision=301,
 *                 version=2, value="bar", lease=100000}
 */
/* clang-format off */
static const uint8_t kv_bytes[] = {
    /* key=1 bytes: tag 1<<3|2 = 0x0a, len 3, "foo" */
    0x0a, 0x03, 0x66, 0x6f, 0x6f,
    /* create_revision=2 int64: tag 2<<3|0 = 0x10; 300 = 0b10_0101100:
     * low group 0x2c|0x80 = 0xac, then 300>>7 = 0x02 */
    0x10, 0xac, 0x02,
    /* mod_revision=3: tag 3<<3|0 = 0x18; 301 -> 0x2d|0x80 = 0xad, 0x02 */
    0x18, 0xad, 0x02,
    /* version=4: tag 4<<3|0 = 0x20; 2 */
    0x20, 0x02,
    /* value=5 bytes: tag 5<<3|2 = 0x2a, len 3, "bar" */
    0x2a, 0x03, 0x62, 0x61, 0x72,
    /* lease=6: tag 6<<3|0 = 0x30; 100000 = 32 + 13*128 + 6*128^2:
     * 0x20|0x80 = 0xa0, 0x0d|0x80 = 0x8d, 0x06 */
    0x30, 0xa0, 0x8d, 0x06,
};
/* clang-format on */

static void check_kv_fields(const Mvccpb__KeyValue *kv)
{
    assert_bin(kv->key, "foo");
    assert_int_equal(kv->create_revision, 300);
    assert_int_equal(kv->mod_revision, 301);
    assert_int_equal(kv->version, 2);
    assert_bin(kv->value, "bar");
    assert_int_equal(kv->lease, 100000);
}

static void test_key_value(void **state)
{
    (void)state;
    Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
    kv.key = bin("foo");
    kv.create_revision = 300;
    kv.mod_revision = 301;
    kv.version = 2;
    kv.value = bin("bar");
    kv.lease = 100000;
    assert_packs_to(&kv.base, kv_bytes, sizeof(kv_bytes));

    Mvccpb__KeyValue *got = mvccpb__key_value__unpack(NULL, sizeof(kv_bytes), kv_bytes);
    assert_non_null(got);
    check_kv_fields(got);
    assert_packs_to(&got->base, kv_bytes, sizeof(kv_bytes));
    mvccpb__key_value__free_unpacked(got, NULL);
}

/*
 * etcdserverpb.RangeRequest{key="a", range_end="b", limit=10, revision=128,
 *     sort_order=DESCEND, keys_only=true, max_create_revision=200}
 * sort_target, serializable, count_only and the other revision bounds are
 * defaults and therefore absent.
 */
/* clang-format off */
static const uint8_t range_bytes[] = {
    /* key=1 bytes: tag 0x0a, len 1, "a" */
    0x0a, 0x01, 0x61,
    /* range_end=2 bytes: tag 2<<3|2 = 0x12, len 1, "b" */
    0x12, 0x01, 0x62,
    /* limit=3 int64: tag 3<<3|0 = 0x18; 10 */
    0x18, 0x0a,
    /* revision=4 int64: tag 4<<3|0 = 0x20; 128 = 0 + 1*128 -> 0x80, 0x01 */
    0x20, 0x80, 0x01,
    /* sort_order=5 enum: tag 5<<3|0 = 0x28; DESCEND = 2 */
    0x28, 0x02,
    /* keys_only=8 bool: tag 8<<3|0 = 0x40; true = 1 */
    0x40, 0x01,
    /* max_create_revision=13 int64: tag 13<<3|0 = 0x68 (still one byte: 104 < 128);
     * 200 = 72 + 1*128 -> 0x48|0x80 = 0xc8, 0x01 */
    0x68, 0xc8, 0x01,
};
/* clang-format on */

static void test_range_request(void **state)
{
    (void)state;
    Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rr.key = bin("a");
    rr.range_end = bin("b");
    rr.limit = 10;
    rr.revision = 128;
    rr.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
    rr.keys_only = 1;
    rr.max_create_revision = 200;
    assert_packs_to(&rr.base, range_bytes, sizeof(range_bytes));

    Etcdserverpb__RangeRequest *got =
        etcdserverpb__range_request__unpack(NULL, sizeof(range_bytes), range_bytes);
    assert_non_null(got);
    assert_bin(got->key, "a");
    assert_bin(got->range_end, "b");
    assert_int_equal(got->limit, 10);
    assert_int_equal(got->revision, 128);
    assert_int_equal(got->sort_order, ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND);
    assert_int_equal(got->sort_target, ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY);
    assert_false(got->serializable);
    assert_true(got->keys_only);
    assert_false(got->count_only);
    assert_int_equal(got->min_mod_revision, 0);
    assert_int_equal(got->max_mod_revision, 0);
    assert_int_equal(got->min_create_revision, 0);
    assert_int_equal(got->max_create_revision, 200);
    assert_packs_to(&got->base, range_bytes, sizeof(range_bytes));
    etcdserverpb__range_request__free_unpacked(got, NULL);
}

/*
 * etcdserverpb.ResponseHeader{cluster_id=0x8e9e05c52164694d, member_id=10000,
 *                             revision=42, raft_term=7}
 */
/* clang-format off */
static const uint8_t header_bytes[] = {
    /* cluster_id=1 uint64: tag 1<<3|0 = 0x08. The top bit of the value is set,
     * so it needs ceil(64/7) = 10 bytes. 7-bit groups, least significant first:
     * 0x4d 0x52 0x11 0x0b 0x52 0x38 0x01 0x4f 0x0e 0x01
     * (0x8e9e05c52164694d = 0x4d + 0x52<<7 + 0x11<<14 + 0x0b<<21 + 0x52<<28
     *  + 0x38<<35 + 0x01<<42 + 0x4f<<49 + 0x0e<<56 + 0x01<<63);
     * the first nine get 0x80 added. */
    0x08, 0xcd, 0xd2, 0x91, 0x8b, 0xd2, 0xb8, 0x81, 0xcf, 0x8e, 0x01,
    /* member_id=2 uint64: tag 0x10; 10000 = 16 + 78*128 -> 0x10|0x80 = 0x90, 0x4e */
    0x10, 0x90, 0x4e,
    /* revision=3 int64: tag 0x18; 42 = 0x2a */
    0x18, 0x2a,
    /* raft_term=4 uint64: tag 0x20; 7 */
    0x20, 0x07,
};
/* clang-format on */

static void test_response_header(void **state)
{
    (void)state;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    h.cluster_id = UINT64_C(0x8e9e05c52164694d);
    h.member_id = 10000;
    h.revision = 42;
    h.raft_term = 7;
    assert_packs_to(&h.base, header_bytes, sizeof(header_bytes));

    Etcdserverpb__ResponseHeader *got =
        etcdserverpb__response_header__unpack(NULL, sizeof(header_bytes), header_bytes);
    assert_non_null(got);
    assert_true(got->cluster_id == UINT64_C(0x8e9e05c52164694d));
    assert_int_equal(got->member_id, 10000);
    assert_int_equal(got->revision, 42);
    assert_int_equal(got->raft_term, 7);
    assert_packs_to(&got->base, header_bytes, sizeof(header_bytes));
    etcdserverpb__response_header__free_unpacked(got, NULL);
}

/*
 * etcdserverpb.TxnRequest{
 *   compare: [Compare{result=EQUAL, target=VALUE, key="k", value="v", range_end="l"}],
 *   success: [RequestOp{request_put: PutRequest{key="k", value="v2"}}],
 *   failure: [RequestOp{request_range: RangeRequest{key="k"}}]}
 */
/* clang-format off */
static const uint8_t txn_bytes[] = {
    /* compare=1 repeated Compare: tag 1<<3|2 = 0x0a, len 12 (= 2+3+3+4 below) */
    0x0a, 0x0c,
    /*   result=1 EQUAL is 0, the default: absent.
     *   target=2 enum: tag 2<<3|0 = 0x10; VALUE = 3 */
    0x10, 0x03,
    /*   key=3 bytes: tag 3<<3|2 = 0x1a, len 1, "k" */
    0x1a, 0x01, 0x6b,
    /*   value=7 bytes (oneof target_union): tag 7<<3|2 = 0x3a, len 1, "v" */
    0x3a, 0x01, 0x76,
    /*   range_end=64 bytes: tag 64<<3|2 = 514 = 2 + 4*128 -> 0x02|0x80 = 0x82, 0x04
     *   (two tag bytes), len 1, "l" */
    0x82, 0x04, 0x01, 0x6c,
    /* success=2 repeated RequestOp: tag 2<<3|2 = 0x12, len 9 */
    0x12, 0x09,
    /*   request_put=2 PutRequest (oneof request): tag 0x12, len 7 */
    0x12, 0x07,
    /*     key=1 bytes: 0x0a, len 1, "k"; value=2 bytes: 0x12, len 2, "v2" */
    0x0a, 0x01, 0x6b, 0x12, 0x02, 0x76, 0x32,
    /* failure=3 repeated RequestOp: tag 3<<3|2 = 0x1a, len 5 */
    0x1a, 0x05,
    /*   request_range=1 RangeRequest (oneof request): tag 0x0a, len 3 */
    0x0a, 0x03,
    /*     key=1 bytes: 0x0a, len 1, "k" */
    0x0a, 0x01, 0x6b,
};
/* clang-format on */

static void test_txn_request(void **state)
{
    (void)state;
    Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
    cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
    cmp.key = bin("k");
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
    cmp.value = bin("v");
    cmp.range_end = bin("l");

    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    put.key = bin("k");
    put.value = bin("v2");
    Etcdserverpb__RequestOp success_op = ETCDSERVERPB__REQUEST_OP__INIT;
    success_op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    success_op.request_put = &put;

    Etcdserverpb__RangeRequest range = ETCDSERVERPB__RANGE_REQUEST__INIT;
    range.key = bin("k");
    Etcdserverpb__RequestOp failure_op = ETCDSERVERPB__REQUEST_OP__INIT;
    failure_op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    failure_op.request_range = &range;

    Etcdserverpb__Compare *cmps[] = {&cmp};
    Etcdserverpb__RequestOp *successes[] = {&success_op};
    Etcdserverpb__RequestOp *failures[] = {&failure_op};
    Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
    txn.n_compare = 1;
    txn.compare = cmps;
    txn.n_success = 1;
    txn.success = successes;
    txn.n_failure = 1;
    txn.failure = failures;
    assert_packs_to(&txn.base, txn_bytes, sizeof(txn_bytes));

    Etcdserverpb__TxnRequest *got =
        etcdserverpb__txn_request__unpack(NULL, sizeof(txn_bytes), txn_bytes);
    assert_non_null(got);
    assert_int_equal(got->n_compare, 1);
    const Etcdserverpb__Compare *c = got->compare[0];
    assert_int_equal(c->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL);
    assert_int_equal(c->target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE);
    assert_bin(c->key, "k");
    assert_int_equal(c->target_union_case, ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE);
    assert_bin(c->value, "v");
    assert_bin(c->range_end, "l");

    assert_int_equal(got->n_success, 1);
    const Etcdserverpb__RequestOp *op = got->success[0];
    assert_int_equal(op->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT);
    assert_non_null(op->request_put);
    assert_bin(op->request_put->key, "k");
    assert_bin(op->request_put->value, "v2");
    assert_int_equal(op->request_put->lease, 0);
    assert_false(op->request_put->prev_kv);

    assert_int_equal(got->n_failure, 1);
    op = got->failure[0];
    assert_int_equal(op->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE);
    assert_non_null(op->request_range);
    assert_bin(op->request_range->key, "k");
    assert_int_equal(op->request_range->range_end.len, 0);

    assert_packs_to(&got->base, txn_bytes, sizeof(txn_bytes));
    etcdserverpb__txn_request__free_unpacked(got, NULL);
}

/* ------------------------------------------------------------- schema pins */

struct msg_pin {
    const ProtobufCMessageDescriptor *desc;
    const char *name;
    const char *fields;
};

struct enum_pin {
    const ProtobufCEnumDescriptor *desc;
    const char *name;
    const char *values;
};

struct svc_pin {
    const ProtobufCServiceDescriptor *desc;
    const char *name;
    const char *methods;
};

struct text {
    char buf[2048];
    size_t len;
};

static void text_add(struct text *t, const char *s)
{
    size_t n = strlen(s);

    assert_true(t->len + n < sizeof(t->buf));
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

/* A type in the field's own package is written bare, else package-qualified. */
static void text_add_type_name(struct text *t, const char *own_pkg, const char *pkg,
                               const char *short_name)
{
    if (strcmp(own_pkg, pkg) != 0) {
        text_add(t, pkg);
        text_add(t, ".");
    }
    text_add(t, short_name);
}

static const char *scalar_type_name(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
        return "int32";
    case PROTOBUF_C_TYPE_SINT32:
        return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32:
        return "sfixed32";
    case PROTOBUF_C_TYPE_INT64:
        return "int64";
    case PROTOBUF_C_TYPE_SINT64:
        return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64:
        return "sfixed64";
    case PROTOBUF_C_TYPE_UINT32:
        return "uint32";
    case PROTOBUF_C_TYPE_FIXED32:
        return "fixed32";
    case PROTOBUF_C_TYPE_UINT64:
        return "uint64";
    case PROTOBUF_C_TYPE_FIXED64:
        return "fixed64";
    case PROTOBUF_C_TYPE_FLOAT:
        return "float";
    case PROTOBUF_C_TYPE_DOUBLE:
        return "double";
    case PROTOBUF_C_TYPE_BOOL:
        return "bool";
    case PROTOBUF_C_TYPE_STRING:
        return "string";
    case PROTOBUF_C_TYPE_BYTES:
        return "bytes";
    default:
        return NULL;
    }
}

static void render_field(struct text *t, const char *own_pkg, const ProtobufCFieldDescriptor *f)
{
    char num[16];

    snprintf(num, sizeof(num), "=%u ", f->id);
    text_add(t, f->name);
    text_add(t, num);
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        text_add(t, "repeated ");
    /* proto3 singular fields carry no label; "optional"/"required" would mean
     * proto2 semantics (has_ flags), which is a different encoding. */
    assert_true(f->label == PROTOBUF_C_LABEL_NONE || f->label == PROTOBUF_C_LABEL_REPEATED);
    if (f->type == PROTOBUF_C_TYPE_ENUM) {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        text_add_type_name(t, own_pkg, e->package_name, e->short_name);
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessageDescriptor *m = f->descriptor;
        text_add_type_name(t, own_pkg, m->package_name, m->short_name);
    } else {
        const char *name = scalar_type_name(f->type);
        assert_non_null(name);
        text_add(t, name);
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        text_add(t, " oneof");
    if (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED)
        text_add(t, " packed");
}

static void check_message(const struct msg_pin *pin)
{
    const ProtobufCMessageDescriptor *d = pin->desc;
    struct text t = {.len = 0};

    assert_int_equal(d->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
    assert_string_equal(d->name, pin->name);
    t.buf[0] = '\0';
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (i > 0) {
            /* render in field-number order, as the pins are written */
            assert_true(d->fields[i - 1].id < d->fields[i].id);
            text_add(&t, "; ");
        }
        render_field(&t, d->package_name, &d->fields[i]);
    }
    if (strcmp(t.buf, pin->fields) != 0)
        print_error("%s:\n  proto: %s\n  pin:   %s\n", pin->name, t.buf, pin->fields);
    assert_string_equal(t.buf, pin->fields);
}

static void check_enum(const struct enum_pin *pin)
{
    const ProtobufCEnumDescriptor *d = pin->desc;
    struct text t = {.len = 0};
    char num[16];

    assert_int_equal(d->magic, PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC);
    assert_string_equal(d->name, pin->name);
    t.buf[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        if (i > 0)
            text_add(&t, ", ");
        snprintf(num, sizeof(num), "=%d", d->values[i].value);
        text_add(&t, d->values[i].name);
        text_add(&t, num);
    }
    assert_string_equal(t.buf, pin->values);
}

static void check_service(const struct svc_pin *pin)
{
    const ProtobufCServiceDescriptor *d = pin->desc;
    struct text t = {.len = 0};

    assert_int_equal(d->magic, PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC);
    /* the gRPC path is "/" + name + "/" + method */
    assert_string_equal(d->name, pin->name);
    t.buf[0] = '\0';
    for (unsigned i = 0; i < d->n_methods; i++) {
        if (i > 0)
            text_add(&t, "; ");
        text_add(&t, d->methods[i].name);
        text_add(&t, ": ");
        text_add(&t, d->methods[i].input->short_name);
        text_add(&t, " -> ");
        text_add(&t, d->methods[i].output->short_name);
    }
    if (strcmp(t.buf, pin->methods) != 0)
        print_error("%s:\n  proto: %s\n  pin:   %s\n", pin->name, t.buf, pin->methods);
    assert_string_equal(t.buf, pin->methods);
}

static const struct msg_pin other_messages[] = {
    {&mvccpb__key_value__descriptor, "mvccpb.KeyValue",
     "key=1 bytes; create_revision=2 int64; mod_revision=3 int64; version=4 int64; value=5 bytes; "
     "lease=6 int64"},
    {&mvccpb__event__descriptor, "mvccpb.Event",
     "type=1 EventType; kv=2 KeyValue; prev_kv=3 KeyValue"},
    {&authpb__user_add_options__descriptor, "authpb.UserAddOptions", "no_password=1 bool"},
    {&authpb__user__descriptor, "authpb.User",
     "name=1 bytes; password=2 bytes; roles=3 repeated string; options=4 UserAddOptions"},
    {&authpb__permission__descriptor, "authpb.Permission",
     "permType=1 Type; key=2 bytes; range_end=3 bytes"},
    {&authpb__role__descriptor, "authpb.Role", "name=1 bytes; keyPermission=2 repeated Permission"},
    {&grpc__health__v1__health_check_request__descriptor, "grpc.health.v1.HealthCheckRequest",
     "service=1 string"},
    {&grpc__health__v1__health_check_response__descriptor, "grpc.health.v1.HealthCheckResponse",
     "status=1 ServingStatus"},
};

static const struct enum_pin other_enums[] = {
    {&mvccpb__event__event_type__descriptor, "mvccpb.Event.EventType", "PUT=0, DELETE=1"},
    {&authpb__permission__type__descriptor, "authpb.Permission.Type",
     "READ=0, WRITE=1, READWRITE=2"},
    {&grpc__health__v1__health_check_response__serving_status__descriptor,
     "grpc.health.v1.HealthCheckResponse.ServingStatus",
     "UNKNOWN=0, SERVING=1, NOT_SERVING=2, SERVICE_UNKNOWN=3"},
};

/* Transcribed from ETCD_API.md "All etcdserverpb message fields" (HEAD, including
 * the fields and messages added after 3.4). */
static const struct msg_pin rpc_messages[] = {
    {&etcdserverpb__response_header__descriptor, "etcdserverpb.ResponseHeader",
     "cluster_id=1 uint64; member_id=2 uint64; revision=3 int64; raft_term=4 uint64"},
    {&etcdserverpb__range_request__descriptor, "etcdserverpb.RangeRequest",
     "key=1 bytes; range_end=2 bytes; limit=3 int64; revision=4 int64; sort_order=5 SortOrder; "
     "sort_target=6 SortTarget; serializable=7 bool; keys_only=8 bool; count_only=9 bool; "
     "min_mod_revision=10 int64; max_mod_revision=11 int64; min_create_revision=12 int64; "
     "max_create_revision=13 int64"},
    {&etcdserverpb__range_response__descriptor, "etcdserverpb.RangeResponse",
     "header=1 ResponseHeader; kvs=2 repeated mvccpb.KeyValue; more=3 bool; count=4 int64"},
    {&etcdserverpb__put_request__descriptor, "etcdserverpb.PutRequest",
     "key=1 bytes; value=2 bytes; lease=3 int64; prev_kv=4 bool; ignore_value=5 bool; "
     "ignore_lease=6 bool"},
    {&etcdserverpb__put_response__descriptor, "etcdserverpb.PutResponse",
     "header=1 ResponseHeader; prev_kv=2 mvccpb.KeyValue"},
    {&etcdserverpb__delete_range_request__descriptor, "etcdserverpb.DeleteRangeRequest",
     "key=1 bytes; range_end=2 bytes; prev_kv=3 bool"},
    {&etcdserverpb__delete_range_response__descriptor, "etcdserverpb.DeleteRangeResponse",
     "header=1 ResponseHeader; deleted=2 int64; prev_kvs=3 repeated mvccpb.KeyValue"},
    {&etcdserverpb__request_op__descriptor, "etcdserverpb.RequestOp",
     "request_range=1 RangeRequest oneof; request_put=2 PutRequest oneof; request_delete_range=3 "
     "DeleteRangeRequest oneof; request_txn=4 TxnRequest oneof"},
    {&etcdserverpb__response_op__descriptor, "etcdserverpb.ResponseOp",
     "response_range=1 RangeResponse oneof; response_put=2 PutResponse oneof; "
     "response_delete_range=3 DeleteRangeResponse oneof; response_txn=4 TxnResponse oneof"},
    {&etcdserverpb__compare__descriptor, "etcdserverpb.Compare",
     "result=1 CompareResult; target=2 CompareTarget; key=3 bytes; version=4 int64 oneof; "
     "create_revision=5 int64 oneof; mod_revision=6 int64 oneof; value=7 bytes oneof; lease=8 "
     "int64 oneof; range_end=64 bytes"},
    {&etcdserverpb__txn_request__descriptor, "etcdserverpb.TxnRequest",
     "compare=1 repeated Compare; success=2 repeated RequestOp; failure=3 repeated RequestOp"},
    {&etcdserverpb__txn_response__descriptor, "etcdserverpb.TxnResponse",
     "header=1 ResponseHeader; succeeded=2 bool; responses=3 repeated ResponseOp"},
    {&etcdserverpb__compaction_request__descriptor, "etcdserverpb.CompactionRequest",
     "revision=1 int64; physical=2 bool"},
    {&etcdserverpb__compaction_response__descriptor, "etcdserverpb.CompactionResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__hash_request__descriptor, "etcdserverpb.HashRequest", ""},
    {&etcdserverpb__hash_kvrequest__descriptor, "etcdserverpb.HashKVRequest", "revision=1 int64"},
    {&etcdserverpb__hash_kvresponse__descriptor, "etcdserverpb.HashKVResponse",
     "header=1 ResponseHeader; hash=2 uint32; compact_revision=3 int64; hash_revision=4 int64"},
    {&etcdserverpb__hash_response__descriptor, "etcdserverpb.HashResponse",
     "header=1 ResponseHeader; hash=2 uint32"},
    {&etcdserverpb__snapshot_request__descriptor, "etcdserverpb.SnapshotRequest", ""},
    {&etcdserverpb__snapshot_response__descriptor, "etcdserverpb.SnapshotResponse",
     "header=1 ResponseHeader; remaining_bytes=2 uint64; blob=3 bytes; version=4 string"},
    {&etcdserverpb__watch_request__descriptor, "etcdserverpb.WatchRequest",
     "create_request=1 WatchCreateRequest oneof; cancel_request=2 WatchCancelRequest oneof; "
     "progress_request=3 WatchProgressRequest oneof"},
    {&etcdserverpb__watch_create_request__descriptor, "etcdserverpb.WatchCreateRequest",
     "key=1 bytes; range_end=2 bytes; start_revision=3 int64; progress_notify=4 bool; filters=5 "
     "repeated FilterType packed; prev_kv=6 bool; watch_id=7 int64; fragment=8 bool"},
    {&etcdserverpb__watch_cancel_request__descriptor, "etcdserverpb.WatchCancelRequest",
     "watch_id=1 int64"},
    {&etcdserverpb__watch_progress_request__descriptor, "etcdserverpb.WatchProgressRequest", ""},
    {&etcdserverpb__watch_response__descriptor, "etcdserverpb.WatchResponse",
     "header=1 ResponseHeader; watch_id=2 int64; created=3 bool; canceled=4 bool; "
     "compact_revision=5 int64; cancel_reason=6 string; fragment=7 bool; events=11 repeated "
     "mvccpb.Event"},
    {&etcdserverpb__lease_grant_request__descriptor, "etcdserverpb.LeaseGrantRequest",
     "TTL=1 int64; ID=2 int64"},
    {&etcdserverpb__lease_grant_response__descriptor, "etcdserverpb.LeaseGrantResponse",
     "header=1 ResponseHeader; ID=2 int64; TTL=3 int64; error=4 string"},
    {&etcdserverpb__lease_revoke_request__descriptor, "etcdserverpb.LeaseRevokeRequest",
     "ID=1 int64"},
    {&etcdserverpb__lease_revoke_response__descriptor, "etcdserverpb.LeaseRevokeResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__lease_checkpoint__descriptor, "etcdserverpb.LeaseCheckpoint",
     "ID=1 int64; remaining_TTL=2 int64"},
    {&etcdserverpb__lease_checkpoint_request__descriptor, "etcdserverpb.LeaseCheckpointRequest",
     "checkpoints=1 repeated LeaseCheckpoint"},
    {&etcdserverpb__lease_checkpoint_response__descriptor, "etcdserverpb.LeaseCheckpointResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__lease_keep_alive_request__descriptor, "etcdserverpb.LeaseKeepAliveRequest",
     "ID=1 int64"},
    {&etcdserverpb__lease_keep_alive_response__descriptor, "etcdserverpb.LeaseKeepAliveResponse",
     "header=1 ResponseHeader; ID=2 int64; TTL=3 int64"},
    {&etcdserverpb__lease_time_to_live_request__descriptor, "etcdserverpb.LeaseTimeToLiveRequest",
     "ID=1 int64; keys=2 bool"},
    {&etcdserverpb__lease_time_to_live_response__descriptor, "etcdserverpb.LeaseTimeToLiveResponse",
     "header=1 ResponseHeader; ID=2 int64; TTL=3 int64; grantedTTL=4 int64; keys=5 repeated bytes"},
    {&etcdserverpb__lease_leases_request__descriptor, "etcdserverpb.LeaseLeasesRequest", ""},
    {&etcdserverpb__lease_status__descriptor, "etcdserverpb.LeaseStatus", "ID=1 int64"},
    {&etcdserverpb__lease_leases_response__descriptor, "etcdserverpb.LeaseLeasesResponse",
     "header=1 ResponseHeader; leases=2 repeated LeaseStatus"},
    {&etcdserverpb__member__descriptor, "etcdserverpb.Member",
     "ID=1 uint64; name=2 string; peerURLs=3 repeated string; clientURLs=4 repeated string; "
     "isLearner=5 bool"},
    {&etcdserverpb__member_add_request__descriptor, "etcdserverpb.MemberAddRequest",
     "peerURLs=1 repeated string; isLearner=2 bool"},
    {&etcdserverpb__member_add_response__descriptor, "etcdserverpb.MemberAddResponse",
     "header=1 ResponseHeader; member=2 Member; members=3 repeated Member"},
    {&etcdserverpb__member_remove_request__descriptor, "etcdserverpb.MemberRemoveRequest",
     "ID=1 uint64"},
    {&etcdserverpb__member_remove_response__descriptor, "etcdserverpb.MemberRemoveResponse",
     "header=1 ResponseHeader; members=2 repeated Member"},
    {&etcdserverpb__member_update_request__descriptor, "etcdserverpb.MemberUpdateRequest",
     "ID=1 uint64; peerURLs=2 repeated string"},
    {&etcdserverpb__member_update_response__descriptor, "etcdserverpb.MemberUpdateResponse",
     "header=1 ResponseHeader; members=2 repeated Member"},
    {&etcdserverpb__member_list_request__descriptor, "etcdserverpb.MemberListRequest",
     "linearizable=1 bool"},
    {&etcdserverpb__member_list_response__descriptor, "etcdserverpb.MemberListResponse",
     "header=1 ResponseHeader; members=2 repeated Member"},
    {&etcdserverpb__member_promote_request__descriptor, "etcdserverpb.MemberPromoteRequest",
     "ID=1 uint64"},
    {&etcdserverpb__member_promote_response__descriptor, "etcdserverpb.MemberPromoteResponse",
     "header=1 ResponseHeader; members=2 repeated Member"},
    {&etcdserverpb__defragment_request__descriptor, "etcdserverpb.DefragmentRequest", ""},
    {&etcdserverpb__defragment_response__descriptor, "etcdserverpb.DefragmentResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__move_leader_request__descriptor, "etcdserverpb.MoveLeaderRequest",
     "targetID=1 uint64"},
    {&etcdserverpb__move_leader_response__descriptor, "etcdserverpb.MoveLeaderResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__alarm_request__descriptor, "etcdserverpb.AlarmRequest",
     "action=1 AlarmAction; memberID=2 uint64; alarm=3 AlarmType"},
    {&etcdserverpb__alarm_member__descriptor, "etcdserverpb.AlarmMember",
     "memberID=1 uint64; alarm=2 AlarmType"},
    {&etcdserverpb__alarm_response__descriptor, "etcdserverpb.AlarmResponse",
     "header=1 ResponseHeader; alarms=2 repeated AlarmMember"},
    {&etcdserverpb__downgrade_request__descriptor, "etcdserverpb.DowngradeRequest",
     "action=1 DowngradeAction; version=2 string"},
    {&etcdserverpb__downgrade_response__descriptor, "etcdserverpb.DowngradeResponse",
     "header=1 ResponseHeader; version=2 string"},
    {&etcdserverpb__downgrade_version_test_request__descriptor,
     "etcdserverpb.DowngradeVersionTestRequest", "ver=1 string"},
    {&etcdserverpb__status_request__descriptor, "etcdserverpb.StatusRequest", ""},
    {&etcdserverpb__status_response__descriptor, "etcdserverpb.StatusResponse",
     "header=1 ResponseHeader; version=2 string; dbSize=3 int64; leader=4 uint64; raftIndex=5 "
     "uint64; raftTerm=6 uint64; raftAppliedIndex=7 uint64; errors=8 repeated string; "
     "dbSizeInUse=9 int64; isLearner=10 bool; storageVersion=11 string; dbSizeQuota=12 int64; "
     "downgradeInfo=13 DowngradeInfo"},
    {&etcdserverpb__downgrade_info__descriptor, "etcdserverpb.DowngradeInfo",
     "enabled=1 bool; targetVersion=2 string"},
    {&etcdserverpb__auth_enable_request__descriptor, "etcdserverpb.AuthEnableRequest", ""},
    {&etcdserverpb__auth_disable_request__descriptor, "etcdserverpb.AuthDisableRequest", ""},
    {&etcdserverpb__auth_status_request__descriptor, "etcdserverpb.AuthStatusRequest", ""},
    {&etcdserverpb__authenticate_request__descriptor, "etcdserverpb.AuthenticateRequest",
     "name=1 string; password=2 string"},
    {&etcdserverpb__auth_user_add_request__descriptor, "etcdserverpb.AuthUserAddRequest",
     "name=1 string; password=2 string; options=3 authpb.UserAddOptions; hashedPassword=4 string"},
    {&etcdserverpb__auth_user_get_request__descriptor, "etcdserverpb.AuthUserGetRequest",
     "name=1 string"},
    {&etcdserverpb__auth_user_delete_request__descriptor, "etcdserverpb.AuthUserDeleteRequest",
     "name=1 string"},
    {&etcdserverpb__auth_user_change_password_request__descriptor,
     "etcdserverpb.AuthUserChangePasswordRequest",
     "name=1 string; password=2 string; hashedPassword=3 string"},
    {&etcdserverpb__auth_user_grant_role_request__descriptor,
     "etcdserverpb.AuthUserGrantRoleRequest", "user=1 string; role=2 string"},
    {&etcdserverpb__auth_user_revoke_role_request__descriptor,
     "etcdserverpb.AuthUserRevokeRoleRequest", "name=1 string; role=2 string"},
    {&etcdserverpb__auth_role_add_request__descriptor, "etcdserverpb.AuthRoleAddRequest",
     "name=1 string"},
    {&etcdserverpb__auth_role_get_request__descriptor, "etcdserverpb.AuthRoleGetRequest",
     "role=1 string"},
    {&etcdserverpb__auth_user_list_request__descriptor, "etcdserverpb.AuthUserListRequest", ""},
    {&etcdserverpb__auth_role_list_request__descriptor, "etcdserverpb.AuthRoleListRequest", ""},
    {&etcdserverpb__auth_role_delete_request__descriptor, "etcdserverpb.AuthRoleDeleteRequest",
     "role=1 string"},
    {&etcdserverpb__auth_role_grant_permission_request__descriptor,
     "etcdserverpb.AuthRoleGrantPermissionRequest", "name=1 string; perm=2 authpb.Permission"},
    {&etcdserverpb__auth_role_revoke_permission_request__descriptor,
     "etcdserverpb.AuthRoleRevokePermissionRequest",
     "role=1 string; key=2 bytes; range_end=3 bytes"},
    {&etcdserverpb__auth_enable_response__descriptor, "etcdserverpb.AuthEnableResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__auth_disable_response__descriptor, "etcdserverpb.AuthDisableResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__auth_status_response__descriptor, "etcdserverpb.AuthStatusResponse",
     "header=1 ResponseHeader; enabled=2 bool; authRevision=3 uint64"},
    {&etcdserverpb__authenticate_response__descriptor, "etcdserverpb.AuthenticateResponse",
     "header=1 ResponseHeader; token=2 string"},
    {&etcdserverpb__auth_user_add_response__descriptor, "etcdserverpb.AuthUserAddResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__auth_user_get_response__descriptor, "etcdserverpb.AuthUserGetResponse",
     "header=1 ResponseHeader; roles=2 repeated string"},
    {&etcdserverpb__auth_user_delete_response__descriptor, "etcdserverpb.AuthUserDeleteResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__auth_user_change_password_response__descriptor,
     "etcdserverpb.AuthUserChangePasswordResponse", "header=1 ResponseHeader"},
    {&etcdserverpb__auth_user_grant_role_response__descriptor,
     "etcdserverpb.AuthUserGrantRoleResponse", "header=1 ResponseHeader"},
    {&etcdserverpb__auth_user_revoke_role_response__descriptor,
     "etcdserverpb.AuthUserRevokeRoleResponse", "header=1 ResponseHeader"},
    {&etcdserverpb__auth_role_add_response__descriptor, "etcdserverpb.AuthRoleAddResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__auth_role_get_response__descriptor, "etcdserverpb.AuthRoleGetResponse",
     "header=1 ResponseHeader; perm=2 repeated authpb.Permission"},
    {&etcdserverpb__auth_role_list_response__descriptor, "etcdserverpb.AuthRoleListResponse",
     "header=1 ResponseHeader; roles=2 repeated string"},
    {&etcdserverpb__auth_user_list_response__descriptor, "etcdserverpb.AuthUserListResponse",
     "header=1 ResponseHeader; users=2 repeated string"},
    {&etcdserverpb__auth_role_delete_response__descriptor, "etcdserverpb.AuthRoleDeleteResponse",
     "header=1 ResponseHeader"},
    {&etcdserverpb__auth_role_grant_permission_response__descriptor,
     "etcdserverpb.AuthRoleGrantPermissionResponse", "header=1 ResponseHeader"},
    {&etcdserverpb__auth_role_revoke_permission_response__descriptor,
     "etcdserverpb.AuthRoleRevokePermissionResponse", "header=1 ResponseHeader"},
    {&etcdserverpb__range_stream_response__descriptor, "etcdserverpb.RangeStreamResponse",
     "range_response=1 RangeResponse"},
};
static const struct enum_pin rpc_enums[] = {
    {&etcdserverpb__alarm_type__descriptor, "etcdserverpb.AlarmType",
     "NONE=0, NOSPACE=1, CORRUPT=2"},
    {&etcdserverpb__range_request__sort_order__descriptor, "etcdserverpb.RangeRequest.SortOrder",
     "NONE=0, ASCEND=1, DESCEND=2"},
    {&etcdserverpb__range_request__sort_target__descriptor, "etcdserverpb.RangeRequest.SortTarget",
     "KEY=0, VERSION=1, CREATE=2, MOD=3, VALUE=4"},
    {&etcdserverpb__compare__compare_result__descriptor, "etcdserverpb.Compare.CompareResult",
     "EQUAL=0, GREATER=1, LESS=2, NOT_EQUAL=3"},
    {&etcdserverpb__compare__compare_target__descriptor, "etcdserverpb.Compare.CompareTarget",
     "VERSION=0, CREATE=1, MOD=2, VALUE=3, LEASE=4"},
    {&etcdserverpb__watch_create_request__filter_type__descriptor,
     "etcdserverpb.WatchCreateRequest.FilterType", "NOPUT=0, NODELETE=1"},
    {&etcdserverpb__alarm_request__alarm_action__descriptor,
     "etcdserverpb.AlarmRequest.AlarmAction", "GET=0, ACTIVATE=1, DEACTIVATE=2"},
    {&etcdserverpb__downgrade_request__downgrade_action__descriptor,
     "etcdserverpb.DowngradeRequest.DowngradeAction", "VALIDATE=0, ENABLE=1, CANCEL=2"},
};

/* Services: method order is declaration order; streaming is not recorded in
 * protobuf-c descriptors (Watch and LeaseKeepAlive are bidi, Snapshot,
 * RangeStream and Health.Watch are server-streaming). */
static const struct svc_pin services[] = {
    {&etcdserverpb__kv__descriptor, "etcdserverpb.KV",
     "Range: RangeRequest -> RangeResponse; Put: PutRequest -> PutResponse; "
     "DeleteRange: DeleteRangeRequest -> DeleteRangeResponse; Txn: TxnRequest -> TxnResponse; "
     "Compact: CompactionRequest -> CompactionResponse; "
     "RangeStream: RangeRequest -> RangeStreamResponse"},
    {&etcdserverpb__watch__descriptor, "etcdserverpb.Watch",
     "Watch: WatchRequest -> WatchResponse"},
    {&etcdserverpb__lease__descriptor, "etcdserverpb.Lease",
     "LeaseGrant: LeaseGrantRequest -> LeaseGrantResponse; "
     "LeaseRevoke: LeaseRevokeRequest -> LeaseRevokeResponse; "
     "LeaseKeepAlive: LeaseKeepAliveRequest -> LeaseKeepAliveResponse; "
     "LeaseTimeToLive: LeaseTimeToLiveRequest -> LeaseTimeToLiveResponse; "
     "LeaseLeases: LeaseLeasesRequest -> LeaseLeasesResponse"},
    {&etcdserverpb__cluster__descriptor, "etcdserverpb.Cluster",
     "MemberAdd: MemberAddRequest -> MemberAddResponse; "
     "MemberRemove: MemberRemoveRequest -> MemberRemoveResponse; "
     "MemberUpdate: MemberUpdateRequest -> MemberUpdateResponse; "
     "MemberList: MemberListRequest -> MemberListResponse; "
     "MemberPromote: MemberPromoteRequest -> MemberPromoteResponse"},
    {&etcdserverpb__maintenance__descriptor, "etcdserverpb.Maintenance",
     "Alarm: AlarmRequest -> AlarmResponse; Status: StatusRequest -> StatusResponse; "
     "Defragment: DefragmentRequest -> DefragmentResponse; Hash: HashRequest -> HashResponse; "
     "HashKV: HashKVRequest -> HashKVResponse; Snapshot: SnapshotRequest -> SnapshotResponse; "
     "MoveLeader: MoveLeaderRequest -> MoveLeaderResponse; "
     "Downgrade: DowngradeRequest -> DowngradeResponse"},
    {&etcdserverpb__auth__descriptor, "etcdserverpb.Auth",
     "AuthEnable: AuthEnableRequest -> AuthEnableResponse; "
     "AuthDisable: AuthDisableRequest -> AuthDisableResponse; "
     "AuthStatus: AuthStatusRequest -> AuthStatusResponse; "
     "Authenticate: AuthenticateRequest -> AuthenticateResponse; "
     "UserAdd: AuthUserAddRequest -> AuthUserAddResponse; "
     "UserGet: AuthUserGetRequest -> AuthUserGetResponse; "
     "UserList: AuthUserListRequest -> AuthUserListResponse; "
     "UserDelete: AuthUserDeleteRequest -> AuthUserDeleteResponse; "
     "UserChangePassword: AuthUserChangePasswordRequest -> AuthUserChangePasswordResponse; "
     "UserGrantRole: AuthUserGrantRoleRequest -> AuthUserGrantRoleResponse; "
     "UserRevokeRole: AuthUserRevokeRoleRequest -> AuthUserRevokeRoleResponse; "
     "RoleAdd: AuthRoleAddRequest -> AuthRoleAddResponse; "
     "RoleGet: AuthRoleGetRequest -> AuthRoleGetResponse; "
     "RoleList: AuthRoleListRequest -> AuthRoleListResponse; "
     "RoleDelete: AuthRoleDeleteRequest -> AuthRoleDeleteResponse; "
     "RoleGrantPermission: AuthRoleGrantPermissionRequest -> AuthRoleGrantPermissionResponse; "
     "RoleRevokePermission: AuthRoleRevokePermissionRequest -> AuthRoleRevokePermissionResponse"},
    {&grpc__health__v1__health__descriptor, "grpc.health.v1.Health",
     "Check: HealthCheckRequest -> HealthCheckResponse; "
     "Watch: HealthCheckRequest -> HealthCheckResponse"},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void test_schema_messages(void **state)
{
    (void)state;
    assert_int_equal(N_ELEMS(rpc_messages), 98);
    for (size_t i = 0; i < N_ELEMS(rpc_messages); i++)
        check_message(&rpc_messages[i]);
    for (size_t i = 0; i < N_ELEMS(other_messages); i++)
        check_message(&other_messages[i]);
}

static void test_schema_enums(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(rpc_enums); i++)
        check_enum(&rpc_enums[i]);
    for (size_t i = 0; i < N_ELEMS(other_enums); i++)
        check_enum(&other_enums[i]);
}

static void test_schema_services(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(services); i++)
        check_service(&services[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_value),       cmocka_unit_test(test_range_request),
        cmocka_unit_test(test_response_header), cmocka_unit_test(test_txn_request),
        cmocka_unit_test(test_schema_messages), cmocka_unit_test(test_schema_enums),
        cmocka_unit_test(test_schema_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
