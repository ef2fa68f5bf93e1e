/* Text usage rows to CostRecords in one C loop (optional accelerator).
 *
 * The reference is each provider's Python record function (for example
 * ``completions_record`` in providers/openai/decode.py) and the merging loop of
 * ``decode_buckets`` in providers/bucketed.py. For a row this file can take (its
 * exact row type, no audio, image or server-tool counts, counts and prices that
 * fit 64 bits) it builds the very
 * record the Python function builds and merges it by key the same way; any
 * other row is handed to the Python function, which also raises the row's
 * error. tests/providers/test_usage_rows.py compares the two on the golden
 * pages and on hypothesis-generated ones.
 *
 * Why C at all: per usage row the Python function is about 2-3 us of attribute
 * reads, small calls and Decimal arithmetic on this project's 2-core VM, while
 * issue 16 asks for <= 3 us per row including the JSON decoding
 * (docs/performance.md). Built by hatch_build.py where a C compiler and
 * Python's headers exist; without them the Python functions run, with
 * identical records.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#define KEY_FIELDS 5  /* model, user_id, project_id, api_key_id, line_item */
#define DIMENSIONS 4  /* the key fields a row holds: all but line_item */
#define COUNTERS 6    /* uncached, cached, cache write, 1-hour write, output, requests */
#define PRICED 5      /* the first five counters have text prices */
#define MAX_GUARDS 16
#define MAX_QUALIFIED 256 /* bounded: a server inventing tiers costs nothing */

#define GIVEN 18 /* the record fields build_row fills: the first 17, then price_source */
#define MAX_RECORD_FIELDS 64

/* What configure() was given. */
static PyTypeObject *record_type = NULL;
static Py_ssize_t given_offsets[GIVEN];
static Py_ssize_t other_offsets[MAX_RECORD_FIELDS]; /* every other field: its default */
static PyObject *other_defaults[MAX_RECORD_FIELDS];
static Py_ssize_t other_count = 0;
static PyObject *distinct_defaults[MAX_RECORD_FIELDS]; /* other_defaults without repeats */
static Py_ssize_t distinct_uses[MAX_RECORD_FIELDS];    /* how many fields hold each */
static Py_ssize_t distinct_count = 0;
static PyObject *utc = NULL; /* datetime.UTC: a start in it needs no normalizing */
static Py_ssize_t key_offsets[KEY_FIELDS];
static PyObject *decimal_type = NULL;
static PyObject *estimated = NULL, *unpriced = NULL; /* CostSource members */
static PyObject *zero_cost = NULL;                   /* Decimal(0) */
static PyObject *add_records = NULL;                 /* planning.add_records */
static PyObject *price_source_kwnames = NULL;        /* ("price_source",) */
static PyObject *empty = NULL, *zero = NULL;

/* A field of a row: a slot, or a slot of the Struct in a slot (None: absent). */
typedef struct {
    Py_ssize_t offset; /* -1: no such field (reads as None) */
    PyTypeObject *inner_type;
    Py_ssize_t inner_offset;
} Field;

typedef struct {
    PyObject_HEAD
    PyTypeObject *row_type;
    PyObject *provider;
    Field dimensions[DIMENSIONS];
    PyObject *defaults[DIMENSIONS]; /* for a dimension that is None or "" */
    Field qualifiers[2];
    PyObject *qualify;   /* (q1, q2) -> (line_item, pricing tier) */
    PyObject *qualified; /* its answers by (q1, q2) */
    Field counters[COUNTERS];
    Field total; /* when counter 0 is None: total - cached - cache writes */
    Field guards[MAX_GUARDS];
    Py_ssize_t guard_count;
} Layout;

static inline PyObject *
slot(PyObject *object, Py_ssize_t offset)
{
    return *(PyObject **)((char *)object + offset);
}

