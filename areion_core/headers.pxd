# Cython declarations that augment headers.py (the only source) when it is compiled (setup.py;
# a pure-Python install never reads this file): the header fields become extension types,
# whose compiled methods reach the fields without a lookup and whose __setitem__ is a C slot.
# Arguments stay untyped where a caller may pass a subclass (a bytes subclass as a body).
import cython


cdef class _RequestHeaderFields:
    cdef public list _raw
    cdef public object _first, _all
    cdef public Py_ssize_t _scans


cdef class _ResponseHeaderFields:
    cdef public dict _d
    cdef public object _wire
    cdef public str _tail
    cdef public bint _own

    @cython.locals(new=_ResponseHeaderFields)
    cpdef copy(self)

    @cython.locals(d=dict, i=Py_ssize_t)
    cpdef bint _stamp(self, tuple names, list clean, tuple values, str lines) except -1


@cython.locals(template=_ResponseHeaderFields, new=_ResponseHeaderFields)
cpdef content_type_only(content_type)


@cython.locals(headers=_ResponseHeaderFields)
cpdef bytes encode_head(response, constant_headers, bint keep_alive, content_length, bint chunked=*, body=*)


@cython.locals(ch=Py_UCS4)
cpdef bint _visible_ascii(str text)


@cython.locals(size=Py_ssize_t)
cpdef raw_header(list raw, bytes name)


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
