/* Line protocol for a batch of CostRecords in one C loop (optional accelerator).
 *
 * The reference is the pure-Python ``LineEncoder.lines`` in encoder.py: for every
 * record this writes exactly the bytes of its line there, UTF-8, each line ending in
 * a newline (tests/storage/test_speedups.py compares them on the golden records and
 * on hypothesis-generated ones). Whatever needs Python's rules is asked of Python:
 * the series text (tag escaping, sorting) and the timestamp text on a cache miss,
 * the price-source field, and money whose decimal text is not the plain common case.
 * This file only reads the record's slots, formats integers and copies bytes.
 *
 * Why C at all: per point the Python loop is an f-string of eight integers, a
 * 9-field tuple and a dict lookup, about 3-5 us on this project's 2-core VM,
 * while issue 16 asks for <= 1 us (docs/performance.md). Built by hatch_build.py
 * where a C compiler and Python's headers exist; without them costpipe uses the
 * Python encoder, with identical output.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdio.h>
#include <string.h>

#define MAX_FIELDS 64

/* What configure() was given: the record type and where its slots are. */
static PyTypeObject *record_type = NULL;
static Py_ssize_t key_offsets[MAX_FIELDS];
static Py_ssize_t key_count = 0;
static Py_ssize_t start_offset, cost_offset, source_offset;
static Py_ssize_t counter_offsets[MAX_FIELDS];
static PyObject *counter_prefixes[MAX_FIELDS]; /* bytes ",<name>=" */
static PyObject *counter_zeros[MAX_FIELDS];    /* bytes ",<name>=0i": most counters are 0 */
static PyObject *zero = NULL;                  /* the int 0 (CPython keeps one) */
static Py_ssize_t counter_count = 0;

/* The request body, written in place into a bytes object (no copy at the end). */
typedef struct {
    PyObject *bytes;
    char *data;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Buffer;

static int
buffer_init(Buffer *buffer, Py_ssize_t capacity)
{
    buffer->bytes = PyBytes_FromStringAndSize(NULL, capacity);
    if (buffer->bytes == NULL) {
        return -1;
    }
    buffer->data = PyBytes_AS_STRING(buffer->bytes);
    buffer->size = 0;
    buffer->capacity = capacity;
    return 0;
}

static int
buffer_grow(Buffer *buffer, Py_ssize_t more)
{
    Py_ssize_t capacity = buffer->capacity;
    while (capacity < buffer->size + more) {
        capacity *= 2;
    }
    if (_PyBytes_Resize(&buffer->bytes, capacity) < 0) {
        return -1; /* _PyBytes_Resize has freed it and set the error */
    }
    buffer->data = PyBytes_AS_STRING(buffer->bytes);
    buffer->capacity = capacity;
    return 0;
}

static inline int
buffer_reserve(Buffer *buffer, Py_ssize_t more)
{
    if (buffer->size + more <= buffer->capacity) {
        return 0;
    }
    return buffer_grow(buffer, more);
}

static inline int
buffer_write(Buffer *buffer, const char *text, Py_ssize_t length)
{
    if (buffer_reserve(buffer, length) < 0) {
        return -1;
    }
    memcpy(buffer->data + buffer->size, text, length);
    buffer->size += length;
    return 0;
}

/* A str's UTF-8 bytes (cached inside the str object by CPython). */
static int
buffer_write_str(Buffer *buffer, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "expected str, got %.100s", Py_TYPE(text)->tp_name);
        return -1;
    }
    Py_ssize_t length;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &length);
    if (utf8 == NULL) {
        return -1;
    }
    return buffer_write(buffer, utf8, length);
}

static int
buffer_write_u64(Buffer *buffer, unsigned long long value)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    if (buffer_reserve(buffer, n) < 0) {
        return -1;
    }
    while (n) {
        buffer->data[buffer->size++] = digits[--n];
    }
    return 0;
}

