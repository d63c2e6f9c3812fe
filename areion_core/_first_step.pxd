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


cdef extern from *:
    """
    /* A hook chain link's function: item 1 of the link, a tuple (a HookLink NamedTuple),
       read from the tuple itself; anything else indexed as Python would. */
    static PyObject *areion_function(PyObject *link) {
        PyObject *fn;
        PyObject *one;
        if (PyTuple_Check(link) && PyTuple_GET_SIZE(link) > 1) {
            fn = PyTuple_GET_ITEM(link, 1);
            Py_INCREF(fn);
            return fn;
        }
        one = PyLong_FromLong(1);
        if (one == NULL) {
            return NULL;
        }
        fn = PyObject_GetItem(link, one);
        Py_DECREF(one);
        return fn;
    }
    """
    object _areion_function "areion_function"(object link)
