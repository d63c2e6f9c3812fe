# Cython declarations that augment access_log.py (the only source) when it is compiled
# (setup.py; a pure-Python install never reads this file). The classes become extension types
# whose attributes the compiled methods reach without a lookup, and the formats' arithmetic
# runs on C integers (a record's times are perf_counter_ns() readings, well within 64 bits).
import cython

cdef bint _COMPILED


cdef extern from *:
    """
    #include "structmember.h"
    /* obj.<the slot descr describes>, read from obj's memory when obj's type is exactly the type
       whose __slots__ made descr (a member descriptor) and the slot is set; else (another type,
       an unset slot: AttributeError) the generic attribute lookup, as Python would. */
    static PyObject *areion_slot(PyObject *obj, PyObject *descr) {
        PyMemberDef *member;
        PyObject *value;
        if (Py_TYPE(descr) == &PyMemberDescr_Type && Py_TYPE(obj) == PyDescr_TYPE(descr)) {
            member = ((PyMemberDescrObject *)descr)->d_member;
            if (member->type == T_OBJECT_EX && !(member->flags & READONLY)) {
                value = *(PyObject **)((char *)obj + member->offset);
                if (value != NULL) {
                    Py_INCREF(value);
                    return value;
                }
            }
        }
        return PyObject_GetAttr(obj, PyDescr_NAME(descr));
    }
    """
    object _areion_slot "areion_slot"(object obj, object descr)


cdef object _peer(object request)
cdef tuple _record(object request, object client, object status, object nbytes, object started)


cdef class AccessLog:
    cdef public object destination, fd, format, max_pending
    cdef public bint _owns_fd, _whole
    cdef public object _format, _loop, _timer, _queue, _writer, _handed, _written, _dropped
    cdef public list _records


cdef class ProxiedAccessLog(AccessLog):
    cdef public object trusted
    cdef public dict _peers


@cython.locals(end=cython.longlong, started=cython.longlong, offset=cython.longlong, until=cython.longlong,
               second=cython.longlong, us=cython.longlong, ms=cython.longlong, status=cython.longlong,
               nbytes=cython.longlong, heads=dict, lines=list, num=tuple, num_sp=tuple, micros=tuple, plain=set)
cpdef bytes _text_lines(list records)


@cython.locals(end=cython.longlong, started=cython.longlong, offset=cython.longlong, until=cython.longlong,
               second=cython.longlong, base=cython.longlong, us=cython.longlong, ms=cython.longlong,
               status=cython.longlong, nbytes=cython.longlong, lines=list, num=tuple, time_ms=tuple,
               statuses=tuple, micros=tuple, paths=dict, clients=dict)
cpdef bytes _json_lines(list records)