static int
offset_of(PyTypeObject *type, PyObject *name, Py_ssize_t *offset)
{
    /* The class attribute of a slot is its member descriptor, found along the
     * MRO (a row Struct may inherit its dimension fields). */
    PyObject *descriptor = PyObject_GetAttr((PyObject *)type, name);
    if (descriptor == NULL) {
        return -1;
    }
    int result = -1;
    if (!Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "field %R of %.100s is not a slot", name, type->tp_name);
    } else {
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (member->type != T_OBJECT_EX && member->type != T_OBJECT) {
            PyErr_Format(PyExc_TypeError, "field %R does not hold an object", name);
        } else {
            *offset = member->offset;
            result = 0;
        }
    }
    Py_DECREF(descriptor);
    return result;
}

/* A field from its description: None, "name" or ("name", InnerType, "inner"). */
static int
field_of(PyTypeObject *type, PyObject *spec, Field *field)
{
    field->offset = -1;
    field->inner_type = NULL;
    field->inner_offset = -1;
    if (spec == Py_None) {
        return 0;
    }
    if (PyUnicode_Check(spec)) {
        return offset_of(type, spec, &field->offset);
    }
    PyObject *name, *inner_name;
    PyTypeObject *inner;
    if (!PyArg_ParseTuple(spec, "UO!U", &name, &PyType_Type, &inner, &inner_name)) {
        return -1;
    }
    if (offset_of(type, name, &field->offset) < 0 ||
        offset_of(inner, inner_name, &field->inner_offset) < 0) {
        return -1;
    }
    Py_INCREF(inner);
    field->inner_type = inner;
    return 0;
}

/* The field's value (borrowed), None when absent; NULL (no error) when the
 * row is not shaped as the layout says, so the row goes to Python. */
static inline PyObject *
field_value(PyObject *row, const Field *field)
{
    if (field->offset < 0) {
        return Py_None;
    }
    PyObject *value = slot(row, field->offset);
    if (value == NULL || field->inner_type == NULL || value == Py_None) {
        return value;
    }
    if (Py_TYPE(value) != field->inner_type) {
        return NULL;
    }
    return slot(value, field->inner_offset);
}

static void
layout_dealloc(Layout *self)
{
    Py_XDECREF(self->row_type);
    Py_XDECREF(self->provider);
    for (int i = 0; i < DIMENSIONS; i++) {
        Py_XDECREF(self->defaults[i]);
        Py_XDECREF(self->dimensions[i].inner_type);
    }
    for (int i = 0; i < 2; i++) {
        Py_XDECREF(self->qualifiers[i].inner_type);
    }
    for (int i = 0; i < COUNTERS; i++) {
        Py_XDECREF(self->counters[i].inner_type);
    }
    Py_XDECREF(self->total.inner_type);
    for (Py_ssize_t i = 0; i < self->guard_count; i++) {
        Py_XDECREF(self->guards[i].inner_type);
    }
    Py_XDECREF(self->qualify);
    Py_XDECREF(self->qualified);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
layout_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"row_type", "provider", "dimensions", "defaults", "qualifiers",
                            "qualify", "counters", "total", "guards", NULL};
    PyTypeObject *row_type;
    PyObject *provider, *dimensions, *defaults, *qualifiers, *qualify, *counters, *total, *guards;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!UO!O!O!OO!OO!", names, &PyType_Type,
                                     &row_type, &provider, &PyTuple_Type, &dimensions,
                                     &PyTuple_Type, &defaults, &PyTuple_Type, &qualifiers,
                                     &qualify, &PyTuple_Type, &counters, &total, &PyTuple_Type,
                                     &guards)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(dimensions) != DIMENSIONS || PyTuple_GET_SIZE(defaults) != DIMENSIONS ||
        PyTuple_GET_SIZE(qualifiers) != 2 || PyTuple_GET_SIZE(counters) != COUNTERS ||
        PyTuple_GET_SIZE(guards) > MAX_GUARDS) {
        PyErr_SetString(PyExc_ValueError, "4 dimensions and defaults, 2 qualifiers, "
                                          "6 counters and at most 16 guards");
        return NULL;
    }
    Layout *self = (Layout *)type->tp_alloc(type, 0); /* zeroed: dealloc is safe */
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(row_type);
    self->row_type = row_type;
    Py_INCREF(provider);
    self->provider = provider;
    Py_INCREF(qualify);
    self->qualify = qualify;
    if ((self->qualified = PyDict_New()) == NULL) {
        goto error;
    }
    for (int i = 0; i < DIMENSIONS; i++) {
        PyObject *fallback = PyTuple_GET_ITEM(defaults, i);
        if (!PyUnicode_CheckExact(fallback)) {
            PyErr_SetString(PyExc_TypeError, "defaults must be str");
            goto error;
        }
        Py_INCREF(fallback);
        self->defaults[i] = fallback;
        if (field_of(row_type, PyTuple_GET_ITEM(dimensions, i), &self->dimensions[i]) < 0) {
            goto error;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (field_of(row_type, PyTuple_GET_ITEM(qualifiers, i), &self->qualifiers[i]) < 0) {
            goto error;
        }
    }
    for (int i = 0; i < COUNTERS; i++) {
        if (field_of(row_type, PyTuple_GET_ITEM(counters, i), &self->counters[i]) < 0) {
            goto error;
        }
    }
    if (field_of(row_type, total, &self->total) < 0) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(guards); i++) {
        if (field_of(row_type, PyTuple_GET_ITEM(guards, i), &self->guards[i]) < 0) {
            goto error;
        }
        self->guard_count = i + 1;
    }
    return (PyObject *)self;
