# Cython declarations that augment access_log.py (the only source) when it is compiled
# (setup.py; a pure-Python install never reads this file). The classes become extension types
# whose attributes the compiled methods reach without a lookup, and the formats' arithmetic
# runs on C integers (a record's times are perf_counter_ns() readings, well within 64 bits).
import cython


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
