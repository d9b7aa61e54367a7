/*
	ledger._ed25519_batch: Ed25519 batch verification (ed25519-donna's, third_party/), as one
	question: does the random linear combination of these signatures' equations vanish?

	For signatures i with P_i = [S_i]B - R_i - [H(R_i,A_i,M_i)]A_i, the check draws 128-bit z_i
	from the kernel and tests sum(z_i P_i) == 0 with one multi-scalar multiplication (Bos-Coster),
	about half the cost per signature of checking each alone. It answers only yes or no for the
	whole group: a yes means, but for a chance of 2**-128, that every P_i has no prime-order
	part, so every [8]P_i == 0, which is the cofactored equation ledger.keys' verifier (ZIP-215)
	accepts. A no proves nothing about any one signature: the caller checks them one by one.
	The rules the equation does not carry (S below the group order, no small-order key) are
	checked by the caller before asking.

	Unlike donna's ed25519_sign_open_batch, nothing here falls back to donna's own single
	verification (cofactorless, so not the chain's rule) and nothing but 4..64 signatures
	(donna's heap) are taken.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ed25519.c"

#include <errno.h>
#include <sys/random.h>

#define BATCH_MIN 4

/* The coefficients z_i, from the kernel's CSPRNG so no signer can predict them. 0 if the kernel
   cannot give them (no getrandom): the caller then proves nothing and checks each alone. */
static int
random_coefficients(unsigned char *out, size_t len) {
	while (len > 0) {
		ssize_t got = getrandom(out, len, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		out += got;
		len -= (size_t)got;
	}
	return 1;
}

static int
equations_vanish(const unsigned char **m, size_t *mlen, const unsigned char **pk, const unsigned char **RS, size_t n) {
	batch_heap ALIGN(16) batch;
	ge25519 ALIGN(16) p;
	bignum256modm *r_scalars;
	unsigned char hram[64];
	size_t i;

	/* z_i in scalars[n+1..2n] */
	if (!random_coefficients(&batch.r[0][0], n * 16))
		return 0;
	r_scalars = &batch.scalars[n + 1];
	for (i = 0; i < n; i++)
		expand256_modm(r_scalars[i], batch.r[i], 16);

	/* scalars[0] = sum z_i S_i (the basepoint's) */
	for (i = 0; i < n; i++) {
		expand256_modm(batch.scalars[i], RS[i] + 32, 32);
		mul256_modm(batch.scalars[i], batch.scalars[i], r_scalars[i]);
	}
	for (i = 1; i < n; i++)
		add256_modm(batch.scalars[0], batch.scalars[0], batch.scalars[i]);

	/* scalars[1..n] = z_i H(R_i, A_i, M_i) (the keys'); the R_i's are the z_i themselves */
	for (i = 0; i < n; i++) {
		ed25519_hram(hram, RS[i], pk[i], m[i], mlen[i]);
		expand256_modm(batch.scalars[i + 1], hram, 64);
		mul256_modm(batch.scalars[i + 1], batch.scalars[i + 1], r_scalars[i]);
	}

	/* points: B, -A_i, -R_i */
	batch.points[0] = ge25519_basepoint;
	for (i = 0; i < n; i++)
		if (!ge25519_unpack_negative_vartime(&batch.points[i + 1], pk[i]))
			return 0;
	for (i = 0; i < n; i++)
		if (!ge25519_unpack_negative_vartime(&batch.points[n + i + 1], RS[i]))
			return 0;

	ge25519_multi_scalarmult_vartime(&p, &batch, (n * 2) + 1);
	return ge25519_is_neutral_vartime(&p);
}

static int
bytes_items(PyObject *list, Py_ssize_t n, Py_ssize_t size, const unsigned char **out, size_t *lengths) {
	Py_ssize_t i;
	for (i = 0; i < n; i++) {
		PyObject *item = PyList_GET_ITEM(list, i);
		if (!PyBytes_CheckExact(item)) {
			PyErr_SetString(PyExc_TypeError, "every item must be bytes");
			return 0;
		}
		if (size >= 0 && PyBytes_GET_SIZE(item) != size) {
			PyErr_Format(PyExc_ValueError, "an item of %zd bytes, not %zd", PyBytes_GET_SIZE(item), size);
			return 0;
		}
		out[i] = (const unsigned char *)PyBytes_AS_STRING(item);
		if (lengths != NULL)
			lengths[i] = (size_t)PyBytes_GET_SIZE(item);
	}
	return 1;
}

PyDoc_STRVAR(holds_doc,
"holds(keys, messages, signatures) -> bool\n\n"
"Whether the batch equation of these 4 to 64 signatures holds (see the module's source).\n"
"Keys are 32 bytes, signatures 64; False proves nothing about any one of them.");

static PyObject *
holds(PyObject *self, PyObject *args) {
	PyObject *keys, *messages, *signatures;
	const unsigned char *pk[max_batch_size], *m[max_batch_size], *RS[max_batch_size];
	size_t mlen[max_batch_size];
	Py_ssize_t n;

	if (!PyArg_ParseTuple(args, "O!O!O!", &PyList_Type, &keys, &PyList_Type, &messages, &PyList_Type, &signatures))
		return NULL;
	n = PyList_GET_SIZE(keys);
	if (PyList_GET_SIZE(messages) != n || PyList_GET_SIZE(signatures) != n) {
		PyErr_SetString(PyExc_ValueError, "keys, messages and signatures differ in length");
		return NULL;
	}
	if (n < BATCH_MIN || n > max_batch_size) {
		PyErr_Format(PyExc_ValueError, "a batch is %d to %d signatures, not %zd", BATCH_MIN, max_batch_size, n);
		return NULL;
	}
	if (!bytes_items(keys, n, 32, pk, NULL) || !bytes_items(messages, n, -1, m, mlen)
	    || !bytes_items(signatures, n, 64, RS, NULL))
		return NULL;
	/* The lists and their bytes are only read, under the GIL: nothing can change them meanwhile. */
	return PyBool_FromLong(equations_vanish(m, mlen, pk, RS, (size_t)n));
}

static PyMethodDef methods[] = {
	{"holds", holds, METH_VARARGS, holds_doc},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "ledger._ed25519_batch",
	"Ed25519 batch verification (ed25519-donna): see holds().", -1, methods,
};

PyMODINIT_FUNC
PyInit__ed25519_batch(void) {
	PyObject *mod = PyModule_Create(&module);
	if (mod != NULL && (PyModule_AddIntConstant(mod, "BATCH_MIN", BATCH_MIN) < 0
	                    || PyModule_AddIntConstant(mod, "BATCH_MAX", max_batch_size) < 0)) {
		Py_DECREF(mod);
		return NULL;
	}
	return mod;
}