error:
    Py_DECREF(self);
    return NULL;
}

PyDoc_STRVAR(layout_doc,
"Layout(row_type, provider, dimensions, defaults, qualifiers, qualify, counters, total, guards)\n\n"
"Where a text usage row of *row_type* keeps what its record needs. A field is\n"
"None, a slot name, or (slot, InnerStruct, inner slot). *dimensions*: model,\n"
"user_id, project_id, api_key_id (None or \"\" reads as its *defaults* entry);\n"
"*qualifiers*: the two fields *qualify(q1, q2)* turns into (line_item, pricing\n"
"tier); *counters*: uncached input, cached input, cache writes, 1-hour cache\n"
"writes, output, requests (None reads as 0; a None uncached is *total* less\n"
"cached and cache writes when *total* is given); *guards*: fields that must be\n"
"None or 0, else the row is built by Python.");

static PyTypeObject LayoutType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "costpipe.providers._usage_rows.Layout",
    .tp_basicsize = sizeof(Layout),
    .tp_dealloc = (destructor)layout_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = layout_doc,
    .tp_new = layout_new,
};

/* Decimal("<units>E-10"): the same digits and exponent as the Python path's
 * Decimal(units).scaleb(-10) (units < 2**127 < 10**40, its exact context). */
static PyObject *
dollars(unsigned __int128 units)
{
    char text[64];
    char *end = text + sizeof(text);
    char *cursor = end;
    memcpy(cursor -= 4, "E-10", 4);
    do {
        *--cursor = (char)('0' + (int)(units % 10));
        units /= 10;
    } while (units);
    PyObject *string = PyUnicode_FromStringAndSize(cursor, end - cursor);
    if (string == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_CallOneArg(decimal_type, string);
    Py_DECREF(string);
    return value;
}

/* A count as a C integer: 1 when it is an int in [0, 2**63), 0 otherwise. */
static inline int
count_of(PyObject *value, long long *count)
{
    if (!PyLong_CheckExact(value)) {
        return 0;
    }
    int overflow;
    *count = PyLong_AsLongLongAndOverflow(value, &overflow);
    return !overflow && *count >= 0;
}

/* Half-even rounding of total / denominator, both >= 0: UsageRate._round. */
static inline unsigned __int128
rounded(unsigned __int128 total, unsigned long long denominator)
{
    unsigned __int128 units = total / denominator;
    unsigned __int128 doubled = 2 * (total % denominator);
    if (doubled > denominator || (doubled == denominator && (units & 1))) {
        units += 1;
    }
    return units;
}

#define NO_PRICE 0xFFFFFFFFFFFFFFFFULL /* the packed weight of a counter without a price */

/* The record's cost, source and price source from a prepared rate: None
 * (unpriced) or (packed, price source), packed being the five text weights
 * (NO_PRICE: unknown) and the denominator as native unsigned 64-bit integers
 * (UsageRate.text_prices); unpriced as well when a counter without a price
 * has usage, as UsageRate.cost says.
 * 0 when Python must price the row (anything else, an overflow); -1 on error. */
static int
price(PyObject *prepared, const long long *counts, PyObject **cost, PyObject **source,
      PyObject **price_source)
{
    if (prepared == Py_None) {
        *cost = Py_NewRef(zero_cost);
        *source = unpriced;
        *price_source = empty;
        return 1;
    }
    if (!PyTuple_CheckExact(prepared) || PyTuple_GET_SIZE(prepared) != 2) {
        return 0;
    }
    PyObject *packed = PyTuple_GET_ITEM(prepared, 0);
    unsigned long long weights[PRICED + 1];
    if (!PyBytes_CheckExact(packed) || PyBytes_GET_SIZE(packed) != sizeof(weights)) {
        return 0;
    }
    memcpy(weights, PyBytes_AS_STRING(packed), sizeof(weights));
    unsigned __int128 total = 0;
    for (int i = 0; i < PRICED; i++) {
        if (weights[i] == NO_PRICE) {
            if (counts[i] != 0) { /* usage without a price: UsageRate.cost gives None */
                return price(Py_None, counts, cost, source, price_source);
            }
            continue;
        }
        unsigned __int128 product = (unsigned __int128)weights[i] * (unsigned long long)counts[i];
        if (__builtin_add_overflow(total, product, &total)) {
            return 0;
        }
    }
    unsigned long long denominator = weights[PRICED];
    if (denominator == 0 || (total >> 126) != 0) { /* keep units < 2**127, 2 * rest in range */
        return 0;
    }
    *cost = dollars(denominator == 1 ? total : rounded(total, denominator));
    if (*cost == NULL) {
        return -1;
    }
    *source = estimated;
    *price_source = PyTuple_GET_ITEM(prepared, 1);
    return 1;
}

/* Add *record* to *merged* under its key, summing with a record already there. */
static int
merge(PyObject *merged, PyObject *record)
{
    PyObject *key = PyTuple_New(KEY_FIELDS);
    if (key == NULL) {
        return -1;
    }
    for (int i = 0; i < KEY_FIELDS; i++) {
        PyObject *value = slot(record, key_offsets[i]);
        if (value == NULL) {
            Py_DECREF(key);
            PyErr_SetString(PyExc_AttributeError, "record field unset");
            return -1;
        }
        PyTuple_SET_ITEM(key, i, Py_NewRef(value));
    }
    /* Strings only: no cycle through it (CPython untracks such tuples too, later). */
    PyObject_GC_UnTrack(key);
    PyObject *previous = PyDict_SetDefault(merged, key, record);
    int result = 0;
    if (previous == NULL) {
        result = -1;
    } else if (previous != record) {
        PyObject *sum = PyObject_CallFunctionObjArgs(add_records, previous, record, NULL);
        result = sum == NULL ? -1 : PyDict_SetItem(merged, key, sum);
        Py_XDECREF(sum);
    }
    Py_DECREF(key);
    return result;
}

/* What Python's record function gave for a row: None, a record or a tuple of them. */
static int
merge_built(PyObject *merged, PyObject *built)
{
    if (built == Py_None) {
        return 0;
    }
    if (PyObject_TypeCheck(built, record_type)) {
        return merge(merged, built);
    }
    if (PyTuple_Check(built)) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(built); i++) {
            PyObject *one = PyTuple_GET_ITEM(built, i);
            if (!PyObject_TypeCheck(one, record_type)) {
                PyErr_Format(PyExc_TypeError, "a record function gave %R", one);
                return -1;
            }
            if (merge(merged, one) < 0) {
                return -1;
            }
        }
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "a record function gave %R", built);
    return -1;
}

