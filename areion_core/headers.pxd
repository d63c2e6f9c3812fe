# Cython declarations that augment headers.py (the only source) when it is compiled (setup.py;
# a pure-Python install never reads this file): the header fields become extension types,
# whose compiled methods reach the fields without a lookup and whose __setitem__ is a C slot.
# Arguments stay untyped where a caller may pass a subclass (a bytes subclass as a body).
import cython

# Whether this module runs compiled (always True here): a C variable, so that the compiled
# branches of the hot methods cost a test, not a module-global lookup.
cdef bint _COMPILED


cdef class _RequestHeaderFields:
    cdef public list _raw
    cdef public object _first, _all
    cdef public Py_ssize_t _scans


cdef class _CompiledStamp


cdef class _ResponseHeaderFields:
    cdef public dict _d
    cdef public object _wire
    cdef public str _tail
    cdef public bint _own
    cdef public _CompiledStamp _stamp
    cdef public tuple _stamped

    @cython.locals(new=_ResponseHeaderFields)
    cpdef copy(self)


cdef class _CompiledStamp:
    cdef public tuple display, names, prefixes, templates, lines
    cdef public Py_ssize_t count
    cdef public object clean


@cython.locals(fields=_ResponseHeaderFields, names=tuple, d=dict)
cpdef bint _stamp_values(_CompiledStamp stamp, headers, tuple values) except -1


@cython.locals(names=tuple, d=dict, filled=tuple, visible=bint, i=Py_ssize_t, tail=str)
cdef int _apply_stamp(_CompiledStamp stamp, _ResponseHeaderFields fields, tuple values) except -1


@cython.locals(template=_ResponseHeaderFields, new=_ResponseHeaderFields)
cpdef content_type_only(content_type)


@cython.locals(headers=_ResponseHeaderFields, stamp=_CompiledStamp)
cpdef bytes encode_head(response, constant_headers, bint keep_alive, content_length, bint chunked=*, body=*)


@cython.locals(ch=Py_UCS4)
cpdef bint _visible_ascii(str text)


@cython.locals(size=Py_ssize_t)
cpdef raw_header(list raw, bytes name)


cpdef tuple raw_header_values(list raw, tuple names)


# areion_header_values: raw_header_values in C. One pass over the pairs (it stops once every
# name is found), each name compared in place, its ASCII letters in any case (no lower() copy),
# the values put straight into the tuple returned. A pair that is not a 2-tuple starting with
# bytes, or a name that is not bytes, is a TypeError.
cdef extern from *:
    """
    static PyObject *areion_header_values(PyObject *raw, PyObject *names) {
        Py_ssize_t count = PyTuple_GET_SIZE(names), left = count, i, j, k, size;
        PyObject *found, *pair, *key, *name;
        const unsigned char *a, *b;
        for (i = 0; i < count; i++) {
            if (!PyBytes_Check(PyTuple_GET_ITEM(names, i))) {
                PyErr_SetString(PyExc_TypeError, "raw_header_values: each name must be bytes");
                return NULL;
            }
        }
        found = PyTuple_New(count);
        if (found == NULL) {
            return NULL;
        }
        for (j = 0; j < PyList_GET_SIZE(raw) && left > 0; j++) {
            pair = PyList_GET_ITEM(raw, j);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(pair, 0))) {
                Py_DECREF(found);
                PyErr_SetString(PyExc_TypeError, "raw_header_values: each raw pair must be (bytes, bytes)");
                return NULL;
            }
            key = PyTuple_GET_ITEM(pair, 0);
            size = PyBytes_GET_SIZE(key);
            a = (const unsigned char *)PyBytes_AS_STRING(key);
            for (i = 0; i < count; i++) {
                name = PyTuple_GET_ITEM(names, i);
                if (PyTuple_GET_ITEM(found, i) != NULL || PyBytes_GET_SIZE(name) != size) {
                    continue;
                }
                b = (const unsigned char *)PyBytes_AS_STRING(name);
                for (k = 0; k < size; k++) {
                    if (a[k] != b[k] && !(b[k] >= 'a' && b[k] <= 'z' && (a[k] | 0x20) == b[k])) {
                        break;
                    }
                }
                if (k == size) {
                    Py_INCREF(PyTuple_GET_ITEM(pair, 1));
                    PyTuple_SET_ITEM(found, i, PyTuple_GET_ITEM(pair, 1));
                    left--;
                }
            }
        }
        for (i = 0; i < count; i++) {
            if (PyTuple_GET_ITEM(found, i) == NULL) {
                Py_INCREF(Py_None);
                PyTuple_SET_ITEM(found, i, Py_None);
            }
        }
        return found;
    }
    """
    tuple _areion_header_values "areion_header_values"(list raw, tuple names)


@cython.locals(us=cython.longlong, whole=cython.longlong)
cpdef str elapsed_ms(received_ns)