/* An integer field as an f-string writes it: plain ints fast, anything else by format(). */
static int
buffer_write_int(Buffer *buffer, PyObject *value)
{
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow && !(number == -1 && PyErr_Occurred())) {
            if (number < 0) {
                if (buffer_write(buffer, "-", 1) < 0) {
                    return -1;
                }
                return buffer_write_u64(buffer, 0ULL - (unsigned long long)number);
            }
            return buffer_write_u64(buffer, (unsigned long long)number);
        }
        PyErr_Clear();
    }
    PyObject *text = PyObject_Format(value, NULL);
    if (text == NULL) {
        return -1;
    }
    int result = buffer_write_str(buffer, text);
    Py_DECREF(text);
    return result;
}

static PyObject *
slot(PyObject *record, Py_ssize_t offset)
{
    PyObject *value = *(PyObject **)((char *)record + offset);
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "record field is unset");
    }
    return value;
}

static const unsigned long long POW10[] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL,
};

static int
write_nanos(Buffer *buffer, unsigned long long nanos)
{
    if (buffer_write(buffer, ",cost_nanos=", 12) < 0 || buffer_write_u64(buffer, nanos) < 0) {
        return -1;
    }
    return buffer_write(buffer, "i", 1);
}

/* cost_usd=<shown>,cost_nanos=<nanos>i from the Decimal's text, as cost_texts()
 * in encoder.py gives them, for the texts a provider or the pricing produces:
 * plain non-negative text of at most 15 characters with at most 9 whole digits,
 * and zero with an exponent ("0E-10"); 1 for any other text (Python then). */
static int
write_plain_money(Buffer *buffer, const char *text, Py_ssize_t length)
{
    if (length > 15 || length == 0) {
        return 1;
    }
    if (length >= 3 && text[0] == '0' && text[1] == 'E') {
        /* Zero with an exponent: float 0.0, no nanodollars. */
        for (Py_ssize_t i = 2; i < length; i++) {
            char c = text[i];
            if (!((c >= '0' && c <= '9') || ((c == '-' || c == '+') && i == 2))) {
                return 1;
            }
        }
        if (buffer_write(buffer, "0.0", 3) < 0) {
            return -1;
        }
        return write_nanos(buffer, 0);
    }
    const char *dot = NULL;
    for (Py_ssize_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == '.') {
            if (dot) {
                return 1;
            }
            dot = text + i;
        }
        else if (c < '0' || c > '9') {
            return 1; /* 'E', a sign, NaN: not the plain case */
        }
    }
    Py_ssize_t whole_digits = dot ? dot - text : length;
    Py_ssize_t fraction_digits = dot ? length - whole_digits - 1 : 0;
    if (whole_digits > 9 || whole_digits == 0 || (dot && fraction_digits == 0)) {
        return 1; /* the nanodollars could overflow 64 bits: Python's integers */
    }
    unsigned long long digits = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        if (text[i] != '.') {
            digits = digits * 10 + (unsigned long long)(text[i] - '0');
        }
    }
    unsigned long long nanos;
    if (fraction_digits <= 9) {
        nanos = digits * POW10[9 - fraction_digits];
    }
    else {
        unsigned long long scale = POW10[fraction_digits - 9];
        nanos = digits / scale;
        unsigned long long rest = digits % scale, half = scale >> 1;
        if (rest > half || (rest == half && (nanos & 1))) {
            nanos += 1; /* half-even, as cost_nanos rounds */
        }
    }
    if (dot == NULL) {
        /* An integer: "12" is the float 12.0. */
        if (buffer_write(buffer, text, length) < 0 || buffer_write(buffer, ".0", 2) < 0) {
            return -1;
        }
        return write_nanos(buffer, nanos);
    }
    Py_ssize_t shown = length;
    while (text[shown - 1] == '0') {
        shown--;
    }
    /* At least 1e-4, by Python's str order ("0.0001" <= text): repr() of the
     * float is positional, the text without its trailing zeros. */
    Py_ssize_t common = length < 6 ? length : 6;
    int order = memcmp(text, "0.0001", common);
    if (order > 0 || (order == 0 && length >= 6)) {
        if (buffer_write(buffer, text, shown) < 0) {
            return -1;
        }
        if (text[shown - 1] == '.' && buffer_write(buffer, "0", 1) < 0) {
            return -1;
        }
        return write_nanos(buffer, nanos);
    }
    /* Below 1e-4 ("0.0000681"): repr() of the float is d.ddde-XX, its digits
     * the decimal's significant ones (at most 13 here, so they round-trip). */
    Py_ssize_t first = whole_digits + 1;
    while (first < shown && text[first] == '0') {
        first++;
    }
    if (first == shown) {
        /* Zero ("0.000"): repr(0.0). */
        if (buffer_write(buffer, "0.0", 3) < 0) {
            return -1;
        }
        return write_nanos(buffer, nanos);
    }
    int exponent = (int)(first - whole_digits); /* the value is d.ddd x 10^-exponent */
    char scientific[40];
    int n = 0;
    scientific[n++] = text[first];
    if (shown - first > 1) {
        scientific[n++] = '.';
        for (Py_ssize_t i = first + 1; i < shown; i++) {
            scientific[n++] = text[i];
        }
    }
    n += snprintf(scientific + n, sizeof scientific - n, "e-%02d", exponent);
    if (buffer_write(buffer, scientific, n) < 0) {
        return -1;
    }
    return write_nanos(buffer, nanos);
}

