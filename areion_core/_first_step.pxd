# Cython declarations that augment _first_step.py (the only Python source) when it is compiled
# (setup.py; a pure-Python install never reads this file): first_step's compiled body, in C,
# because what it needs is CPython's PyIter_Send (3.10+), which returns a finished coroutine's
# value instead of raising StopIteration.


cdef extern from *:
    """
    /* Run `coro` to its first suspension. Returned: its value; NULL with its exception set;
       or, when it suspended, handed(coro, what it yielded). */
    static PyObject *areion_first_step(PyObject *coro, PyObject *handed) {
        PyObject *result = NULL;
        PyObject *rest;
        PySendResult status = PyIter_Send(coro, Py_None, &result);
        if (status == PYGEN_ERROR) {
            return NULL;
        }
        if (status == PYGEN_RETURN) {
            return result;
        }
        rest = PyObject_CallFunctionObjArgs(handed, coro, result, NULL);
        Py_DECREF(result);
        return rest;
    }
    """
    object _areion_first_step "areion_first_step"(object coro, object handed)