# areion_elapsed_ms: elapsed_ms's work for an exact int that fits a long long, as
# time.perf_counter_ns() reads the clock (CPython's perf-counter clock, read directly rather
# than through a call of the time module's function) and the digits written into one new
# string: about a tenth of the instructions of the same in Python objects (int subtraction,
# two table lookups and a concatenation). None (no error) for any other argument.
cdef extern from *:
    """
    #include <limits.h>
    #include <string.h>

    static PyObject *areion_elapsed_ms(PyObject *received) {
        long long start, us, whole;
        int overflow = 0;
        char digits[32];
        char *at = digits + sizeof(digits);
        Py_ssize_t size;
        PyObject *made;
    #if PY_VERSION_HEX >= 0x030D0000
        PyTime_t now;
    #else
        _PyTime_t now;
    #endif
        if (!PyLong_CheckExact(received)) {
            Py_RETURN_NONE;
        }
        start = PyLong_AsLongLongAndOverflow(received, &overflow);
        if (overflow || (start == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
    #if PY_VERSION_HEX >= 0x030D0000
        if (PyTime_PerfCounter(&now) < 0) {
            return NULL;
        }
    #else
        now = _PyTime_GetPerfCounter();
    #endif
        if (start < 0 && now > LLONG_MAX + start) {
            Py_RETURN_NONE;  /* the difference would not fit: Python's ints do it */
        }
        if (start > 0 && now < LLONG_MIN + start) {
            Py_RETURN_NONE;
        }
        us = now - start;
        us = us > LLONG_MAX - 500 ? us / 1000 : (us + 500 >= 0 ? (us + 500) / 1000 : 0);
        whole = us / 1000;
        us -= whole * 1000;
        *--at = (char)('0' + us % 10);
        *--at = (char)('0' + us / 10 % 10);
        *--at = (char)('0' + us / 100);
        *--at = '.';
        do {
            *--at = (char)('0' + whole % 10);
            whole /= 10;
        } while (whole);
        size = digits + sizeof(digits) - at;
        made = PyUnicode_New(size, 127);
        if (made == NULL) {
            return NULL;
        }
        memcpy(PyUnicode_1BYTE_DATA(made), at, size);
        return made;
    }
    """
    object _areion_elapsed_ms "areion_elapsed_ms"(object received)


# A MutableHeaders made by its type's tp_new (the extension type's, which MutableHeaders
# inherits), without __init__: what `_ResponseHeaderFields.__new__(MutableHeaders)` does in
# Python, without the method lookup and tp_new_wrapper's checks (about 700 instructions, once
# per response that a handler returns as a dict or a str).
cdef extern from *:
    """
    static PyObject *areion_blank_headers(PyObject *type) {
        PyObject *none = PyTuple_New(0);
        PyObject *made;
        if (none == NULL) {
            return NULL;
        }
        made = ((PyTypeObject *)type)->tp_new((PyTypeObject *)type, none, NULL);
        Py_DECREF(none);
        return made;
    }
    """
    object _areion_blank_headers "areion_blank_headers"(object type)