static int
write_money(Buffer *buffer, PyObject *cost, PyObject *money_fallback)
{
    PyObject *text = PyObject_Str(cost);
    if (text == NULL) {
        return -1;
    }
    Py_ssize_t length;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &length);
    int result = utf8 == NULL ? -1 : write_plain_money(buffer, utf8, length);
    Py_DECREF(text);
    if (result != 1) {
        return result;
    }
    /* (shown, nanos) by Python's rules; raises ValueError for NaN or infinity. */
    PyObject *pair = PyObject_CallOneArg(money_fallback, cost);
    if (pair == NULL) {
        return -1;
    }
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "money fallback must return (shown, nanos)");
        return -1;
    }
    result = buffer_write_str(buffer, PyTuple_GET_ITEM(pair, 0));
    if (result == 0) {
        result = buffer_write(buffer, ",cost_nanos=", 12);
    }
    if (result == 0) {
        result = buffer_write_int(buffer, PyTuple_GET_ITEM(pair, 1));
    }
    if (result == 0) {
        result = buffer_write(buffer, "i", 1);
    }
    Py_DECREF(pair);
    return result;
}

/* cache[key], or miss(key) (which stores it); a new reference. */
static PyObject *
cached(PyObject *cache, PyObject *key, PyObject *miss)
{
    PyObject *value = PyDict_GetItemWithError(cache, key);
    if (value != NULL) {
        Py_INCREF(value);
        return value;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyObject_CallOneArg(miss, key);
}

/* The series key of *record*: a tuple of its key fields. The previous record's
 * tuple is refilled when nothing else holds it (a cache hit), which saves an
 * allocation per point; a miss stores it in the cache, and a new one is made. */
static PyObject *
series_key(PyObject *record, PyObject **spare)
{
    PyObject *key = *spare;
    *spare = NULL;
#if PY_VERSION_HEX >= 0x030E0000
    /* Python 3.14 caches a tuple's hash: never refill one there. */
    Py_XDECREF(key);
    key = NULL;
#endif
    if (key != NULL && Py_REFCNT(key) != 1) {
        Py_DECREF(key);
        key = NULL;
    }
    if (key == NULL) {
        key = PyTuple_New(key_count);
        if (key == NULL) {
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < key_count; i++) {
        PyObject *value = slot(record, key_offsets[i]);
        if (value == NULL) {
            Py_DECREF(key);
            return NULL;
        }
        Py_INCREF(value);
        PyObject *old = PyTuple_GET_ITEM(key, i);
        PyTuple_SET_ITEM(key, i, value);
        Py_XDECREF(old);
    }
    return key;
}

static int
encode_one(Buffer *buffer, PyObject *record, PyObject **args, PyObject **last_start,
           PyObject **stamp, PyObject **spare)
{
    PyObject *series_cache = args[1], *series_miss = args[2], *stamps = args[3];
    PyObject *stamp_miss = args[4], *sources = args[5], *source_miss = args[6];
    PyObject *money_fallback = args[7];
    PyObject *key = series_key(record, spare);
    if (key == NULL) {
        return -1;
    }
    PyObject *series = cached(series_cache, key, series_miss);
    *spare = key; /* reused for the next point only if the cache did not keep it */
    if (series == NULL) {
        return -1;
    }
    int result = -1;
    PyObject *source_text = NULL;
    if (!PyTuple_Check(series) || PyTuple_GET_SIZE(series) != 2) {
        PyErr_SetString(PyExc_TypeError, "series text must be (head, tail)");
        goto done;
    }
    PyObject *start = slot(record, start_offset);
    PyObject *cost = slot(record, cost_offset);
    PyObject *source = slot(record, source_offset);
    if (start == NULL || cost == NULL || source == NULL) {
        goto done;
    }
    if (start != *last_start) {
        PyObject *text = cached(stamps, start, stamp_miss);
        if (text == NULL) {
            goto done;
        }
        Py_XSETREF(*stamp, text);
        Py_INCREF(start);
        Py_XSETREF(*last_start, start);
    }
    source_text = cached(sources, source, source_miss);
    if (source_text == NULL) {
        goto done;
    }
    if (buffer_write_str(buffer, PyTuple_GET_ITEM(series, 0)) < 0 ||
        write_money(buffer, cost, money_fallback) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < counter_count; i++) {
        PyObject *value = slot(record, counter_offsets[i]);
        if (value == NULL) {
            goto done;
        }
        if (value == zero) {
            if (buffer_write(buffer, PyBytes_AS_STRING(counter_zeros[i]),
                             PyBytes_GET_SIZE(counter_zeros[i])) < 0) {
                goto done;
            }
            continue;
        }
        if (buffer_write(buffer, PyBytes_AS_STRING(counter_prefixes[i]),
                         PyBytes_GET_SIZE(counter_prefixes[i])) < 0 ||
            buffer_write_int(buffer, value) < 0 || buffer_write(buffer, "i", 1) < 0) {
            goto done;
        }
    }
    if (buffer_write(buffer, ",", 1) < 0 || buffer_write_str(buffer, source_text) < 0 ||
        buffer_write_str(buffer, PyTuple_GET_ITEM(series, 1)) < 0 ||
        buffer_write_str(buffer, *stamp) < 0 || buffer_write(buffer, "\n", 1) < 0) {
        goto done;
    }
    result = 0;
done:
    Py_XDECREF(source_text);
    Py_DECREF(series);
    return result;
}

PyDoc_STRVAR(encode_doc,
"encode(records, series_cache, series_miss, stamps, stamp_miss, sources, source_miss,\n"
"       money_fallback) -> bytes\n\n"
"The request body of *records* (a list of the configured record type): every\n"
"line of LineEncoder.lines, each ending in a newline, UTF-8; None if a record\n"
"is not exactly of the configured type.");

static PyObject *
encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "encode() takes 8 arguments");
        return NULL;
    }
    if (record_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() was not called");
        return NULL;
    }
    PyObject *records = args[0];
    if (!PyList_Check(records) || !PyDict_Check(args[1]) || !PyDict_Check(args[3]) ||
        !PyDict_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "encode() takes a list and three dicts");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(records);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (Py_TYPE(PyList_GET_ITEM(records, i)) != record_type) {
            Py_RETURN_NONE; /* a subclass may have other slots: the caller uses Python */
        }
    }
    Buffer buffer;
    if (buffer_init(&buffer, count * 320 + 64) < 0) {
        return NULL;
    }
    PyObject *last_start = NULL, *stamp = NULL, *spare = NULL;
    PyObject *body = NULL;
    Py_INCREF(records); /* a miss callback runs Python code; keep the list alive */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        Py_INCREF(record);
        int result =
            encode_one(&buffer, record, (PyObject **)args, &last_start, &stamp, &spare);
        Py_DECREF(record);
        if (result < 0) {
            goto done;
        }
    }
    if (_PyBytes_Resize(&buffer.bytes, buffer.size) == 0) {
        body = buffer.bytes;
    }
    buffer.bytes = NULL; /* handed on, or freed by _PyBytes_Resize */
