# Cython declarations that augment _header_section.py (the only source) when it is compiled
# (setup.py; a pure-Python install never reads this file): HeaderSection becomes an extension
# type, so llhttp's call for each header field reaches C code, with the counts held as C
# integers. content_length stays an object: llhttp admits values past 64 bits.
import cython


cdef class HeaderSection:
    cdef public list fields
    cdef public Py_ssize_t size, host_count, max_url, max_bytes, max_fields
    cdef public object te, content_length
    cdef public bint expect, conditional
    cdef public bytes url, valid_host

    cpdef reset(self)

    cpdef on_url(self, bytes url)

    @cython.locals(fields=list, size=Py_ssize_t, lower=bytes, te=bytes)
    cpdef on_header(self, bytes name, bytes value)