/* A cached answer of callable(a, b), stored under (a, b) in *cache* while it is
 * smaller than *bound* (new reference). */
static PyObject *
cached_call(PyObject *cache, PyObject *callable, PyObject *a, PyObject *b, Py_ssize_t bound)
{
    PyObject *key = PyTuple_Pack(2, a, b);
    if (key == NULL) {
        return NULL;
    }
    PyObject *found = PyDict_GetItemWithError(cache, key);
    if (found != NULL) {
        Py_DECREF(key);
        return Py_NewRef(found);
    }
    if (PyErr_Occurred()) {
        Py_DECREF(key);
        return NULL;
    }
    found = PyObject_CallFunctionObjArgs(callable, a, b, NULL);
    if (found != NULL && PyDict_GET_SIZE(cache) < bound && PyDict_SetItem(cache, key, found) < 0) {
        Py_CLEAR(found);
    }
    Py_DECREF(key);
    return found;
}

/* The answers of cached_call for the keys one build() call met last, compared
 * by content: the rows' strings are new objects each (msgspec decodes each
 * row's "model" anew), so a dict lookup hashes and compares them, which was a
 * third of this file's cost per row. Rows of one bucket share a few models and
 * tiers; RECENT of them are kept, replaced in turn. Strong references, released
 * by recent_clear at the end of the call. */