done:
    Py_DECREF(records);
    Py_XDECREF(last_start);
    Py_XDECREF(stamp);
    Py_XDECREF(spare);
    Py_XDECREF(buffer.bytes);
    return body;
}

static int
offset_of(PyTypeObject *type, PyObject *name, Py_ssize_t *offset)
{
    PyObject *descriptor = PyDict_GetItemWithError(type->tp_dict, name);
    if (descriptor == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_AttributeError, "%.100s has no field %R", type->tp_name, name);
        }
        return -1;
    }
    if (!Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "field %R is not a slot", name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
    if (member->type != T_OBJECT_EX && member->type != T_OBJECT) {
        PyErr_Format(PyExc_TypeError, "field %R does not hold an object", name);
        return -1;
    }
    *offset = member->offset;
    return 0;
}

PyDoc_STRVAR(configure_doc,
"configure(record_type, key_fields, start, cost, price_source, counters)\n\n"
"Where encode() finds the series key (a tuple of *key_fields*, in order), the\n"
"bucket start, the cost, the price source and the integer counters (written\n"
"as ,<name>=<value>i in order) of *record_type*'s slots.");

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyTypeObject *type;
    PyObject *keys, *start, *cost, *source, *counters;
    if (!PyArg_ParseTuple(args, "O!O!UUUO!", &PyType_Type, &type, &PyTuple_Type, &keys, &start,
                          &cost, &source, &PyTuple_Type, &counters)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(keys) > MAX_FIELDS || PyTuple_GET_SIZE(counters) > MAX_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "too many fields");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(keys); i++) {
        if (offset_of(type, PyTuple_GET_ITEM(keys, i), &key_offsets[i]) < 0) {
            return NULL;
        }
    }
    if (offset_of(type, start, &start_offset) < 0 || offset_of(type, cost, &cost_offset) < 0 ||
        offset_of(type, source, &source_offset) < 0) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < counter_count; i++) {
        Py_CLEAR(counter_prefixes[i]);
        Py_CLEAR(counter_zeros[i]);
    }
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return NULL;
    }
    counter_count = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(counters); i++) {
        PyObject *name = PyTuple_GET_ITEM(counters, i);
        if (offset_of(type, name, &counter_offsets[i]) < 0) {
            return NULL;
        }
        PyObject *prefix = PyBytes_FromFormat(",%s=", PyUnicode_AsUTF8(name));
        if (prefix == NULL) {
            return NULL;
        }
        PyObject *zeroed = PyBytes_FromFormat(",%s=0i", PyUnicode_AsUTF8(name));
        if (zeroed == NULL) {
            Py_DECREF(prefix);
            return NULL;
        }
        counter_prefixes[i] = prefix;
        counter_zeros[i] = zeroed;
        counter_count = i + 1;
    }
    key_count = PyTuple_GET_SIZE(keys);
    Py_INCREF(type);
    Py_XSETREF(record_type, type);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, configure_doc},
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL, encode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "costpipe.sinks.influxdb._speedups",
    "Line protocol for a batch of records in C (see encoder.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