# A compiled HeaderStamp's C helpers.
# areion_visible_ascii: whether a str is printable ASCII (SP to "~"), the usual header value:
# an ASCII string's bytes compared eight at a time (all below 0x80, a byte is a control
# character when it is below 0x20 or is 0x7f), about 2 instructions a character, against 13
# for Cython's loop over a str's code points.
# areion_all_visible: whether every value of a tuple is an exact str of printable ASCII.
# areion_stamp_lines: a pending stamp's lines as bytes, written into the head by encode_head:
# each line's parts (ASCII literals, value numbers) then CR LF, into one new bytes object.
# areion_lines: ``tail`` followed by "prefix value CR LF" for each pair, written straight into
# one new ASCII string; for ASCII strings only (the caller checks ``tail`` with
# areion_is_ascii; the values were checked, the prefixes are tokens).
cdef extern from *:
    """
    #include <string.h>

    static int areion_visible_ascii(PyObject *text) {
        const unsigned char *at;
        Py_ssize_t i = 0, size;
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        if (!PyUnicode_IS_ASCII(text)) {
            return 0;
        }
        at = PyUnicode_1BYTE_DATA(text);
        size = PyUnicode_GET_LENGTH(text);
        for (; i + 8 <= size; i += 8) {
            uint64_t word, del;
            memcpy(&word, at + i, 8);
            del = word ^ (ones * 0x7f);
            if (((word - ones * 0x20) | (del - ones)) & ~word & highs) {
                return 0;
            }
        }
        for (; i < size; i++) {
            if (at[i] < 0x20 || at[i] == 0x7f) {
                return 0;
            }
        }
        return 1;
    }

    static PyObject *areion_lines(PyObject *tail, PyObject *prefixes, PyObject *values) {
        Py_ssize_t i, count = PyTuple_GET_SIZE(values), size = PyUnicode_GET_LENGTH(tail);
        Py_UCS1 *out;
        PyObject *made;
        for (i = 0; i < count; i++) {
            size += PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(prefixes, i))
                    + PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(values, i)) + 2;
        }
        made = PyUnicode_New(size, 127);
        if (made == NULL) {
            return NULL;
        }
        out = PyUnicode_1BYTE_DATA(made);
        size = PyUnicode_GET_LENGTH(tail);
        memcpy(out, PyUnicode_1BYTE_DATA(tail), size);
        out += size;
        for (i = 0; i < count; i++) {
            PyObject *part = PyTuple_GET_ITEM(prefixes, i);
            size = PyUnicode_GET_LENGTH(part);
            memcpy(out, PyUnicode_1BYTE_DATA(part), size);
            out += size;
            part = PyTuple_GET_ITEM(values, i);
            size = PyUnicode_GET_LENGTH(part);
            memcpy(out, PyUnicode_1BYTE_DATA(part), size);
            out += size;
            *out++ = '\\r';
            *out++ = '\\n';
        }
        return made;
    }

    static int areion_is_ascii(PyObject *text) {
        return PyUnicode_IS_ASCII(text);
    }

    static int areion_all_visible(PyObject *values) {
        Py_ssize_t i;
        PyObject *part;
        for (i = 0; i < PyTuple_GET_SIZE(values); i++) {
            part = PyTuple_GET_ITEM(values, i);
            if (!PyUnicode_CheckExact(part) || !areion_visible_ascii(part)) {
                return 0;
            }
        }
        return 1;
    }

    static PyObject *areion_stamp_lines(PyObject *lines, PyObject *values) {
        Py_ssize_t i, j, size = 0;
        PyObject *parts, *part, *made;
        char *out;
        for (i = 0; i < PyTuple_GET_SIZE(lines); i++) {
            parts = PyTuple_GET_ITEM(lines, i);
            for (j = 0; j < PyTuple_GET_SIZE(parts); j++) {
                part = PyTuple_GET_ITEM(parts, j);
                if (PyLong_CheckExact(part)) {
                    part = PyTuple_GET_ITEM(values, PyLong_AsSsize_t(part));
                }
                size += PyUnicode_GET_LENGTH(part);
            }
            size += 2;
        }
        made = PyBytes_FromStringAndSize(NULL, size);
        if (made == NULL) {
            return NULL;
        }
        out = PyBytes_AS_STRING(made);
        for (i = 0; i < PyTuple_GET_SIZE(lines); i++) {
            parts = PyTuple_GET_ITEM(lines, i);
            for (j = 0; j < PyTuple_GET_SIZE(parts); j++) {
                part = PyTuple_GET_ITEM(parts, j);
                if (PyLong_CheckExact(part)) {
                    part = PyTuple_GET_ITEM(values, PyLong_AsSsize_t(part));
                }
                memcpy(out, PyUnicode_1BYTE_DATA(part), PyUnicode_GET_LENGTH(part));
                out += PyUnicode_GET_LENGTH(part);
            }
            *out++ = '\\r';
            *out++ = '\\n';
        }
        return made;
    }

    static PyObject *areion_fill(PyObject *templates, PyObject *values) {
        Py_ssize_t i, j, count = PyTuple_GET_SIZE(templates), size;
        PyObject *filled, *parts, *part, *made;
        Py_UCS1 *out;
        if (!areion_all_visible(values)) {
            Py_RETURN_NONE;
        }
        filled = PyTuple_New(count);
        if (filled == NULL) {
            return NULL;
        }
        for (i = 0; i < count; i++) {
            parts = PyTuple_GET_ITEM(templates, i);
            size = 0;
            for (j = 0; j < PyTuple_GET_SIZE(parts); j++) {
                part = PyTuple_GET_ITEM(parts, j);
                if (PyLong_CheckExact(part)) {
                    part = PyTuple_GET_ITEM(values, PyLong_AsSsize_t(part));
                }
                size += PyUnicode_GET_LENGTH(part);
            }
            if (PyTuple_GET_SIZE(parts) == 1 && PyLong_CheckExact(PyTuple_GET_ITEM(parts, 0))) {
                made = PyTuple_GET_ITEM(values, PyLong_AsSsize_t(PyTuple_GET_ITEM(parts, 0)));
                Py_INCREF(made);
            } else {
                made = PyUnicode_New(size, 127);
                if (made == NULL) {
                    Py_DECREF(filled);
                    return NULL;
                }
                out = PyUnicode_1BYTE_DATA(made);
                for (j = 0; j < PyTuple_GET_SIZE(parts); j++) {
                    part = PyTuple_GET_ITEM(parts, j);
                    if (PyLong_CheckExact(part)) {
                        part = PyTuple_GET_ITEM(values, PyLong_AsSsize_t(part));
                    }
                    memcpy(out, PyUnicode_1BYTE_DATA(part), PyUnicode_GET_LENGTH(part));
                    out += PyUnicode_GET_LENGTH(part);
                }
            }
            PyTuple_SET_ITEM(filled, i, made);
        }
        return filled;
    }
    """
    bint _areion_visible_ascii "areion_visible_ascii"(str text)
    bint _areion_all_visible "areion_all_visible"(tuple values)
    bytes _areion_stamp_lines "areion_stamp_lines"(tuple lines, tuple values)
    object _areion_fill "areion_fill"(tuple templates, tuple values)
    bint _areion_is_ascii "areion_is_ascii"(str text)
    str _areion_lines "areion_lines"(str tail, tuple prefixes, tuple values)