#define RECENT 16

typedef struct {
    PyObject *a[RECENT], *b[RECENT], *answer[RECENT];
    int count, next;
} Recent;

/* 1 when a dict would find *y* under key *x*, for the keys compared here: the
 * same object, or two exact str of equal text (0 only means "not known equal":
 * the dict is asked then). */
static inline int
same_key(PyObject *x, PyObject *y)
{
    if (x == y) {
        return 1;
    }
    if (!PyUnicode_CheckExact(x) || !PyUnicode_CheckExact(y)) {
        return 0;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(x);
    int kind = PyUnicode_KIND(x);
    return length == PyUnicode_GET_LENGTH(y) && kind == PyUnicode_KIND(y) &&
           memcmp(PyUnicode_DATA(x), PyUnicode_DATA(y), (size_t)length * (size_t)kind) == 0;
}

/* cached_call through *recent* (borrowed reference, owned by *recent*). When
 * the key was met, *a* is set to the key object kept: records then share one
 * string per model, whose hash is computed once. */
static PyObject *
recent_call(Recent *recent, PyObject *cache, PyObject *callable, PyObject **a, PyObject *b,
            Py_ssize_t bound)
{
    for (int i = 0; i < recent->count; i++) {
        if (same_key(recent->a[i], *a) && same_key(recent->b[i], b)) {
            *a = recent->a[i];
            return recent->answer[i];
        }
    }
    PyObject *found = cached_call(cache, callable, *a, b, bound);
    if (found == NULL) {
        return NULL;
    }
    int slot = recent->next;
    recent->next = (slot + 1) % RECENT;
    if (slot < recent->count) {
        Py_DECREF(recent->a[slot]);
        Py_DECREF(recent->b[slot]);
        Py_DECREF(recent->answer[slot]);
    } else {
        recent->count++;
    }
    recent->a[slot] = Py_NewRef(*a);
    recent->b[slot] = Py_NewRef(b);
    recent->answer[slot] = found;
    return found;
}

static void
recent_clear(Recent *recent)
{
    for (int i = 0; i < recent->count; i++) {
        Py_DECREF(recent->a[i]);
        Py_DECREF(recent->b[i]);
        Py_DECREF(recent->answer[i]);
    }
    recent->count = recent->next = 0;
}

/* A record of the GIVEN values, every other field at its default, without
 * calling the type: its __post_init__ only normalizes what is already normal
 * here (a start in datetime.UTC, a Decimal, a CostSource member, no tags), and
 * is a Python call per record. The record type is a frozen msgspec Struct
 * without GC (checked by configure), allocated as msgspec allocates it. */
static PyObject *
new_record(PyObject *const *given)
{
    PyObject *record = record_type->tp_alloc(record_type, 0); /* zeroed slots */
    if (record == NULL) {
        return NULL;
    }
    for (int i = 0; i < GIVEN; i++) {
        *(PyObject **)((char *)record + given_offsets[i]) = Py_NewRef(given[i]);
    }
    /* The defaults are a few shared objects (0, "", ()): one reference count
     * update per object, not per field (a chain of increments of one counter
     * was the hottest line of this file). */
#ifdef Py_GIL_DISABLED /* free-threaded builds: reference counts are not plain fields */
    for (Py_ssize_t i = 0; i < other_count; i++) {
        *(PyObject **)((char *)record + other_offsets[i]) = Py_NewRef(other_defaults[i]);
    }
#else
    for (Py_ssize_t i = 0; i < distinct_count; i++) {
        Py_SET_REFCNT(distinct_defaults[i], Py_REFCNT(distinct_defaults[i]) + distinct_uses[i]);
    }
    for (Py_ssize_t i = 0; i < other_count; i++) {
        *(PyObject **)((char *)record + other_offsets[i]) = other_defaults[i];
    }
#endif
    return record;
}

/* One row in C: 1 with the record merged, 0 when Python must build it, -1 on error. */
static int
build_row(Layout *layout, PyObject *row, PyObject *const *bucket, PyObject *merged, int direct,
          Recent *qualifications, Recent *rates)
{
    /* bucket: start, width, account, prices, price_of */
    if (Py_TYPE(row) != layout->row_type) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < layout->guard_count; i++) {
        PyObject *value = field_value(row, &layout->guards[i]);
        if (value == NULL || (value != Py_None && (!PyLong_CheckExact(value) ||
                                                   PyObject_IsTrue(value)))) {
            return 0;
        }
    }
    PyObject *values[COUNTERS];
    long long counts[COUNTERS];
    for (int i = 0; i < COUNTERS; i++) {
        PyObject *value = field_value(row, &layout->counters[i]);
        if (value == NULL) {
            return 0;
        }
        if (value == Py_None) {
            value = zero;
        }
        if (!count_of(value, &counts[i])) {
            return 0;
        }
        values[i] = value;
    }
    PyObject *uncached = NULL; /* owned when derived from the total */
    if (layout->total.offset >= 0 && field_value(row, &layout->counters[0]) == Py_None) {
        long long total;
        PyObject *value = field_value(row, &layout->total);
        if (value == NULL || !count_of(value, &total)) {
            return 0;
        }
        if (counts[1] > total || counts[2] > total - counts[1]) {
            return 0; /* Python raises the row's error */
        }
        counts[0] = total - counts[1] - counts[2];
        if ((uncached = PyLong_FromLongLong(counts[0])) == NULL) {
            return -1;
        }
        values[0] = uncached;
    }
    PyObject *dimensions[DIMENSIONS];
    for (int i = 0; i < DIMENSIONS; i++) {
        PyObject *value = field_value(row, &layout->dimensions[i]);
        if (value == NULL || (value != Py_None && !PyUnicode_CheckExact(value))) {
            Py_XDECREF(uncached);
            return 0;
        }
        dimensions[i] = value == Py_None || PyUnicode_GET_LENGTH(value) == 0 ? layout->defaults[i]
                                                                               : value;
    }
    PyObject *q1 = field_value(row, &layout->qualifiers[0]), *q2 = field_value(row, &layout->qualifiers[1]);
    if (q1 == NULL || q2 == NULL) {
        Py_XDECREF(uncached);
        return 0;
    }
    int result = -1;
    PyObject *cost = NULL, *record = NULL;
    /* Borrowed from the Recent caches, which hold them until build() returns. */
    PyObject *qualified = recent_call(qualifications, layout->qualified, layout->qualify, &q1, q2,
                                      MAX_QUALIFIED);
    if (qualified == NULL) {
        goto done;
    }
    if (!PyTuple_CheckExact(qualified) || PyTuple_GET_SIZE(qualified) != 2) {
        PyErr_SetString(PyExc_TypeError, "qualify() must give (line_item, tier)");
        goto done;
    }
    PyObject *prepared = recent_call(rates, bucket[3], bucket[4], &dimensions[0],
                                     PyTuple_GET_ITEM(qualified, 1), PY_SSIZE_T_MAX);
    if (prepared == NULL) {
        goto done;
    }
    PyObject *source, *price_source;
    int priced = price(prepared, counts, &cost, &source, &price_source);
    if (priced <= 0) {
        result = priced;
        goto done;
    }
    PyObject *args[] = {
        bucket[0], bucket[1], layout->provider, bucket[2], source, cost,
        dimensions[0], dimensions[1], dimensions[2], dimensions[3],
        PyTuple_GET_ITEM(qualified, 0),
        values[0], values[1], values[2], values[3], values[4], values[5],
        price_source,
    };
    record = direct ? new_record(args) : PyObject_Vectorcall((PyObject *)record_type, args, 17,
                                                             price_source_kwnames);
    if (record != NULL && merge(merged, record) == 0) {
        result = 1;
    }
done:
    Py_XDECREF(record);
    Py_XDECREF(cost);
    Py_XDECREF(uncached);
    return result;
}

PyDoc_STRVAR(build_doc,
"build(layout, rows, start, width, account, prices, price_of, slow, merged)\n\n"
"Merge the record of every row of one bucket into *merged* (by key, summing\n"
"duplicates with add_records). *prices* caches *price_of(model, tier)*: None\n"
"(unpriced) or (packed weights and denominator, price source), anything else\n"
"meaning Python prices the row. A row this module cannot build is given to\n"
"*slow(row, number)*, which returns None, a record or a tuple of records.");

static PyObject *
build(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (record_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    if (nargs != 9 || !Py_IS_TYPE(args[0], &LayoutType) || !PyList_CheckExact(args[1]) ||
        !PyDict_CheckExact(args[5]) || !PyDict_CheckExact(args[8])) {
        PyErr_SetString(PyExc_TypeError, "build(layout, rows: list, start, width, account, "
                                         "prices: dict, price_of, slow, merged: dict)");
        return NULL;
    }
    Layout *layout = (Layout *)args[0];
    PyObject *rows = args[1], *slow = args[7], *merged = args[8];
    PyObject *const *bucket = args + 2;
    PyObject *zone = PyObject_GetAttrString(bucket[0], "tzinfo");
    if (zone == NULL) {
        return NULL;
    }
    int direct = zone == utc;
    Py_DECREF(zone);
    Recent qualifications = {.count = 0}, rates = {.count = 0};
    PyObject *outcome = Py_None;
    for (Py_ssize_t number = 0; number < PyList_GET_SIZE(rows); number++) {
        PyObject *row = PyList_GET_ITEM(rows, number);
        Py_INCREF(row); /* a callback could change the list */
        int done = build_row(layout, row, bucket, merged, direct, &qualifications, &rates);
        if (done == 0) {
            PyObject *index = PyLong_FromSsize_t(number);
            PyObject *built =
                index == NULL ? NULL : PyObject_CallFunctionObjArgs(slow, row, index, NULL);
            Py_XDECREF(index);
            done = built == NULL ? -1 : merge_built(merged, built);
            Py_XDECREF(built);
        }
        Py_DECREF(row);
        if (done < 0) {
            outcome = NULL;
            break;
        }
    }
    recent_clear(&qualifications);
    recent_clear(&rates);
    return Py_XNewRef(outcome);
}

PyDoc_STRVAR(configure_doc,
"configure(record_type, given, others, key_fields, decimal_type, estimated, unpriced,\n"
"          add_records, utc)\n\n"
"The record type, the 18 fields a built record is given (its first 17 and\n"
"price_source, by name), (name, default) of every other field, the slots of\n"
"its merge key, Decimal, the two CostSource members, the function that sums\n"
"two records of one key and datetime.UTC.");

static int
offsets_of(PyTypeObject *type, PyObject *names, Py_ssize_t *offsets, Py_ssize_t count)
{
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) != count) {
        PyErr_Format(PyExc_ValueError, "expected %zd field names", count);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (offset_of(type, PyTuple_GET_ITEM(names, i), &offsets[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyTypeObject *type;
    PyObject *given, *others, *keys, *decimal, *estimated_source, *unpriced_source, *add, *zone;
    if (!PyArg_ParseTuple(args, "O!OO!OOOOOO", &PyType_Type, &type, &given, &PyTuple_Type,
                          &others, &keys, &decimal, &estimated_source, &unpriced_source, &add,
                          &zone)) {
        return NULL;
    }
    if (PyType_IS_GC(type) || PyTuple_GET_SIZE(others) > MAX_RECORD_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "the record type must not be tracked by the GC "
                                         "and have at most 64 other fields");
        return NULL;
    }
    if (offsets_of(type, given, given_offsets, GIVEN) < 0 ||
        offsets_of(type, keys, key_offsets, KEY_FIELDS) < 0) {
        return NULL;
    }
    distinct_count = 0;
    for (Py_ssize_t i = 0; i < other_count; i++) {
        Py_CLEAR(other_defaults[i]);
    }
    other_count = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(others); i++) {
        PyObject *name, *value;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(others, i), "UO", &name, &value) ||
            offset_of(type, name, &other_offsets[i]) < 0) {
            return NULL;
        }
        other_defaults[i] = Py_NewRef(value);
        other_count = i + 1;
    }
    distinct_count = 0;
    for (Py_ssize_t i = 0; i < other_count; i++) {
        Py_ssize_t j = 0;
        while (j < distinct_count && distinct_defaults[j] != other_defaults[i]) {
            j++;
        }
        if (j == distinct_count) {
            distinct_defaults[j] = other_defaults[i]; /* borrowed: other_defaults holds it */
            distinct_uses[j] = 0;
            distinct_count++;
        }
        distinct_uses[j]++;
    }
    PyObject *cost = PyObject_CallOneArg(decimal, zero);
    if (cost == NULL) {
        return NULL;
    }
    Py_XSETREF(zero_cost, cost);
    Py_XSETREF(record_type, (PyTypeObject *)Py_NewRef(type));
    Py_XSETREF(decimal_type, Py_NewRef(decimal));
    Py_XSETREF(estimated, Py_NewRef(estimated_source));
    Py_XSETREF(unpriced, Py_NewRef(unpriced_source));
    Py_XSETREF(add_records, Py_NewRef(add));
    Py_XSETREF(utc, Py_NewRef(zone));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, configure_doc},
    {"build", (PyCFunction)(void (*)(void))build, METH_FASTCALL, build_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_usage_rows",
    "Text usage rows to CostRecords in one C loop (see providers/usage_rows.py).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__usage_rows(void)
{
    if (PyType_Ready(&LayoutType) < 0) {
        return NULL;
    }
    if (empty == NULL && (empty = PyUnicode_FromString("")) == NULL) {
        return NULL;
    }
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return NULL;
    }
    if (price_source_kwnames == NULL &&
        (price_source_kwnames = Py_BuildValue("(s)", "price_source")) == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Layout", (PyObject *)&LayoutType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
